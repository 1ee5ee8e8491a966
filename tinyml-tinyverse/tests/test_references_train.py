"""End-to-end tests of the reference training / testing scripts on tiny data written to disk.

Every test trains for real (1-3 epochs on a few dozen windows), checks the artifacts, re-runs the
exported ONNX model with onnxruntime, and checks resume, determinism and user errors.

The data are real CSV recordings from the data package's generators, prepared with
``prepare_dataset``; the models are the smallest zoo models of each task.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
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


MODELS = {
    "classification": "CLS_1k_NPU",
    "regression": "REGR_500_NPU",
    "forecasting": "FCST_500_NPU",
    "anomalydetection": "AD_500_NPU",
}


# -- helpers ----------------------------------------------------------------------------------------


def train_args_list(task: str, data: tuple[Path, Path], out: Path, *extra: str) -> list[str]:
    """The command-line arguments of a short test run (2 epochs, seed 3, no progress bars)."""
    return ["--dataset-dir", str(data[0]), "--data-config", str(data[1]), "--output-dir", str(out), "--model", MODELS[task],
            "--epochs", "2", "--seed", "3", "--no-progress", *extra]  # fmt: skip


def train_args(task: str, data: tuple[Path, Path], out: Path, *extra: str) -> argparse.Namespace:
    mod = importlib.import_module(f"tinyml_tinyverse.references.timeseries_{task}.train")
    return mod.get_args_parser().parse_args(train_args_list(task, data, out, *extra))


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
def dataset(prepared):
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
NAMES = {  # class names, or the target columns of regression and forecasting
    "classification": ["bearing_defect", "imbalance", "misalignment", "normal"],
    "regression": ["torque"],
    "forecasting": ["load", "ambient", "temperature"],
    "anomalydetection": ["Normal", "Anomaly"],
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
    assert on_disk["class_names"] == NAMES[task]
    assert f"#define TINYML_MODEL_NUM_CLASSES {len(NAMES[task])}" in (out / "model_aux.h").read_text()
    if task == "anomalydetection":
        threshold = on_disk["anomaly_threshold"]["threshold"]
        assert f"#define TINYML_MODEL_AD_THRESHOLD {threshold:.9g}f" in (out / "model_aux.h").read_text()
        import subprocess

        c = tmp_path / "ad.c"
        c.write_text(
            '#include "model_aux.h"\n#include <stdio.h>\nstatic const char *const names[TINYML_MODEL_NUM_CLASSES] = TINYML_MODEL_CLASS_NAMES;\nint main(void){printf("%.9g %s\\n", (double)TINYML_MODEL_AD_THRESHOLD, names[1]);return 0;}\n'
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
                str(tmp_path / "ad"),
            ],
            check=True,
        )
        printed = subprocess.run(
            [str(tmp_path / "ad")], capture_output=True, text=True, check=True
        ).stdout.split()
        assert float(printed[0]) == pytest.approx(threshold, rel=1e-6) and printed[1] == "Anomaly"
    assert on_disk["val"][PRIMARY[task]] == pytest.approx(summary["val"][PRIMARY[task]])
    log = artifacts.read_csv(out / "training_log.csv")
    assert [int(r["epoch"]) for r in log if r["phase"] == "train"] == [1, 2]
    # classification: a val split of a few recordings only chose the epoch count, the model was trained
    # again on train + val
    refit = [int(r["epoch"]) for r in log if r["phase"] == "refit"]
    if task == "classification":  # as many epochs as the first phase's best one (the val loss chooses it),
        probe = summary["augmentation_probe"]  # or the augmentation probe's when the refit keeps its Shift
        epochs = list(range(1, (probe["best_epoch"] if probe["kept"] else summary["best_epoch"]) + 1))
        assert refit == epochs == list(range(1, summary["refit"]["epochs"] + 1))
    else:  # regression, forecasting: their val metric chooses the weights; anomaly detection: its threshold
        assert not refit and "refit" not in summary
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
    assert summary["test"]["accuracy"] > 0.5 and "warnings" not in summary  # chance is 1/4
    names = ["bearing_defect", "imbalance", "misalignment", "normal"]
    assert summary["class_names"] == names
    header = (out / "model_aux.h").read_text()
    assert "#define TINYML_MODEL_NUM_CLASSES 4" in header and ", ".join(f'"{n}"' for n in names) in header
    assert summary["test"]["file_level"]["files"] == 4
    import subprocess

    c = tmp_path / "aux.c"
    c.write_text(
        '#include "model_aux.h"\n#include <stdio.h>\nstatic const char *const names[TINYML_MODEL_NUM_CLASSES] = TINYML_MODEL_CLASS_NAMES;\nint main(void){printf("%d %s\\n", TINYML_MODEL_CLASS_NORMAL, names[TINYML_MODEL_NUM_CLASSES-1]);return 0;}\n'
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

    # a real SIGKILL of a command-line run as soon as its first checkpoint exists, then resume
    import signal
    import subprocess
    import time

    sigkilled = tmp_path / "sigkilled"
    argv = train_args_list("classification", data, sigkilled, "--epochs", "3")  # a later option wins
    proc = subprocess.Popen([sys.executable, "-m", "tinyml_tinyverse.references.timeseries_classification.train", *argv],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip
    deadline = time.monotonic() + 120
    while not (sigkilled / "checkpoint.pt").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (sigkilled / "summary.yaml").exists(), "the run finished before it could be killed"
    assert 1 <= checkpoint.load(sigkilled / "checkpoint.pt")["epoch"] < 3  # atomic: never half-written
    run_train("classification", data, sigkilled, "--epochs", "3", "--resume", "auto")
    assert drop(artifacts.read_csv(sigkilled / "training_log.csv")) == drop(log_full)
    assert yaml.safe_load((sigkilled / "summary.yaml").read_text())["test"] == sa["test"]


def test_augmentation_is_applied_and_seeded(dataset, tmp_path):
    data_dir, _ = dataset("classification")
    cfg = tmp_path / "augmented.yaml"
    cfg.write_text(
        yaml.safe_dump({**DATA_CONFIGS["classification"], "augmentation": {"AddNoise": {"scale": 0.5}}})
    )
    logs = []
    for name, config in (("plain", dataset("classification")[1]), ("aug1", cfg), ("aug2", cfg)):
        run_train("classification", (data_dir, config), tmp_path / name, "--epochs", "1")
        logs.append(artifacts.read_csv(tmp_path / name / "training_log.csv")[0])
    assert logs[1]["train_loss"] == logs[2]["train_loss"]  # same seed, same noise
    assert logs[0]["train_loss"] != logs[1]["train_loss"]  # the noise reached the model
    assert logs[1]["val_loss"] != logs[0]["val_loss"]


def test_loader_workers_give_the_same_run(dataset, tmp_path):
    data = dataset("regression")
    run_train("regression", data, tmp_path / "w0", "--epochs", "1", "--workers", "0")
    run_train("regression", data, tmp_path / "w1", "--epochs", "1", "--workers", "1")
    drop = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    log0, log1 = (artifacts.read_csv(tmp_path / w / "training_log.csv") for w in ("w0", "w1"))
    assert drop(log0) == drop(log1)


def test_early_stopping_and_best_epoch_not_last(dataset, tmp_path, capsys):
    data = dataset("regression")
    out = tmp_path / "run"
    # a large constant learning rate: the val metric stops improving long before 40 epochs
    summary = run_train(
        "regression",
        data,
        out,
        "--epochs",
        "40",
        "--early-stopping-patience",
        "2",
        "--min-epochs",
        "0",
        "--lr",
        "0.05",
        "--lr-scheduler",
        "none",
        "--warmup-epochs",
        "0",
    )
    log = [r for r in artifacts.read_csv(out / "training_log.csv") if r["phase"] == "train"]
    vals = [float(r["val_rmse"]) for r in log]
    best = int(np.argmin(vals)) + 1
    assert summary["best_epoch"] == best and summary["stopped_early"] and len(log) == best + 2 < 40
    # the run says when it stopped and why, on screen and in summary.yaml
    reason = (f"stopped early after epoch {best + 2}: the val rmse did not improve for 2 epochs "
              f"(early_stopping_patience) after its best, {min(vals):.4g} at epoch {best}")  # fmt: skip
    assert summary["stop_reason"] == reason
    assert f"{reason}; best epoch {best} (val rmse {min(vals):.4g})" in capsys.readouterr().out
    assert yaml.safe_load((out / "summary.yaml").read_text())["stop_reason"] == reason


@pytest.mark.parametrize("method, mode, bits", [("QAT", 2, 4), ("PTQ", 1, 8)])
def test_quantized_model_files_and_metrics(method, mode, bits, dataset, tmp_path):
    """Best float model -> (QAT fine-tune) -> quantize_onnx -> QDQ ONNX, graph, golden vectors, metrics."""
    from tinyml_tinyverse.common.quantization import load_quantized_graph
    from tinyml_tinyverse.references.common import onnx_export

    data = dataset("classification")
    out, qdir = tmp_path / "training" / "base", tmp_path / "training" / "quantization"
    extra = [
        "--quantization",
        str(mode),
        "--quantization-method",
        method,
        "--quantization-weight-bitwidth",
        str(bits),
        "--qat-epochs",
        "1",
    ]
    # CLS_1k: the NPU zoo models with several variables start with a Transpose that quantize_onnx rejects (reported)
    summary = run_train(
        "classification", data, out, "--model", "CLS_1k", "--epochs", "3", "--lr", "0.01", *extra
    )
    files = ["model_qdq.onnx", "quantized_graph.npz", "golden_vectors.npz"] + (
        ["model_qat.onnx"] if method == "QAT" else []
    )
    for name in files:
        assert (qdir / name).is_file(), name
    q = yaml.safe_load((out / "summary.yaml").read_text())["quantization"]
    assert (q["mode"], q["method"], q["weight_bitwidth"]) == (mode, method, bits)
    assert set(q["test"]) >= {"accuracy", "f1_macro", "confusion_matrix"} and 0 <= q["test"]["accuracy"] <= 1
    if method == "QAT":
        assert q["qat_epochs"] == 1 and len(q["qat_history"]) == 1
        # QAT must not lose what float won: the int8 model closer to the float one is kept
        assert set(q["fidelity_to_float"]) == {"QAT", "PTQ"} and q["kept"] in ("QAT", "PTQ")
        assert q["fidelity_to_float"][q["kept"]] == max(q["fidelity_to_float"].values())
    # the golden vectors are the integer reference's answers, and the saved graph reproduces them
    golden = np.load(qdir / "golden_vectors.npz")
    assert golden["input_int"].dtype == np.int8 and golden["output_int"].dtype == np.int8
    qg = load_quantized_graph(qdir / "quantized_graph.npz")
    np.testing.assert_array_equal(qg.run_int(golden["input_int"])[0], golden["output_int"])
    # onnxruntime runs the QDQ model, and it ranks the classes like the integer reference
    x = load_split(data[0], "test", "classification", DATA_CONFIGS["classification"]).X
    qdq = onnx_export.run_onnx(qdir / "model_qdq.onnx", x)
    assert (qdq.argmax(1) == qg.run_dequantized(x)[0].argmax(1)).mean() > 0.9
    assert abs(q["test"]["accuracy"] - summary["test"]["accuracy"]) <= 0.3


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
    # a zoo model of another task: named, with the models that fit
    with pytest.raises(
        ModelError, match="AD_500_NPU is made for anomalydetection, not classification.*CLS_1k_NPU"
    ):
        run_train("classification", data, tmp_path / "r3", "--model", "AD_500_NPU")
    with pytest.raises(UnknownNameError, match="CLS_1k_NPU"):
        run_train("classification", data, tmp_path / "r3", "--model", "CLS_1k_NPX")
    # a registered model without a task whose output does not fit the targets
    from tinyml_tinyverse.common.models import MODEL_REGISTRY

    class Echo(nn.Module):
        def __init__(self, config=None, input_features=1, variables=1, num_classes=1):
            super().__init__()
            self.conv = nn.Conv2d(variables, variables, 1)

        def forward(self, x):
            return self.conv(x)

    MODEL_REGISTRY.register("TEST_ECHO", Echo)
    try:
        with pytest.raises(ModelError, match="TEST_ECHO outputs"):
            run_train("classification", data, tmp_path / "r3", "--model", "TEST_ECHO")
    finally:
        dict.pop(MODEL_REGISTRY, "TEST_ECHO")
    # resuming another task's checkpoint
    run_train("regression", dataset("regression"), tmp_path / "reg", "--epochs", "1")
    with pytest.raises(ConfigError, match="regression"):
        run_train(
            "classification", data, tmp_path / "r4", "--resume", str(tmp_path / "reg" / "checkpoint.pt")
        )
    # testing a regression ONNX model as a classifier, and a missing ONNX file
    from tinyml_tinyverse.references.timeseries_classification import test_onnx

    def test_args(model_path):
        argv = [
            "--dataset-dir",
            str(data[0]),
            "--data-config",
            str(data[1]),
            "--model-path",
            str(model_path),
            "--output-dir",
            str(tmp_path / "t"),
        ]
        return test_onnx.get_args_parser().parse_args(argv)

    with pytest.raises(ModelError, match="gives 1 values per window.*needs 4"):
        test_onnx.main(test_args(tmp_path / "reg" / "model.onnx"))
    with pytest.raises(DataError, match="does not exist"):
        test_onnx.main(test_args(tmp_path / "nothing.onnx"))
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


def test_a_stop_at_a_rung_scores_the_best_model_quantized_as_the_finished_training_does(tmp_path, dataset):
    """``--rung-quantized-bits`` (a model search's cut into its last rung): with the stop, the PTQ val score
    of the best model so far at each width, equal to what the finished training's quantization reports for
    that model (the same calibration windows and observer)."""
    data = dataset("classification")
    out, common = tmp_path / "rung", ("--refit", "off", "--quantization", "2", "--quantization-method", "PTQ")
    stopped = run_train(
        "classification", data, out, *common, "--stop-after-epoch", "2", "--rung-quantized-bits", "8", "4"
    )
    assert stopped["interrupted_after_epoch"] == 2 and set(stopped["quantized_val"]) == {8, 4}
    for bits in (8, 4):  # the same training finished (nothing left to train), quantized at each width
        qdir = tmp_path / f"q{bits}"
        run_train("classification", data, out, *common, "--quantization-weight-bitwidth", str(bits),
                  "--quantization-output-dir", str(qdir), "--resume", "auto")  # fmt: skip
        summary = yaml.safe_load((out / "summary.yaml").read_text())
        assert stopped["quantized_val"][bits] == summary["quantization"]["val"]["accuracy"], bits
