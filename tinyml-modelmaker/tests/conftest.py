"""Shared helpers of the modelmaker tests: a valid config written to disk."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGE_ROOT = Path(__file__).resolve().parents[1]


def write_yaml(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def data_folder(tmp_path: Path) -> Path:
    """An (unchecked) classification data folder: the config stage only checks it exists."""
    folder = tmp_path / "my_data"
    (folder / "classes" / "a").mkdir(parents=True)
    return folder


@pytest.fixture
def base_config(tmp_path: Path, data_folder: Path) -> dict:
    return {
        "common": {
            "task_type": "generic_timeseries_classification",
            "target_device": "F28P55",
            "projects_path": str(tmp_path / "projects"),
        },
        "dataset": {"input_data_path": str(data_folder)},
        "training": {"model_name": "CLS_4k_NPU"},
    }
