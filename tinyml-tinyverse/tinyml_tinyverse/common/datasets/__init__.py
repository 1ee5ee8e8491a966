"""Time-series datasets: formats, checks, splits, processing, caching, generators and reports.

Public API (docs/data_formats.md, docs/feature_extraction.md)::

    DATA_CONFIG_DEFAULTS, DATA_CONFIG_HELP               # every data config key, its default and meaning
    validate_data_config(cfg) -> dict                    # defaults + preset + checks (ConfigError)
    prepare_dataset(input_data_path, output_dir, task, *, split_type="amongst_files",
                    split_factor=(0.6, 0.2, 0.2), seed=42, data_config=None, plots=True,
                    limits=InputLimits()) -> DatasetInfo   # zip limits, links out of the data folder
    read_dataset_info(dataset_dir) -> DatasetInfo
    load_split(dataset_dir, split, task, data_config, *, cache_dir=None, training=None, seed=0) -> SplitData
    model_input_kwargs(data_config, dataset_dir=None) -> dict(input_features=H | (H, W), variables=C)
    write_user_input_config_h(data_config, path, stats=None) -> Path
    get_data_modality(name) -> DataModality              # timeseries, vision, audio (docs/vision_audio.md)
    dataset_modality(dataset_dir) -> DataModality        # the one a prepared dataset was made for

Command lines: ``python -m tinyml_tinyverse.common.datasets`` (check a dataset),
``...datasets.generators`` (generated data), ``...datasets.ucr_converter`` (UCR/UEA files).
"""

from ..input_limits import InputLimits
from .data_config import DATA_CONFIG_DEFAULTS, DATA_CONFIG_HELP, TASKS, validate_data_config
from .modalities import DATA_MODALITY_REGISTRY, DataModality, dataset_modality, get_data_modality
from .timeseries_dataset import (
    DatasetInfo,
    SplitData,
    load_split,
    model_input_kwargs,
    prepare_dataset,
    read_dataset_info,
)
from .user_input_config import write_user_input_config_h

__all__ = [
    "DATA_CONFIG_DEFAULTS",
    "DATA_CONFIG_HELP",
    "DATA_MODALITY_REGISTRY",
    "DataModality",
    "dataset_modality",
    "get_data_modality",
    "TASKS",
    "DatasetInfo",
    "InputLimits",
    "SplitData",
    "load_split",
    "model_input_kwargs",
    "prepare_dataset",
    "read_dataset_info",
    "validate_data_config",
    "write_user_input_config_h",
]
