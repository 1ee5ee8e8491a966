"""Data modalities (time series, images, sound): how a dataset of each kind is read, found by name.

A :class:`DataModality` bundles what the layers above need to know about one kind of data: its
config (``validate_config``, ``config_defaults``, ``config_help``), how a user's folder becomes a
checked, split dataset (``prepare_dataset``), how a split becomes model-ready arrays
(``load_split``), the model input (``model_input_kwargs``), the training-time augmentation
(``build_augmenter``) and what the compiler needs to build and check the C (``compile_inputs``).

``prepare_dataset`` records the modality in ``dataset_info.yaml``; the training and testing
references read it back (:func:`dataset_modality`) and call the modality's functions, so a new kind
of data is a module that does the work and one file in this package that registers it.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ...errors import DataError
from ...registry import Registry
from ..timeseries_dataset import INFO_FILE  # written by every modality's prepare_dataset

DEFAULT_MODALITY = "timeseries"  # datasets prepared before modalities existed


@dataclass(frozen=True)
class CompileInputs:
    """What ``compile_model`` needs beyond the model: test vectors (``x`` model inputs, ``y``
    labels, optional ``raw`` windows and a ``recording`` for the on-chip front end), the data config
    of the front end (None: the C takes model inputs) and the train statistics it uses."""

    test_vectors: dict[str, Any]
    data_config: dict[str, Any] | None = None
    feature_stats: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DataModality:
    """The functions of one kind of data (see the module docstring). Signatures:

    - ``validate_config(config: dict | None) -> dict`` (defaults filled, checked; ConfigError)
    - ``prepare_dataset(input_data_path, output_dir, task, *, split_type, split_factor, seed, config,
      plots, limits) -> DatasetInfo``
    - ``load_split(dataset_dir, split, task, config, *, cache_dir=None, training=None, seed=0) -> SplitData``
    - ``model_input_kwargs(config, dataset_dir=None) -> dict(input_features=..., variables=...)``
    - ``build_augmenter(config, seed, stats) -> callable(x (N, C, H, W)) -> x, or None``
    - ``compile_inputs(dataset_dir, config, *, split="test") -> CompileInputs`` (None: the caller
      builds the test vectors itself, as the time-series compilation stage does)
    """

    name: str
    tasks: tuple[str, ...]
    config_defaults: Mapping[str, Any]
    config_help: Mapping[str, str]
    validate_config: Callable[..., dict]
    prepare_dataset: Callable[..., Any]
    load_split: Callable[..., Any]
    model_input_kwargs: Callable[..., dict]
    build_augmenter: Callable[..., Any]
    compile_inputs: Callable[..., CompileInputs] | None = None
    description: str = ""


DATA_MODALITY_REGISTRY = Registry("data modality", locations=[__name__])


def get_data_modality(name: str) -> DataModality:
    """The registered modality ``name`` (``timeseries``, ``vision``, ``audio``); unknown: an error
    listing the known ones. A modality of this package is imported alone (images and sound load
    Pillow and scipy.signal, which a time-series config check does without)."""
    if isinstance(name, str) and name.isidentifier() and not name.startswith("_"):
        if importlib.util.find_spec(f"{__name__}.{name}") is not None:
            importlib.import_module(f"{__name__}.{name}")
    return DATA_MODALITY_REGISTRY[name]


def dataset_modality(dataset_dir: str | Path) -> DataModality:
    """The modality a prepared dataset was made for (``dataset_info.yaml``'s ``modality``)."""
    path = Path(dataset_dir) / INFO_FILE
    if not path.is_file():
        raise DataError(f"{dataset_dir}: no {INFO_FILE}; run the dataset stage (prepare_dataset) first")
    meta = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return get_data_modality(str(meta.get("modality") or DEFAULT_MODALITY))


__all__ = [
    "DATA_MODALITY_REGISTRY",
    "INFO_FILE",
    "CompileInputs",
    "DataModality",
    "dataset_modality",
    "get_data_modality",
]
