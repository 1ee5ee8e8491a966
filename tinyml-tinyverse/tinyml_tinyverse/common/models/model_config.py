"""model_config YAMLs: override a model's ``__init__`` arguments (e.g. ``misc/TimeSeries_Generic_x_t.yaml``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ModelError
from ..safe_yaml import load_yaml_file
from .generic_model_spec import check_config_keys


def read_model_config(path_or_dict: str | Path | Mapping[str, Any] | None) -> tuple[dict[str, Any], str]:
    """The config as a dict plus a description of where it came from (for error messages)."""
    if path_or_dict is None:
        return {}, "model config"
    if isinstance(path_or_dict, Mapping):
        return dict(path_or_dict), "model config"
    path = Path(path_or_dict)
    if not path.is_file():
        raise ModelError(f"model_config file {str(path)!r} does not exist; fix training.model_config")
    doc = load_yaml_file(path, what="model_config file", error=ModelError)
    if doc is None:
        return {}, f"model_config file {str(path)!r}"
    if not isinstance(doc, Mapping):
        raise ModelError(f"model_config file {str(path)!r} must hold a mapping of argument: value")
    return dict(doc), f"model_config file {str(path)!r}"


def load_model_config(path_or_dict: str | Path | Mapping[str, Any] | None, model_name: str) -> dict[str, Any]:
    """Read a model_config (YAML path or dict) and check its keys against ``model_name``'s ``__init__``."""
    from . import MODEL_REGISTRY

    config, where = read_model_config(path_or_dict)
    check_config_keys(MODEL_REGISTRY[model_name], config, where=where)
    if isinstance(config.get("input_features"), list):
        config["input_features"] = tuple(config["input_features"])
    return config
