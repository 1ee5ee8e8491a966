"""prepare_dataset + load_split end to end on tiny generated datasets of every task."""

from __future__ import annotations

import numpy as np
import pytest
from tinyml_tinyverse.common.datasets import load_split, model_input_kwargs, prepare_dataset
from tinyml_tinyverse.common.datasets.generators import (
    generate_anomaly,
    generate_forecasting,
    generate_motor_fault,
    generate_regression,
)


def _lines(path):
    return [ln for ln in path.read_text().splitlines() if ln]


def test_classification_fft_preset(tmp_path):
    data = generate_motor_fault(tmp_path / "raw", files_per_class=5, length=2048, seed=1)
    cfg = {"feature_extraction_name": "Generic_256Input_FFTBIN_16Feature_8Frame"}
    info = prepare_dataset(data, tmp_path / "ds", "classification", data_config=cfg, seed=3)
    assert info.class_names == ["bearing_defect", "imbalance", "misalignment", "normal"]
    assert info.root == (data / "classes").resolve()
    splits = {
        s: set(_lines(tmp_path / "ds" / "annotations" / f"{s}_list.txt")) for s in ("train", "val", "test")
    }
    assert not (splits["train"] & splits["val"]) and not (splits["train"] & splits["test"])
    assert not (splits["val"] & splits["test"])
    assert len(splits["train"]) + len(splits["val"]) + len(splits["test"]) == 20
    for name in ("dataset_summary.yaml", "dataset_info.yaml", "class_counts.png", "feature_pca.png"):
        assert (tmp_path / "ds" / name).is_file()
    train = load_split(tmp_path / "ds", "train", "classification", cfg)
    # 2048 samples, 256-sample frames without overlap -> 8 frames -> exactly one 8-frame example
    assert train.X.shape == (len(splits["train"]), 3, 128, 1)
    assert train.X.dtype == np.float32 and train.y.dtype == np.int64
    assert [train.files[i].split("/")[0] for i in train.file_ids] == [train.class_names[c] for c in train.y]
    assert model_input_kwargs(cfg, tmp_path / "ds") == {"input_features": 128, "variables": 3}


def test_classification_raw_overlap(tmp_path):
    data = generate_motor_fault(
        tmp_path / "raw", files_per_class=3, length=1024, classes=("normal", "imbalance")
    )
    cfg = {"frame_size": 128, "stride_size": 0.5, "variables": 2}
    prepare_dataset(data, tmp_path / "ds", "classification", data_config=cfg, plots=False)
    test = load_split(tmp_path / "ds", "test", "classification", cfg)
    assert test.X.shape[1:] == (2, 128, 1)
    assert len(test.X) == len(test.files) * 15  # (1024 - 128) / 64 + 1 windows per file
    # the first window of a file is exactly its first 128 rows of accel_x / accel_y
    rows = np.loadtxt(data / "classes" / test.files[0], delimiter=",", skiprows=1)
    np.testing.assert_allclose(test.X[0, :, :, 0], rows[:128, 1:3].T.astype(np.float32))


def test_anomaly_train_holds_normal_only(tmp_path):
    data = generate_anomaly(tmp_path / "raw", files_per_class=4, length=1024)
    cfg = {"frame_size": 128}
    prepare_dataset(data, tmp_path / "ds", "anomalydetection", data_config=cfg, plots=False)
    train = load_split(tmp_path / "ds", "train", "anomalydetection", cfg)
    test = load_split(tmp_path / "ds", "test", "anomalydetection", cfg)
    assert train.class_names == ["Normal", "Anomaly"]
    assert set(train.y.tolist()) == {0}
    assert all(f.startswith("Normal/") for f in train.files)
    assert set(test.y.tolist()) == {0, 1}


def test_regression_targets_are_window_means(tmp_path):
    data = generate_regression(tmp_path / "raw", files_per_class=4, length=1000)
    cfg = {"frame_size": 100, "stride_size": 0.5}
    prepare_dataset(
        data, tmp_path / "ds", "regression", data_config=cfg, split_factor=(0.5, 0.25, 0.25), plots=False
    )
    val = load_split(tmp_path / "ds", "val", "regression", cfg)
    assert val.X.shape == (19, 3, 100, 1) and val.y.shape == (19, 1) and val.y.dtype == np.float32
    rows = np.loadtxt(data / "files" / val.files[0], delimiter=",", skiprows=1)
    np.testing.assert_allclose(val.y[1, 0], rows[50:150, 4].mean(), rtol=1e-5)
    np.testing.assert_allclose(val.X[1, :, :, 0], rows[50:150, 1:4].T, rtol=1e-5)


def test_forecasting_targets_follow_the_window(tmp_path):
    data = generate_forecasting(tmp_path / "raw", files_per_class=3, length=300)
    cfg = {"frame_size": 32, "forecast_variables": ["temperature"], "horizon": 4}
    prepare_dataset(
        data, tmp_path / "ds", "forecasting", data_config=cfg, split_factor=(0.34, 0.33, 0.33), plots=False
    )
    train = load_split(tmp_path / "ds", "train", "forecasting", cfg)
    rows = np.loadtxt(data / "files" / train.files[0], delimiter=",", skiprows=1)
    assert train.X.shape == (9, 3, 32, 1) and train.y.shape == (9, 4, 1)  # last window has no future
    np.testing.assert_allclose(train.y[2, :, 0], rows[96:100, 3], rtol=1e-5)


@pytest.mark.parametrize("bad", ["clasification", "time_series"])
def test_unknown_task(tmp_path, bad):
    from tinyml_tinyverse.common.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown task"):
        prepare_dataset(tmp_path, tmp_path / "ds", bad)


def test_command_line_prepares_and_reports_errors(tmp_path):
    import subprocess
    import sys

    data = generate_regression(tmp_path / "raw", files_per_class=3, length=400)
    (tmp_path / "cfg.yaml").write_text("data_processing_feature_extraction:\n  frame_size: 50\n")
    cmd = [sys.executable, "-m", "tinyml_tinyverse.common.datasets", str(data), str(tmp_path / "ds")]
    ok = subprocess.run(cmd + ["--task", "regression", "--data-config", str(tmp_path / "cfg.yaml"), "--no-plots"],
                        capture_output=True, text=True)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert "windows: 8" in ok.stdout and "model input: input_features=50, variables=3" in ok.stdout
    bad = subprocess.run(
        cmd + ["--task", "regression", "--split-factor", "0.5", "0.5", "0.5"], capture_output=True, text=True
    )
    assert (
        bad.returncode == 1
        and bad.stderr.startswith("error: dataset.split_factor")
        and "Traceback" not in bad.stderr
    )
