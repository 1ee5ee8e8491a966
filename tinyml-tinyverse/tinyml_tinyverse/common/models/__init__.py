"""Models built from a layer spec, the model zoo, NPU rules and model summaries.

``MODEL_REGISTRY`` maps a model name to its class. To add a model: import its class here and add it
to the registry (or call ``MODEL_REGISTRY.register("NAME", cls)`` at run time); see
``docs/adding_custom_models.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import nn

from ..errors import ModelError
from ..registry import Registry
from . import anomalydetection, classification, forecasting, keyword_spotting, regression, vision
from .generic_model_spec import GenericModelWithSpec, SpecModel, check_config_keys
from .layers import LAYER_REGISTRY
from .model_config import load_model_config

MODEL_REGISTRY = Registry("model")
MODEL_REGISTRY.update(classification.MODELS)
MODEL_REGISTRY.update(regression.MODELS)
MODEL_REGISTRY.update(anomalydetection.MODELS)
MODEL_REGISTRY.update(forecasting.MODELS)
MODEL_REGISTRY.update(vision.MODELS)  # issue 12: small images
MODEL_REGISTRY.update(keyword_spotting.MODELS)  # issue 12: keyword spotting
MODEL_REGISTRY["SpecModel"] = SpecModel

TASKS = ("classification", "regression", "anomalydetection", "forecasting")


def get_model(name: str, config: Mapping[str, Any] | str | Path | None = None, **kwargs: Any) -> nn.Module:
    """Build ``MODEL_REGISTRY[name]``; ``config`` (dict or model_config YAML path) overrides ``kwargs``."""
    cls = MODEL_REGISTRY[name]
    config = load_model_config(config, name) if config is not None else {}
    check_config_keys(cls, kwargs, where=f"get_model({name!r}) arguments")
    return cls(config, **{**kwargs, **config})


def model_task(name: str) -> str:
    """The task of a registered model: classification, regression, anomalydetection or forecasting."""
    task = getattr(MODEL_REGISTRY[name], "task", None)
    if task not in TASKS:
        raise ModelError(
            f"model {name!r} ({MODEL_REGISTRY[name].__name__}) has task={task!r}; "
            f"give its class an attribute task = one of {', '.join(TASKS)}"
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
    "get_model",
    "is_npu_model",
    "load_model_config",
    "model_task",
]
