"""The model is checked against the task and the target device in seconds, before any data work."""

from __future__ import annotations

import sys

import pytest
from conftest import timed_run, write_yaml
from tinyml_modelmaker.run_tinyml_modelmaker import main


@pytest.fixture
def cfg(tmp_path) -> dict:
    return {
        "common": {
            "task_type": "generic_timeseries_classification",
            "target_device": "F28P55",
            "projects_path": str(tmp_path / "projects"),
            "run_name": "r",
        },
        "dataset": {"dataset_name": "motor", "input_data_path": "generated://motor_fault"},
        "data_processing_feature_extraction": {
            "feature_extraction_name": "Generic_256Input_FFTBIN_16Feature_8Frame",
            "variables": 3,
        },
        "training": {"model_name": "CLS_4k_NPU"},
    }


def _fails(tmp_path, cfg: dict, capsys) -> str:
    path = write_yaml(tmp_path / "cfg.yaml", cfg)
    assert main([str(path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    # rejected before any data work and before the run folder exists (so the same run_name can be retried)
    assert not (tmp_path / "projects" / "motor").exists()
    return err


def test_too_large_for_flash(tmp_path, cfg, capsys):
    cfg["common"]["target_device"] = "MSPM0L1306"  # 64 KiB flash
    cfg["training"].update(model_name="CLS_55k_NPU", quantization=0)
    err = _fails(tmp_path, cfg, capsys)
    assert "CLS_55k_NPU" in err and "64 KiB flash of MSPM0L1306" in err and "KiB of 32-bit weights" in err
    assert "training.quantization: 1 or 2" in err


def test_unknown_model_gets_closest_names(tmp_path, cfg, capsys):
    cfg["training"]["model_name"] = "CLS_4k_NPX"
    err = _fails(tmp_path, cfg, capsys)
    assert "training.model_name" in err and "'CLS_4k_NPU'" in err


def test_custom_named_model_of_another_task(tmp_path, cfg, capsys):
    cfg["common"]["task_type"] = "generic_timeseries_regression"
    cfg["training"]["model_name"] = (
        "TimeSeries_Generic_13k_t"  # a classification model without the CLS_ prefix
    )
    err = _fails(tmp_path, cfg, capsys)
    assert "is a classification model, not regression" in err and "REGR_1k_NPU" in err


def test_model_checked_within_seconds(tmp_path, cfg):
    """The whole command (torch import included) rejects an unfit model in a few seconds."""
    cfg["common"]["target_device"] = "MSPM0L1306"
    cfg["training"].update(model_name="CLS_55k_NPU", quantization=0)
    path = write_yaml(tmp_path / "cfg.yaml", cfg)
    proc, wall, cpu = timed_run([sys.executable, "-m", "tinyml_modelmaker.run_tinyml_modelmaker", str(path)])
    assert proc.returncode == 2 and "MSPM0L1306" in proc.stderr
    assert cpu < 6, f"took {cpu:.1f} s CPU, {wall:.1f} s wall"
