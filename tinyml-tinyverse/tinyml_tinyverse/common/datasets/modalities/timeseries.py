"""The time-series modality: recordings of sensor samples (``timeseries_dataset``)."""

from __future__ import annotations

from ...augmenters import build_augmenter
from ..data_config import DATA_CONFIG_DEFAULTS, DATA_CONFIG_HELP, TASKS, validate_data_config
from ..timeseries_dataset import load_split, model_input_kwargs, prepare_dataset
from . import DATA_MODALITY_REGISTRY, DataModality


def _prepare(input_data_path, output_dir, task, *, config=None, **kwargs):
    return prepare_dataset(input_data_path, output_dir, task, data_config=config, **kwargs)


def _augmenter(config, seed, stats=None):
    """The ``augmentation`` of a validated data config (checked when it was validated)."""
    aug = config.get("augmentation")
    return build_augmenter(aug, seed) if aug else None


DATA_MODALITY_REGISTRY.register(
    "timeseries",
    DataModality(
        name="timeseries",
        tasks=TASKS,
        config_defaults=DATA_CONFIG_DEFAULTS,
        config_help=DATA_CONFIG_HELP,
        validate_config=validate_data_config,
        prepare_dataset=_prepare,
        load_split=load_split,
        model_input_kwargs=model_input_kwargs,
        build_augmenter=_augmenter,
        description="sensor recordings: classes/<label>/*.csv or files/*.csv (docs/data_formats.md)",
    ),
)
