"""The data config and a prepared dataset's splits as the reference scripts read them; no torch import
(the testing script runs without it)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from tinyml_tinyverse.common.errors import ConfigError
from tinyml_tinyverse.common.safe_yaml import load_yaml_file
from tinyml_tinyverse.common.task_names import get_task_record


def data_modality(args: argparse.Namespace):
    """The data modality (time series, vision, audio) ``--dataset-dir`` was prepared for (issue 12)."""
    from tinyml_tinyverse.common.datasets.modalities import dataset_modality

    return dataset_modality(args.dataset_dir)


def read_data_config(args: argparse.Namespace, task: str) -> dict:
    """The validated data config from ``--data-config`` (plus ``--horizon`` for forecasting), checked
    by the modality of ``--dataset-dir``."""
    cfg: dict = {}
    if args.data_config:
        path = Path(args.data_config)
        if not path.is_file():
            raise ConfigError(f"--data-config {path} does not exist")
        cfg = load_yaml_file(path, what="--data-config") or {}
        if not isinstance(cfg, dict):
            raise ConfigError(
                f"--data-config {path} must hold a mapping of data_config keys, not {type(cfg).__name__}"
            )
    if get_task_record(task).needs_horizon and args.horizon and not cfg.get("horizon"):
        cfg["horizon"] = args.horizon
    from tinyml_tinyverse.common.datasets import read_dataset_info
    from tinyml_tinyverse.common.datasets.data_derived import with_inferred

    # keys the config leaves to the data (frame size, normalisation) as the dataset stage found them
    inferred = read_dataset_info(args.dataset_dir).inferred
    return data_modality(args).validate_config(with_inferred(cfg, inferred))


def with_target_names(split: Any, target_columns: list[str]) -> Any:
    """Regression / forecasting splits named after their target columns (for plots and model_aux.h)."""
    y = np.asarray(split.y)
    n_out = y.shape[-1] if y.ndim >= 2 else 0
    if split.class_names or not target_columns or len(target_columns) != n_out:
        return split
    return dataclasses.replace(split, class_names=[str(c) for c in target_columns])
