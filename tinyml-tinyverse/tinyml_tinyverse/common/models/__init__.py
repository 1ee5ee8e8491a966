"""Models built from a layer spec, the model zoo, NPU rules and model summaries.

``MODEL_REGISTRY`` maps a model name to its class. To add a model without editing this package:
``MODEL_REGISTRY.register("NAME", cls)`` at run time, ``import_model_module("my_models.py")``
(``training.model_module`` of a project YAML), or an installed package's entry point in the group
``tinyml_tinyverse.models``; see ``docs/adding_custom_models.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import nn

from ..errors import ModelError
from ..registry import Registry
from ..task_names import MODEL_PREFIXES, TASKS, task_from_name
from . import anomalydetection, classification, forecasting, keyword_spotting, regression, vision
from .generic_model_spec import GenericModelWithSpec, SpecModel, check_config_keys
from .layers import LAYER_REGISTRY
from .model_config import load_model_config
from .user_models import ENTRY_POINT_GROUP, REGISTER_HINT, import_model_module, register_module_models

MODEL_REGISTRY = Registry(
    "model", entry_points=ENTRY_POINT_GROUP, load_module=register_module_models, hint=REGISTER_HINT
)
MODEL_REGISTRY.update(classification.MODELS)
MODEL_REGISTRY.update(regression.MODELS)
MODEL_REGISTRY.update(anomalydetection.MODELS)
MODEL_REGISTRY.update(forecasting.MODELS)
MODEL_REGISTRY.update(vision.MODELS)  # issue 12: small images
MODEL_REGISTRY.update(keyword_spotting.MODELS)  # issue 12: keyword spotting
MODEL_REGISTRY["SpecModel"] = SpecModel


def get_model(name: str, config: Mapping[str, Any] | str | Path | None = None, **kwargs: Any) -> nn.Module:
    """Build ``MODEL_REGISTRY[name]``; ``config`` (dict or model_config YAML path) overrides ``kwargs``."""
    cls = MODEL_REGISTRY[name]
    config = load_model_config(config, name) if config is not None else {}
    check_config_keys(cls, kwargs, where=f"get_model({name!r}) arguments")
    return cls(config, **{**kwargs, **config})


def declared_task(name: str) -> str | None:
    """The task a registered model declares (class attribute ``task``, else its name's prefix), or None."""
    cls = MODEL_REGISTRY[name]
    task = getattr(cls, "task", None) or task_from_name(name) or task_from_name(cls.__name__)
    return task if task in TASKS else None


def model_task(name: str) -> str:
    """The task of a registered model: its class attribute ``task``, else the prefix of its name
    (``CLS_`` classification, ``REGR_`` regression, ``AD_`` anomalydetection, ``FCST_`` forecasting)."""
    cls = MODEL_REGISTRY[name]
    task = declared_task(name)
    if task is None:
        prefixes = ", ".join(f"{p} ({t})" for t, p in MODEL_PREFIXES.items())
        raise ModelError(
            f"model {name!r} ({cls.__name__}) has task={getattr(cls, 'task', None)!r} and its name has no task prefix; "
            f"name it with one of {prefixes} or give its class an attribute task = one of {', '.join(TASKS)}"
        )
    return task


def is_npu_model(name: str) -> bool:
    """True for models meant for the NPU (name ends with ``_NPU``)."""
    return name.endswith("_NPU")


__all__ = [
    "LAYER_REGISTRY",
    "MODEL_REGISTRY",
    "TASKS",
    "GenericModelWithSpec",
    "SpecModel",
    "declared_task",
    "get_model",
    "import_model_module",
    "is_npu_model",
    "load_model_config",
    "model_task",
]
