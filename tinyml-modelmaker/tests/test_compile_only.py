"""Compile only: a user's ONNX model exported straight from plain PyTorch, no dataset, no training."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml
from conftest import write_yaml
from tinyml_modelmaker.run_tinyml_modelmaker import main
from torch import nn


def export_plain_model(
    path, channels: int = 1, length: int = 64, classes: int = 3, dynamo: bool = False
) -> None:
    """A plain PyTorch model exported by torch's classic exporter (opset 13) or its default dynamo one."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(channels, 4, kernel_size=(5, 1), padding=(2, 0)),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d((2, 1)),
        nn.Flatten(),
        nn.Linear(4 * (length // 2), classes),
    ).eval()
    x = torch.randn(1, channels, length, 1)
    if dynamo:
        torch.onnx.export(model, (x,), str(path))
    else:
        torch.onnx.export(model, (x,), str(path), dynamo=False, opset_version=13)


def compile_only_config(tmp_path, model_path, **compilation) -> dict:
    return {
        "common": {
            "task_type": "generic_timeseries_classification",
            "target_device": "CORTEX_M4F",
            "projects_path": str(tmp_path / "projects"),
            "run_name": "c",
        },
        "dataset": {"enable": False},
        "training": {"enable": False},
        "testing": {"enable": False},
        "compilation": {"model_path": str(model_path), **compilation},
    }


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize(
    "calibrated, dynamo", [(False, False), (True, False), (True, True)], ids=["float", "int8", "int8-dynamo"]
)
def test_compile_user_onnx(tmp_path, calibrated, dynamo):
    model_path = tmp_path / "user_model.onnx"
    export_plain_model(model_path, dynamo=dynamo)
    extra = {}
    if calibrated:
        calib = np.random.default_rng(1).standard_normal((32, 1, 64, 1)).astype(np.float32)
        np.save(tmp_path / "calib.npy", calib)
        extra["calibration_data"] = str(tmp_path / "calib.npy")
    cfg = compile_only_config(tmp_path, model_path, **extra)
    path = write_yaml(tmp_path / "compile.yaml", cfg)
    assert main([str(path)]) == 0
    root = tmp_path / "projects" / "user_model" / "run" / "c"
    artifacts = root / "compilation" / "artifacts"
    for name in ("tinyml_model.h", "tinyml_model.c", "test_vector.c", "main.c"):
        assert (artifacts / name).is_file(), name
    memory = json.loads((root / "compilation" / "memory_report.json").read_text())
    assert memory
    summary = yaml.safe_load((root / "run_summary.yaml").read_text())
    assert summary["stages"]["compilation"]["status"] == "done"
    assert summary["compilation"]["passed"] is True
    assert summary["compilation"]["model"] == str(model_path)
    # a float model with calibration data is quantized; without it, it is compiled as float
    assert (summary["compilation"]["precision"] == "int8") == calibrated
    assert "tinyml_model_run" in (artifacts / "tinyml_model.h").read_text()
    # no class names in a user's model: labels by index, but the task is the config's
    aux = (artifacts / "model_aux.h").read_text()
    assert '#define TINYML_MODEL_TASK "classification"' in aux and '"0"' in aux


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_calibration_data_shape_checked(tmp_path, capsys):
    model_path = tmp_path / "user_model.onnx"
    export_plain_model(model_path)
    np.save(tmp_path / "calib.npy", np.zeros((4, 3, 64, 1), np.float32))
    cfg = compile_only_config(tmp_path, model_path, calibration_data=str(tmp_path / "calib.npy"))
    assert main([str(write_yaml(tmp_path / "c.yaml", cfg))]) == 2
    err = capsys.readouterr().err
    assert "compilation.calibration_data" in err and "[3, 64, 1]" in err and "[1, 64, 1]" in err
