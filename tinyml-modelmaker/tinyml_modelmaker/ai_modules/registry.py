"""Modalities found by name, without a central list.

``common.target_module: timeseries`` imports ``tinyml_modelmaker.ai_modules.timeseries``; a new
modality is a new sub-package of ``ai_modules`` with ``constants.py``, ``descriptions.py``,
``params.py`` and ``runner.py``. Torch-free.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

from tinyml_tinyverse.common.errors import ConfigError
from tinyml_tinyverse.common.registry import unknown_name_message

from .. import ai_modules

_PARTS = ("constants", "descriptions", "params")


def target_module_names() -> list[str]:
    """Names of the modalities present (sub-packages of ``tinyml_modelmaker.ai_modules``)."""
    return sorted(
        i.name for i in pkgutil.iter_modules(ai_modules.__path__) if i.ispkg and not i.name.startswith("_")
    )


def get_target_module(name: str) -> ModuleType:
    """Import the modality package ``name`` and its torch-free parts; unknown names list the known ones."""
    known = target_module_names()
    if not isinstance(name, str) or name not in known:
        raise ConfigError(
            unknown_name_message("target_module", str(name), known, where="common.target_module")
        )
    package = importlib.import_module(f"{ai_modules.__name__}.{name}")
    for part in _PARTS:
        importlib.import_module(f"{package.__name__}.{part}")
    return package


def get_runner(name: str) -> ModuleType:
    """The ``runner`` module of modality ``name`` (may import heavier code than the config parts)."""
    package = get_target_module(name)
    return importlib.import_module(f"{package.__name__}.runner")
