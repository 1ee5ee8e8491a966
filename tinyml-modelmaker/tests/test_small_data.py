"""Small real-style data at defaults: UCR-like fixed-length series through the converter and a YAML naming
only the data, the task and the model; the window comes from the data, the val split only chooses the
epoch count (refit on train + val), and the run says how training ended and which int8 figure is the C's."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from conftest import write_yaml
from tinyml_modelmaker.run_tinyml_modelmaker import main
from tinyml_tinyverse.common.datasets.ucr_converter import convert_ucr


def write_ts(path, n: int, length: int, rng) -> None:
    """Two classes of fixed-length series: a bump early or late."""
    t = np.arange(length)
    rows = []
    for i in range(n):
        label = "early" if i % 2 else "late"
        centre = length * (0.3 if label == "early" else 0.7) + rng.normal(0, 1)
        x = np.exp(-0.5 * ((t - centre) / 2.0) ** 2) + rng.normal(0, 0.1, length)
        rows.append(",".join(f"{v:.4f}" for v in x) + f":{label}")
    path.write_text("@problemName Bumps\n@classLabel true early late\n@data\n" + "\n".join(rows) + "\n")


@pytest.fixture
def bumps(tmp_path):
    rng = np.random.default_rng(0)
    write_ts(tmp_path / "Bumps_TRAIN.ts", 24, 24, rng)
    write_ts(tmp_path / "Bumps_TEST.ts", 16, 24, rng)
    return convert_ucr(tmp_path / "Bumps_TRAIN.ts", tmp_path / "bumps")


def test_fixed_length_series_train_at_defaults_with_a_refit(tmp_path, bumps, capsys):
    config = {
        "common": {"task_type": "generic_timeseries_classification", "projects_path": str(tmp_path / "p")},
        "dataset": {"input_data_path": str(bumps)},
        "training": {"model_name": "CLS_1k_NPU"},
        "compilation": {"enable": False},
    }
    path = write_yaml(tmp_path / "bumps.yaml", config)
    # min_steps lowered from its default only to keep the test short
    assert main([str(path), "--run-name", "r1", "--set", "training.min_steps=120"]) == 0
    out = capsys.readouterr().out
    assert "every recording has 24 samples: frame_size 24, one window per recording" in out
    assert "training for up to 60 epochs" in out  # 18 train windows, batch 8: 2 steps per epoch
    run = tmp_path / "p" / "bumps" / "run" / "r1"
    assert (
        yaml.safe_load((run / "config_resolved.yaml").read_text())["data_processing_feature_extraction"][
            "frame_size"
        ]
        == 24
    )
    assert yaml.safe_load((run / "data_config.yaml").read_text())["frame_size"] == 24
    summary = yaml.safe_load((run / "run_summary.yaml").read_text())
    training = summary["training"]
    assert training["input_shape"] == [1, 24, 1] and training["best_epoch_by"] == "val loss"
    assert training["refit"] == {"epochs": 60, "windows": 24}  # min_steps: the whole budget, on train + val
    assert training["stop_reason"] == "ran all 60 epochs"
    assert training["test"]["accuracy"] >= 0.9 and training["quantization"]["test"]["accuracy"] >= 0.9
    assert training["quantization"]["qat_data"] == "train + val (refit)"  # QAT on what the float model saw
    assert "training: ran all 60 epochs; best epoch" in out and "refit on train + val" in out
    probe = training["augmentation_probe"]  # the first phase again with random shifts, kept if val loss says
    kept = "with" if probe["kept"] else "without"
    assert (
        f"{kept} random shifts (val loss {probe['val_loss_with']:.3g} with" in out and "for 60 epochs" in out
    )
    assert "int8 integer reference = C (test)" in out and "int8 QDQ ONNX, onnxruntime (test)" in out
    assert "test, int8 (integer reference = the C)" in out  # the training stage's own figure
    assert "testing: the int8 QDQ ONNX in onnxruntime (" in out and "the one the C reproduces)" in out
    log = [
        line.split(",") for line in (run / "training" / "base" / "training_log.csv").read_text().splitlines()
    ]
    assert log[0][:2] == ["epoch", "phase"] and sum(row[1] == "refit" for row in log) == 60
    assert sum(row[1] == "probe" for row in log) == 60

    # resuming the finished run: the frame size found in the data is not taken for a changed key
    assert main([str(path), "--run-name", "r1", "--resume", "--set", "training.min_steps=120"]) == 0


def test_given_epochs_are_kept_and_refit_off_keeps_the_best_epoch(tmp_path, bumps, capsys):
    config = {
        "common": {"task_type": "generic_timeseries_classification", "projects_path": str(tmp_path / "p")},
        "dataset": {"input_data_path": str(bumps)},
        "data_processing_feature_extraction": {"frame_size": 24},
        "training": {
            "model_name": "CLS_1k_NPU",
            "training_epochs": 6,
            "refit": False,
            "quantization": 0,
            "early_stopping_patience": 2,
            "min_epochs": 0,
            "best_epoch_by": "metric",
        },  # fmt: skip
        "testing": {"enable": False},
        "compilation": {"enable": False},
    }
    # `off` unquoted is YAML's false: taken for "off"
    assert main([str(write_yaml(tmp_path / "b.yaml", config)), "--run-name", "r2",
                 "--set", "training.choose_augmentation=off"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "training for up to" not in out and "refit" not in out
    training = yaml.safe_load((tmp_path / "p" / "bumps" / "run" / "r2" / "run_summary.yaml").read_text())[
        "training"
    ]
    assert "refit" not in training and training["best_epoch_by"] == "val accuracy"
    assert "augmentation_probe" not in training
    resolved = yaml.safe_load((tmp_path / "p" / "bumps" / "run" / "r2" / "config_resolved.yaml").read_text())
    assert resolved["training"]["choose_augmentation"] is False
    assert training["epochs_run"] <= 6 and training["stop_reason"]
