"""Each task end to end through the command line on small generated data: run folder, metrics,
plots, ONNX parity; a 2-process run; resume of a killed run (same result as an uninterrupted one)."""

from __future__ import annotations

import copy
import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import PACKAGE_ROOT, write_yaml
from tinyml_modelmaker.run_tinyml_modelmaker import main

MOTOR_DATA = {"feature_extraction_name": "Generic_256Input_FFTBIN_16Feature_8Frame", "variables": 3}
CASES = {
    "classification": dict(
        generator="motor_fault",
        generator_config={"files_per_class": 4, "length": 4096},
        data=MOTOR_DATA,
        model="CLS_1k_NPU",
        metric="accuracy",
        quantization=2,
    ),
    "regression": dict(
        generator="regression",
        generator_config={"files_per_class": 6, "length": 2048},
        data={
            "feature_extraction_name": "Generic_128Input_RAW_128Feature_1Frame",
            "variables": ["current_a", "current_b", "current_c"],
            "target_columns": ["torque"],
        },
        model="REGR_1k_NPU",
        metric="rmse",
        quantization=1,
    ),
    "forecasting": dict(
        generator="forecasting",
        generator_config={"files_per_class": 3, "length": 1000},
        data={
            "frame_size": 32,
            "stride_size": 0.5,
            "variables": 3,
            "forecast_variables": ["temperature"],
            "horizon": 2,
        },
        model="FCST_1k_NPU",
        metric="smape",
        quantization=1,
    ),
    "anomalydetection": dict(
        generator="anomaly",
        generator_config={"files_per_class": 5, "length": 4096},
        data=MOTOR_DATA,
        model="AD_1k_NPU",
        metric="f1",
        quantization=2,
    ),
}


def make_config(tmp_path: Path, task: str, **training) -> dict:
    case = CASES[task]
    return {
        "common": {
            "task_type": f"generic_timeseries_{task}",
            "target_device": "F28P55",
            "projects_path": str(tmp_path / "projects"),
            "run_name": "run1",
        },
        "dataset": {
            "dataset_name": task,
            "input_data_path": f"generated://{case['generator']}",
            "generator_config": case["generator_config"],
        },
        "data_processing_feature_extraction": copy.deepcopy(case["data"]),
        "training": {
            "model_name": case["model"],
            "training_epochs": 2,
            "quantization": 0,
            "early_stopping_patience": 0,
            **training,
        },
        "testing": {"enable": True},
        "compilation": {"enable": False},
    }


def run_dir(cfg: dict, name: str = "run1") -> Path:
    return Path(cfg["common"]["projects_path"]) / cfg["dataset"]["dataset_name"] / "run" / name


def read_log(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return [
            {k: v for k, v in row.items() if "time" not in k and "second" not in k}
            for row in csv.DictReader(f)
        ]


@pytest.mark.parametrize("task", list(CASES))
def test_task_end_to_end(task, tmp_path, capsys):
    """dataset -> float training -> PTQ -> ONNX tests (float and QDQ) -> C compiled and checked bit for bit."""
    cfg = make_config(tmp_path, task, quantization=CASES[task]["quantization"], quantization_method="PTQ")
    cfg["compilation"]["enable"] = True
    path = write_yaml(tmp_path / f"{task}.yaml", cfg)
    assert main([str(path)]) == 0
    out = capsys.readouterr().out
    assert "model.onnx on " in out and "model_qdq.onnx on " in out  # the testing stage says what it does
    root = run_dir(cfg)
    for rel in (
        "config_resolved.yaml",
        "run_summary.yaml",
        "dataset/annotations/train_list.txt",
        "dataset/dataset_summary.yaml",
        "training/base/best_model.pt",
        "training/base/checkpoint.pt",
        "training/base/training_log.csv",
        "training/base/model.onnx",
        "training/base/model_aux.h",
        "training/base/summary.yaml",
        "testing/float/test_metrics.yaml",
        "training/quantization/model_qdq.onnx",
        "testing/quantized/test_metrics.yaml",
        "compilation/memory_report.json",
        "compilation/artifacts/tinyml_model.c",
        "compilation/artifacts/tinyml_model.h",
        "compilation/artifacts/test_vector.c",
        "compilation/artifacts/user_input_config.h",
        "compilation/artifacts/model_aux.h",
    ):
        assert (root / rel).is_file(), rel
    # one model_aux.h, whichever stage wrote it: task, labels and (AD) the validation threshold
    aux = (root / "compilation/artifacts/model_aux.h").read_text()
    assert aux == (root / "training/base/model_aux.h").read_text()
    assert f'#define TINYML_MODEL_TASK "{task}"' in aux
    assert ("#define TINYML_MODEL_AD_THRESHOLD" in aux) == (task == "anomalydetection")
    assert list((root / "dataset").glob("*.png")), "dataset plots"
    assert list((root / "training" / "base").glob("*.png")), "training plots"
    assert list((root / "testing" / "float").glob("*.png")), "test plots"
    log = read_log(root / "training/base/training_log.csv")
    training = yaml.safe_load((root / "run_summary.yaml").read_text())["training"]
    refit = (training.get("refit") or {}).get("epochs", 0)
    probe = 2 if training.get("augmentation_probe") else 0  # classification: the first phase with Shift
    assert [r["phase"] for r in log] == ["train"] * 2 + ["probe"] * probe + ["refit"] * refit
    # classification: a val split of a few files only chose the epoch count (and whether to augment)
    assert (refit > 0) == (probe > 0) == (task == "classification")
    summary = yaml.safe_load((root / "run_summary.yaml").read_text())
    assert [summary["stages"][s]["status"] for s in ("dataset", "training", "testing", "compilation")] == [
        "done",
        "done",
        "done",
        "done",
    ]
    metric = CASES[task]["metric"]
    torch_value = summary["training"]["test"][metric]
    onnx_value = summary["testing"]["float"]["metrics"][metric]
    assert isinstance(torch_value, float) and onnx_value == pytest.approx(torch_value, rel=1e-4, abs=1e-4)
    assert summary["testing"]["float"]["max_rel_diff_vs_reference"] <= 1e-4
    assert summary["model_check"]["parameters"] > 0
    assert isinstance(summary["testing"]["quantized"]["metrics"][metric], float)
    compiled = summary["compilation"]
    assert compiled["passed"] is True and compiled["max_abs_diff"] == 0 and compiled["precision"] == "int8"
    assert compiled["memory"]["flash"]["weights_bytes"] > 0 and compiled["memory"]["ram"]["arena_bytes"] > 0
    resolved = yaml.safe_load((root / "config_resolved.yaml").read_text())
    assert resolved["training"]["model_name"] == CASES[task]["model"]


def test_two_process_training(tmp_path):
    """num_gpus: 2 on a machine without CUDA runs 2 CPU processes with gloo; rank 0 writes once."""
    cfg = make_config(tmp_path, "classification", num_gpus=2, training_epochs=1)  # float: quantization 0
    cfg["common"]["target_device"] = "CORTEX_M4F"
    cfg["testing"]["enable"] = False
    cfg["compilation"]["enable"] = True  # the float model compiles to float C, checked to 1e-5
    path = write_yaml(tmp_path / "ddp.yaml", cfg)
    assert main([str(path)]) == 0
    root = run_dir(cfg)
    # one epoch on 2 processes, then (classification) the augmentation probe and the refit in one process
    phases = ["train", "probe", "refit"]
    assert [r["phase"] for r in read_log(root / "training/base/training_log.csv")] == phases
    summary = yaml.safe_load((root / "run_summary.yaml").read_text())
    assert summary["stages"]["training"]["status"] == "done"
    assert summary["training"]["test"]["accuracy"] > 0
    compiled = summary["compilation"]
    assert compiled["passed"] is True and compiled["precision"] != "int8" and compiled["max_rel_diff"] <= 1e-5


def _command(path: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "tinyml_modelmaker.run_tinyml_modelmaker", str(path), *extra]


def test_resume_of_killed_run_matches_uninterrupted_run(tmp_path):
    epochs = 6
    cfg = make_config(tmp_path, "classification", training_epochs=epochs)
    path = write_yaml(tmp_path / "cls.yaml", cfg)
    env = dict(os.environ, OMP_NUM_THREADS="1")

    # the reference: an uninterrupted run
    subprocess.run(
        _command(path, "--run-name", "whole"), check=True, env=env, capture_output=True, cwd=PACKAGE_ROOT
    )
    whole = read_log(run_dir(cfg, "whole") / "training/base/training_log.csv")
    assert sum(r["phase"] == "train" for r in whole) == epochs

    # a run killed (SIGKILL) once its first checkpoint is on disk
    proc = subprocess.Popen(_command(path, "--run-name", "killed"), env=env, cwd=PACKAGE_ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    log_path = run_dir(cfg, "killed") / "training/base/training_log.csv"
    deadline = time.monotonic() + 120
    while not log_path.is_file() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before_kill = sum(r["phase"] == "train" for r in read_log(log_path))
    assert 1 <= done_before_kill < epochs, "the run finished before it could be killed"
    assert not (run_dir(cfg, "killed") / "training/base/summary.yaml").exists()

    resumed = subprocess.run(_command(path, "--run-name", "killed", "--resume"), env=env, cwd=PACKAGE_ROOT,
                             capture_output=True, text=True)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resumed from" in resumed.stdout + resumed.stderr
    assert read_log(log_path) == whole  # same metrics, epoch by epoch, as the uninterrupted run
    summary = yaml.safe_load((run_dir(cfg, "killed") / "run_summary.yaml").read_text())
    assert summary["stages"]["training"]["status"] == "done"


def test_npu_4bit_weights_with_compressed_preset(tmp_path):
    """quantization 2 with 4-bit weights and the compress_npu_layer_data preset compiles bit-exact."""
    cfg = make_config(
        tmp_path, "classification", quantization=2, quantization_method="PTQ", quantization_weight_bitwidth=4
    )
    cfg["testing"]["enable"] = False
    cfg["compilation"].update(enable=True, preset_name="compress_npu_layer_data")
    assert main([str(write_yaml(tmp_path / "npu4.yaml", cfg))]) == 0
    summary = yaml.safe_load((run_dir(cfg) / "run_summary.yaml").read_text())
    compiled = summary["compilation"]
    assert compiled["passed"] is True and compiled["npu_check"] == "passed"
    quantization = dict(compiled["memory"]["quantization"])
    layer_bits = quantization.pop("layer_bits")  # the memory report shows each layer's weight width
    assert quantization == {"mode": 2, "weight_bitwidth": 4, "preset": "compress_npu_layer_data"}
    assert layer_bits and set(layer_bits.values()) == {4}
    # packed 4-bit weights: fewer weight bytes than one byte per parameter
    assert compiled["memory"]["flash"]["weights_bytes"] < summary["model_check"]["parameters"]
