"""End-to-end tests of the reference training / testing scripts on tiny data written to disk.

Every test trains for real (1-3 epochs on a few dozen windows), checks the artifacts, re-runs the
exported ONNX model with onnxruntime, and checks resume, determinism and user errors.

The data are real: CSV recordings from the data package's generators, prepared with
``prepare_dataset``. Until the model zoo provides ``get_model``, the tests install a stand-in model
module (``install_standins``) that follows docs/architecture.md with small real torch models.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from torch import nn

os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(1)

from tinyml_tinyverse.common.datasets import load_split  # noqa: E402
from tinyml_tinyverse.common.errors import ConfigError, DataError, ModelError, TinyMLError, UnknownNameError  # noqa: E402
from tinyml_tinyverse.references.common import artifacts  # noqa: E402

TASKS = ["classification", "regression", "forecasting", "anomalydetection"]
LENGTH = 64  # window length (H)
VARIABLES = 3

# -- stand-ins for the data and model packages -----------------------------------------------------


DATA_CONFIGS = {
    "classification": {"frame_size": LENGTH, "variables": VARIABLES},
    "regression": {"frame_size": LENGTH, "variables": VARIABLES},
    "forecasting": {"frame_size": 32, "stride_size": 0.5, "horizon": 4},
    "anomalydetection": {"frame_size": LENGTH, "variables": VARIABLES},
}
GENERATED = {  # generator, recordings per class (or files), samples per recording
    "classification": ("motor_fault", 5, 1024),
    "regression": ("regression", 6, 1024),
    "forecasting": ("forecasting", 5, 400),
    "anomalydetection": ("anomaly", 6, 1024),
}


def make_dataset(root: Path, task: str) -> tuple[Path, Path]:
    """Generate raw recordings (CSV files) and prepare them; returns ``(dataset_dir, data_config.yaml)``."""
    from tinyml_tinyverse.common.datasets import prepare_dataset
    from tinyml_tinyverse.common.datasets.generators import GENERATORS

    kind, files, length = GENERATED[task]
    raw = GENERATORS[kind](root / "raw", seed=0, files_per_class=files, length=length)
    prepare_dataset(raw, root / "dataset", task, data_config=DATA_CONFIGS[task], plots=False, seed=0)
    cfg = root / "data_config.yaml"
    cfg.write_text(yaml.safe_dump(DATA_CONFIGS[task]))
    return root / "dataset", cfg


class TinyNet(nn.Module):
    """Conv-BN-ReLU feature extractor with a task head (input (N, C, H, 1))."""

    def __init__(
        self,
        config=None,
        input_features=LENGTH,
        variables=VARIABLES,
        num_classes=3,
        task="classification",
        horizon=None,
    ):
        super().__init__()
        width = (config or {}).get("width", 6)
        self.task, self.horizon, self.num_classes, self.variables = task, horizon, num_classes, variables
        if task == "anomalydetection":
            self.body = nn.Sequential(
                nn.Conv2d(variables, width, (3, 1), padding=(1, 0)), nn.BatchNorm2d(width), nn.ReLU(),
                nn.Conv2d(width, variables, (3, 1), padding=(1, 0)),
            )  # fmt: skip
            return
        self.body = nn.Sequential(
            nn.Conv2d(variables, width, (5, 1), stride=(2, 1)), nn.BatchNorm2d(width), nn.ReLU(), nn.Flatten()
        )
        feats = width * ((input_features - 5) // 2 + 1)
        outs = num_classes * (horizon or 1)
        self.head = nn.Sequential(nn.Dropout(0.1), nn.Linear(feats, outs))

    def forward(self, x):
        if self.task == "anomalydetection":
            return self.body(x)
        out = self.head(self.body(x))
        return out.reshape(-1, self.horizon, self.num_classes) if self.horizon else out


def standin_models_module() -> types.ModuleType:
    mod = types.ModuleType("tinyml_tinyverse.common.models")
    zoo = {f"TINY_{t.upper()}": t for t in TASKS}

    def get_model(name, config=None, **kwargs):
        if name not in zoo:
            raise UnknownNameError(f"unknown model {name!r}")
        return TinyNet(config, task=zoo[name], **kwargs)

    def load_model_config(path, name):
        return yaml.safe_load(Path(path).read_text())

    mod.get_model, mod.load_model_config = get_model, load_model_config
    return mod


def install_standins(monkeypatch) -> None:
    """Put the stand-in model module in ``sys.modules`` for one test."""
    monkeypatch.setitem(sys.modules, "tinyml_tinyverse.common.models", standin_models_module())


# -- helpers ----------------------------------------------------------------------------------------


def train_args(task: str, data: tuple[Path, Path], out: Path, *extra: str) -> argparse.Namespace:
    mod = importlib.import_module(f"tinyml_tinyverse.references.timeseries_{task}.train")
    argv = ["--dataset-dir", str(data[0]), "--data-config", str(data[1]), "--output-dir", str(out), "--model", f"TINY_{task.upper()}",
            "--epochs", "2", "--seed", "3", "--no-progress", *extra]  # fmt: skip
    return mod.get_args_parser().parse_args(argv)


def run_train(task: str, data: tuple[Path, Path], out: Path, *extra: str) -> dict:
    mod = importlib.import_module(f"tinyml_tinyverse.references.timeseries_{task}.train")
    return mod.main(train_args(task, data, out, *extra))


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """The four tasks' datasets, generated and prepared once for this module."""
    cache = {}

    def get(task: str) -> tuple[Path, Path]:
        if task not in cache:
            cache[task] = make_dataset(tmp_path_factory.mktemp(f"data_{task}"), task)
        return cache[task]

    return get


@pytest.fixture
def dataset(prepared, monkeypatch):
    install_standins(monkeypatch)
    return prepared


# -- tests ------------------------------------------------------------------------------------------

EXPECTED_FILES = {
    "classification": [
        "confusion_matrix.png",
        "roc_curves.png",
        "fpr_tpr_thresholds.csv",
        "file_level_summary.csv",
    ],
    "regression": ["pred_vs_true.png", "test_predictions.csv"],
    "forecasting": ["forecast_vs_actual.png", "smape_per_step.csv"],
    "anomalydetection": [
        "reconstruction_error_histogram.png",
        "roc_curves.png",
        "threshold_performance.csv",
        "fpr_tpr_thresholds.csv",
    ],
}
PRIMARY = {
    "classification": "accuracy",
    "regression": "rmse",
    "forecasting": "rmse",
    "anomalydetection": "normal_error",
}


@pytest.mark.parametrize("task", TASKS)
def test_train_and_test_onnx_end_to_end(task, dataset, tmp_path):
    from tinyml_tinyverse.references.common import checkpoint, onnx_export

    data = dataset(task)
    out = tmp_path / "run"
    summary = run_train(task, data, out)

    common = [
        "best_model.pt",
        "checkpoint.pt",
        "training_log.csv",
        "loss_curve.png",
        "metric_curve.png",
        "summary.yaml",
        "model.onnx",
        "model_aux.h",
    ]
    for name in common + EXPECTED_FILES[task]:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert not list(out.glob("*.tmp"))
    on_disk = yaml.safe_load((out / "summary.yaml").read_text())
    assert on_disk["best_epoch"] in (1, 2) and on_disk["epochs_run"] == 2
    x = load_split(data[0], "test", task, DATA_CONFIGS[task]).X
    assert on_disk["input_shape"] == list(x.shape[1:])
    assert on_disk["val"][PRIMARY[task]] == pytest.approx(summary["val"][PRIMARY[task]])
    log = artifacts.read_csv(out / "training_log.csv")
    assert [int(r["epoch"]) for r in log] == [1, 2]
    assert float(log[on_disk["best_epoch"] - 1][f"val_{PRIMARY[task]}"]) == pytest.approx(
        on_disk["val"][PRIMARY[task]], rel=1e-6, abs=1e-6
    )

    # the ONNX model and best_model.pt are the best epoch's, and agree with each other
    model, meta = checkpoint.load_best_model(out / "best_model.pt")
    assert meta["epoch"] == on_disk["best_epoch"]
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    got = onnx_export.run_onnx(out / "model.onnx", x).reshape(ref.shape)
    assert np.max(np.abs(got - ref)) < 1e-4

    test_mod = importlib.import_module(f"tinyml_tinyverse.references.timeseries_{task}.test_onnx")
    targs = test_mod.get_args_parser().parse_args(
        [
            "--dataset-dir",
            str(data[0]),
            "--data-config",
            str(data[1]),
            "--model-path",
            str(out / "model.onnx"),
            "--output-dir",
            str(tmp_path / "testing"),
            "--reference-model",
            str(out / "best_model.pt"),
        ]
    )
    res = test_mod.main(targs)
    assert res["max_rel_diff_vs_reference"] < 1e-4
    assert (tmp_path / "testing" / "test_metrics.yaml").is_file()
    for name in EXPECTED_FILES[task]:
        assert (tmp_path / "testing" / name).is_file(), name
    key = {
        "classification": "accuracy",
        "regression": "rmse",
        "forecasting": "smape",
        "anomalydetection": "f1",
    }[task]
    assert res["metrics"][key] == pytest.approx(on_disk["test"][key], rel=1e-4, abs=1e-4)


def test_classification_learns_and_writes_labels(dataset, tmp_path):
    data = dataset("classification")
    out = tmp_path / "run"
    summary = run_train("classification", data, out, "--epochs", "6", "--lr", "0.01")
    assert summary["test"]["accuracy"] > 0.5  # chance is 1/4
    names = ["bearing_defect", "imbalance", "misalignment", "normal"]
    assert summary["class_names"] == names
    header = (out / "model_aux.h").read_text()
    assert "#define TINYML_NUM_CLASSES 4" in header and ", ".join(f'"{n}"' for n in names) in header
    assert summary["test"]["file_level"]["files"] == 4
    import subprocess

    c = tmp_path / "aux.c"
    c.write_text(
        '#include "model_aux.h"\n#include <stdio.h>\nint main(void){printf("%d %s\\n", TINYML_CLASS_NORMAL, tinyml_class_names[TINYML_NUM_CLASSES-1]);return 0;}\n'
    )
    subprocess.run(
        [
            "gcc",
            "-std=c99",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-I",
            str(out),
            str(c),
            "-o",
            str(tmp_path / "aux"),
        ],
        check=True,
    )
    assert (
        subprocess.run([str(tmp_path / "aux")], capture_output=True, text=True, check=True).stdout.strip()
        == "3 normal"
    )


def test_resume_after_kill_matches_uninterrupted_run_and_runs_are_deterministic(dataset, tmp_path):
    from tinyml_tinyverse.references.common import checkpoint

    data = dataset("classification")
    full, killed = tmp_path / "full", tmp_path / "killed"
    run_train("classification", data, full, "--epochs", "3")
    first = run_train("classification", data, killed, "--epochs", "3", "--stop-after-epoch", "2")
    assert first == {"interrupted_after_epoch": 2}
    assert not (killed / "summary.yaml").exists()  # a killed run never looks finished
    log_full = artifacts.read_csv(full / "training_log.csv")
    log_killed = artifacts.read_csv(killed / "training_log.csv")
    drop = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert drop(log_killed) == drop(log_full[:2])  # same config + seed -> same numbers

    run_train("classification", data, killed, "--epochs", "3", "--resume", "auto")
    assert drop(artifacts.read_csv(killed / "training_log.csv")) == drop(log_full)
    a, b = checkpoint.load(full / "checkpoint.pt"), checkpoint.load(killed / "checkpoint.pt")
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    sa, sb = (
        yaml.safe_load((full / "summary.yaml").read_text()),
        yaml.safe_load((killed / "summary.yaml").read_text()),
    )
    assert sa["test"] == sb["test"] and sa["best_epoch"] == sb["best_epoch"]


def test_early_stopping_and_best_epoch_not_last(dataset, tmp_path):
    data = dataset("regression")
    out = tmp_path / "run"
    # a huge constant learning rate makes the val metric worse after the first epochs
    summary = run_train(
        "regression",
        data,
        out,
        "--epochs",
        "8",
        "--early-stopping-patience",
        "2",
        "--lr",
        "0.05",
        "--lr-scheduler",
        "none",
        "--warmup-epochs",
        "0",
    )
    log = artifacts.read_csv(out / "training_log.csv")
    vals = [float(r["val_rmse"]) for r in log]
    assert summary["best_epoch"] == int(np.argmin(vals)) + 1
    if summary["stopped_early"]:
        assert len(log) == summary["best_epoch"] + 2
    else:
        assert len(log) == 8


def test_quantization_calls_qat_and_quantize_onnx(dataset, tmp_path, monkeypatch):
    """QAT path: prepare -> fine-tune -> finalize -> ONNX -> quantize_onnx; files and quantized metrics."""
    calls = {}

    class FakeGraph:  # stands in for QuantizedGraph: 8-bit fake quantization of the float outputs
        def __init__(self, path, calib):
            import onnxruntime as ort

            self.sess = ort.InferenceSession(str(path))
            self.scale = float(np.abs(self._run(calib)).max()) / 127

        def _run(self, x):
            return np.concatenate([self.sess.run(None, {"input": x[i : i + 1]})[0] for i in range(len(x))])

        def run_int(self, x):
            return np.clip(np.round(self._run(x) / self.scale), -128, 127).astype(np.int8)

        def run_dequantized(self, x):
            return self.run_int(x).astype(np.float32) * self.scale

        def save_qdq_onnx(self, path):
            Path(path).write_bytes(b"qdq")

        def save(self, path):
            Path(path).write_text("graph")

    def quantize_onnx(path, calib_x, *, mode, weight_bitwidth, observer):
        calls["quantize"] = (Path(path).name, calib_x.shape, mode, weight_bitwidth, observer)
        return FakeGraph(path, calib_x)

    qat = types.ModuleType("tinyml_tinyverse.common.quantization.qat")
    qat.prepare_qat = lambda m, mode, weight_bitwidth: (
        calls.setdefault("prepare", (mode, weight_bitwidth)) and m
    )
    qat.finalize_qat = lambda m: calls.setdefault("finalize", True) and m
    qat.qat_default_epochs = lambda e: 2
    qat.qat_default_lr = lambda lr: lr / 100
    quant = types.ModuleType("tinyml_tinyverse.common.quantization")
    quant.quantize_onnx = quantize_onnx
    monkeypatch.setitem(sys.modules, "tinyml_tinyverse.common.quantization", quant)
    monkeypatch.setitem(sys.modules, "tinyml_tinyverse.common.quantization.qat", qat)

    data = dataset("classification")
    out, qdir = tmp_path / "training" / "base", tmp_path / "training" / "quantization"
    summary = run_train(
        "classification",
        data,
        out,
        "--quantization",
        "2",
        "--quantization-weight-bitwidth",
        "4",
        "--calibration-observer",
        "mse",
    )
    assert calls["prepare"] == (2, 4) and calls["finalize"]
    assert calls["quantize"] == ("model_qat.onnx", (192, VARIABLES, LENGTH, 1), 2, 4, "mse")
    for name in ("model_qdq.onnx", "quantized_graph", "golden_vectors.npz", "model_qat.onnx"):
        assert (qdir / name).is_file(), name
    golden = np.load(qdir / "golden_vectors.npz")
    assert golden["input"].shape == (8, VARIABLES, LENGTH, 1) and golden["output_int"].dtype == np.int8
    q = yaml.safe_load((out / "summary.yaml").read_text())["quantization"]
    assert q["qat_epochs"] == 2 and len(q["qat_history"]) == 2
    assert abs(q["test"]["accuracy"] - summary["test"]["accuracy"]) <= 0.25


@pytest.mark.parametrize(
    "extra, error, words",
    [
        (["--optimizer", "adamm"], UnknownNameError, "adam"),
        (["--lr-scheduler", "cosin"], UnknownNameError, "cosine"),
        (["--class-weights", "1,2"], ConfigError, "4 non-negative numbers"),
        (["--device", "cuda"], ConfigError, "--device cpu"),
        (["--epochs", "0"], ConfigError, "--epochs"),
        (["--resume", "/nonexistent/checkpoint.pt"], ConfigError, "--resume"),
    ],
)
def test_bad_arguments_raise_clear_errors(extra, error, words, dataset, tmp_path):
    if "cuda" in extra and torch.cuda.is_available():
        pytest.skip("a GPU is present")
    data = dataset("classification")
    with pytest.raises(error, match=words.replace("-", r"\-")):
        run_train("classification", data, tmp_path / "run", *extra)


def test_data_and_model_errors(dataset, tmp_path):
    data = dataset("classification")
    with pytest.raises(DataError, match="dataset-dir"):
        run_train("classification", (tmp_path / "missing", data[1]), tmp_path / "r1")
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="mapping"):
        run_train("classification", data, tmp_path / "r2", "--data-config", str(cfg))
    # an autoencoder on classification targets: its output cannot be compared with the labels
    args = train_args("classification", data, tmp_path / "r3")
    args.model = "TINY_ANOMALYDETECTION"
    from tinyml_tinyverse.references.timeseries_classification.train import main

    with pytest.raises(ModelError, match="TINY_ANOMALYDETECTION"):
        main(args)
    # resuming another task's checkpoint
    run_train("regression", dataset("regression"), tmp_path / "reg", "--epochs", "1")
    with pytest.raises(ConfigError, match="regression"):
        run_train(
            "classification", data, tmp_path / "r4", "--resume", str(tmp_path / "reg" / "checkpoint.pt")
        )
    assert issubclass(ConfigError, TinyMLError)


def test_cli_prints_error_without_traceback(tmp_path):
    import subprocess

    proc = subprocess.run(
        [sys.executable, "-m", "tinyml_tinyverse.references.timeseries_classification.train",
         "--dataset-dir", str(tmp_path / "nothing"), "--output-dir", str(tmp_path / "o"), "--model", "X", "--no-progress"],
        capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert proc.returncode != 0
    assert "error:" in proc.stderr and "Traceback" not in proc.stderr
