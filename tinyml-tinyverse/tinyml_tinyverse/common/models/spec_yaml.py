"""Write a layer spec to YAML and read it back, so a model can be defined without Python.

File layout::

    task: classification          # optional, used by SpecModel
    model_spec:
      conv1: {type: ConvBNReLULayer, out_channels: 4, kernel_size: [5, 1]}
      fc: {type: LinearLayer, out_features: $num_classes}
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from ..errors import ModelError
from ..safe_yaml import load_yaml_file
from ..utils.py_utils import DictPlus


def _plain(value: Any) -> Any:
    """Tuples -> lists and mappings -> dicts, so ``yaml.safe_dump`` writes plain YAML."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def save_spec_yaml(layers: Mapping[str, Any], path: str | Path, task: str | None = None) -> Path:
    """Write ``layers`` (name -> dict(type=...)) to ``path`` (atomically); return the path."""
    path = Path(path)
    doc: dict[str, Any] = {}
    if task:
        doc["task"] = task
    doc["model_spec"] = _plain(layers)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(yaml.safe_dump(doc, sort_keys=False, default_flow_style=None))
    os.replace(tmp, path)
    return path


def read_spec_file(path: str | Path) -> dict[str, Any]:
    """Read a spec YAML into ``{'task': ..., 'model_spec': DictPlus}``, with clear errors."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(
            f"spec file {str(path)!r} does not exist; write one with save_spec_yaml(layers, path)"
        )
    doc = load_yaml_file(path, what="spec file", error=ModelError)
    if isinstance(doc, Mapping) and "model_spec" in doc:
        layers = doc["model_spec"]
    else:
        doc, layers = {}, doc
    if not isinstance(layers, Mapping) or not layers:
        raise ModelError(f"spec file {str(path)!r}: 'model_spec' must map layer names to dict(type=...)")
    spec = DictPlus()
    for name, entry in layers.items():
        if not isinstance(entry, Mapping) or "type" not in entry:
            raise ModelError(f"spec file {str(path)!r}: layer {name!r} needs a mapping with a 'type' key")
        spec += {str(name): dict(entry)}
    out = {k: v for k, v in doc.items() if k != "model_spec"}
    out["model_spec"] = spec
    return out


def load_spec_yaml(path: str | Path) -> DictPlus:
    """The layers of a spec YAML as a DictPlus (name -> dict(type=..., ...)), in file order."""
    return read_spec_file(path)["model_spec"]
