"""On the example motor-fault data, the int8 zoo model is within 2 points of the float model's accuracy."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import torch
import torch.nn.functional as F
from tinyml_tinyverse.common.compilation import compile_model
from tinyml_tinyverse.common.datasets import load_split, prepare_dataset
from tinyml_tinyverse.common.models import get_model
from tinyml_tinyverse.common.quantization import quantize_onnx


def test_int8_zoo_model_on_example_data(tmp_path):
    raw = tmp_path / "raw"
    cmd = [sys.executable, "-m", "tinyml_tinyverse.common.datasets.generators", "motor_fault", str(raw)]
    subprocess.run(cmd, check=True, capture_output=True)
    data_config = dict(variables=3, frame_size=128)
    prepare_dataset(raw, tmp_path / "ds", "classification", data_config=data_config, plots=False)
    train = load_split(tmp_path / "ds", "train", "classification", data_config, training=False)
    test = load_split(tmp_path / "ds", "test", "classification", data_config)

    torch.manual_seed(0)
    model = get_model("CLS_1k_NPU", input_features=128, variables=3, num_classes=len(train.class_names))
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    x, y = torch.from_numpy(train.X), torch.from_numpy(np.asarray(train.y))
    for _ in range(3):
        model.train()
        perm = torch.randperm(len(x))
        for i in range(0, len(x), 64):
            idx = perm[i : i + 64]
            opt.zero_grad()
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        float_acc = (model(torch.from_numpy(test.X)).argmax(1).numpy() == test.y).mean()
    assert float_acc > 0.8
    path = tmp_path / "model.onnx"
    torch.onnx.export(model, (torch.from_numpy(test.X[:1]),), str(path), dynamo=False, opset_version=13)

    q = quantize_onnx(path, train.X[:256], mode=1)
    int8_acc = (q.run_dequantized(test.X)[0].argmax(1) == test.y).mean()
    assert abs(int8_acc - float_acc) <= 0.02, (float_acc, int8_acc)

    report = compile_model(
        q, tmp_path / "compilation", target_device="F28P55", test_vectors=dict(x=test.X, y=test.y),
        class_names=train.class_names, data_config=data_config,
    )  # fmt: skip
    assert report.passed and report.npu_check == "passed" and report.num_vectors == 4 * len(train.class_names)
    assert (tmp_path / "compilation" / "artifacts" / "user_input_config.h").is_file()
