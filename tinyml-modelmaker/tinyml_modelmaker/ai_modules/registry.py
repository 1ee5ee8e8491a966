"""Modalities found by name, without a central list.

``common.target_module: vision`` imports ``tinyml_modelmaker.ai_modules.vision``; a new modality is
a new sub-package of ``ai_modules`` with the parts of :data:`PARTS` (``docs/adding_modalities.md``).
A package that lacks a part, or a part that lacks a name the rest of the modelmaker reads, is a
ConfigError naming it. Torch-free.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from pathlib import Path
from types import ModuleType

from tinyml_tinyverse.common.errors import ConfigError
from tinyml_tinyverse.common.registry import unknown_name_message

from .. import ai_modules

# part -> the names it must define (the runner is imported only when a run starts: it may load torch)
PARTS = {
    "constants": ("TARGET_MODULE", "TASK_TYPES"),
    "descriptions": ("TASK_DESCRIPTIONS", "SECTION_DESCRIPTIONS", "PARAM_DESCRIPTIONS"),
    "params": ("SCHEMA", "FREE_SECTIONS", "validate"),
    "runner": ("run",),
}
_CONFIG_PARTS = ("constants", "descriptions", "params")


def target_module_names() -> list[str]:
    """Names of the modalities present (sub-packages of ``tinyml_modelmaker.ai_modules``)."""
    return sorted(
        i.name for i in pkgutil.iter_modules(ai_modules.__path__) if i.ispkg and not i.name.startswith("_")
    )


def _missing_part_error(package: ModuleType, part: str, what: str) -> ConfigError:
    folder = Path(package.__file__).parent
    needs = ", ".join(f"{p}.py ({', '.join(names)})" for p, names in PARTS.items())
    return ConfigError(
        f"target_module {package.__name__.rsplit('.', 1)[-1]!r} ({folder}) {what}; a modality package needs "
        f"{needs} (see docs/adding_modalities.md)"
    )


def _import_part(package: ModuleType, part: str) -> ModuleType:
    name = f"{package.__name__}.{part}"
    if importlib.util.find_spec(name) is None:
        raise _missing_part_error(package, part, f"has no part {part!r} ({part}.py)")
    module = importlib.import_module(name)
    missing = [n for n in PARTS[part] if not hasattr(module, n)]
    if missing:
        raise _missing_part_error(package, part, f"part {part}.py defines no {', '.join(missing)}")
    return module


def get_target_module(name: str) -> ModuleType:
    """Import the modality package ``name`` and its torch-free parts; unknown names list the known ones,
    a missing part is named."""
    known = target_module_names()
    if not isinstance(name, str) or name not in known:
        raise ConfigError(
            unknown_name_message("target_module", str(name), known, where="common.target_module")
        )
    package = importlib.import_module(f"{ai_modules.__name__}.{name}")
    for part in _CONFIG_PARTS:
        _import_part(package, part)
    if importlib.util.find_spec(f"{package.__name__}.runner") is None:  # found now, imported by get_runner
        raise _missing_part_error(package, "runner", "has no part 'runner' (runner.py)")
    return package


def get_runner(name: str) -> ModuleType:
    """The ``runner`` module of modality ``name`` (may import heavier code than the config parts)."""
    return _import_part(get_target_module(name), "runner")


def config_constants(config: dict) -> ModuleType:
    """The ``constants`` part of the modality a config names (``common.target_module``; default timeseries)."""
    return get_target_module(config["common"].get("target_module", "timeseries")).constants


def config_task(config: dict) -> str:
    """The tinyverse task (``classification``, ...) of a resolved config's ``common.task_type``."""
    return config_constants(config).TASK_TYPES[config["common"]["task_type"]]


def config_data_modality(config: dict) -> str:
    """The tinyverse data modality (``timeseries``, ``vision``, ``audio``) a resolved config's data is
    read with: the modality's ``constants.DATA_MODALITY``, else its own name."""
    constants = config_constants(config)
    return getattr(constants, "DATA_MODALITY", constants.TARGET_MODULE)
