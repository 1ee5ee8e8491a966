"""Time-series datasets: formats, checks, splits, processing, caching, generators and reports.

Public API::

    from tinyml_tinyverse.common.datasets import (DATA_CONFIG_DEFAULTS, DATA_CONFIG_HELP,
        validate_data_config, prepare_dataset, load_split, model_input_kwargs,
        write_user_input_config_h, SplitData, DatasetInfo)
"""

from .data_config import DATA_CONFIG_DEFAULTS, DATA_CONFIG_HELP, TASKS, validate_data_config
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
    "TASKS",
    "DatasetInfo",
    "SplitData",
    "load_split",
    "model_input_kwargs",
    "prepare_dataset",
    "read_dataset_info",
    "validate_data_config",
    "write_user_input_config_h",
]
