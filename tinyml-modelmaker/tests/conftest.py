"""Shared helpers of the modelmaker tests: a valid config written to disk."""

from __future__ import annotations

import os
import resource
import subprocess
import time
from pathlib import Path

import pytest
import yaml

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGE_ROOT = Path(__file__).resolve().parents[1]


def timed_run(cmd: list[str]) -> tuple[subprocess.CompletedProcess, float, float]:
    """Run ``cmd``; return the result, its wall time and its CPU time (user + system).

    The limit is checked on CPU time, which does not grow when other jobs share the cores (as on CI);
    the wall time is checked with head-room for that sharing.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=PACKAGE_ROOT)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return proc, wall, cpu


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
