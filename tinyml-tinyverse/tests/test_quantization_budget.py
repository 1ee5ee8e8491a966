"""Mixed-precision weights (per-layer widths, bit-exact C) and quantization held to an accuracy budget."""

from __future__ import annotations

import argparse
import re

import numpy as np
import pytest
import torch
from tinyml_tinyverse.common.compilation import compile_model
from tinyml_tinyverse.common.datasets.timeseries_dataset import SplitData
from tinyml_tinyverse.common.models import get_model
from tinyml_tinyverse.common.quantization import load_quantized_graph, quantize_onnx
from tinyml_tinyverse.common.quantization.mixed_precision import (
    LayerQuantizer,
    choose_layer_bits,
    drop,
    outputs,
)
from tinyml_tinyverse.common.quantization.qat import module_paths_of_layers, prepare_qat
from tinyml_tinyverse.references.common.onnx_export import export_onnx
from tinyml_tinyverse.references.common.quantization_budget import QuantizationBudgetError
from tinyml_tinyverse.references.common.quantize import quantize_best_model
from tinyml_tinyverse.references.common.tasks import get_task
from torch import nn


def zoo_onnx(tmp_path, name="CLS_1k_NPU"):
    torch.manual_seed(0)
    model = get_model(name, input_features=128, variables=1, num_classes=3).eval()
    x = np.random.default_rng(0).standard_normal((64, 1, 128, 1)).astype(np.float32)
    return model, export_onnx(model, [1, 128, 1], tmp_path / "model.onnx"), x


def test_mixed_precision_weights_compile_to_bit_exact_c(tmp_path):
    _, path, x = zoo_onnx(tmp_path)
    q8 = quantize_onnx(path, x, mode=2)
    layers = list(q8.layer_bits)
    bits = {layers[0]: 4, layers[1]: 2, layers[-1]: 4}  # the others stay 8-bit
    q = quantize_onnx(path, x, mode=2, weight_bitwidth=bits)
    assert q.layer_bits == {name: bits.get(name, 8) for name in layers} and q.weight_bitwidth == 2
    assert load_quantized_graph(q.save(tmp_path / "q.npz")).layer_bits == q.layer_bits
    report = compile_model(q, tmp_path / "c", target_device="CORTEX_M4F", test_vectors={"x": x[:8]},
                           preset_name="compress_npu_layer_data")  # fmt: skip
    assert report.passed and report.max_abs_diff == 0  # host build and the emulated Cortex-M4 build
    assert report.memory["quantization"]["layer_bits"] == q.layer_bits  # the memory report shows each width
    source = (tmp_path / "c" / "artifacts" / "tinyml_model.c").read_text()
    packed = re.findall(r"static const uint8_t (\w+)_w\[", source)
    assert len(packed) == len(
        [b for b in q.layer_bits.values() if b < 8]
    )  # only the narrow layers are packed
    unpacked = compile_model(q8, tmp_path / "c8", target_device="CORTEX_M4F", test_vectors={"x": x[:8]},
                             preset_name="compress_npu_layer_data")  # fmt: skip
    assert report.memory["flash"]["weights_bytes"] < unpacked.memory["flash"]["weights_bytes"]


def test_per_layer_widths_reach_qat_by_module_path(tmp_path):
    model, path, x = zoo_onnx(tmp_path)
    layers = list(quantize_onnx(path, x, mode=2).layer_bits)
    paths = module_paths_of_layers(model, layers)
    assert paths[layers[0]].endswith("conv1.conv") and len(set(paths.values())) == len(layers)
    prepared = prepare_qat(model, mode=2, weight_bitwidth={paths[layers[0]]: 4})
    widths = {
        p: m.weight_quant.bitwidth for p, m in prepared.named_modules() if getattr(m, "weight_quant", None)
    }
    assert widths[paths[layers[0]]] == 4 and sorted(set(widths.values())) == [4, 8]


def test_choose_layer_bits_keeps_the_model_within_the_budget(tmp_path):
    _, path, x = zoo_onnx(tmp_path)
    from tinyml_tinyverse.common.ir.graph import run_float
    from tinyml_tinyverse.common.ir.importer import import_onnx

    graph = import_onnx(str(path))
    ref = run_float(graph, x)[graph.output_names[0]].argmax(1)

    def agreement(y):  # the "accuracy" against the float model's answers
        return float((y.argmax(1) == ref).mean())

    lq = LayerQuantizer(graph, x, mode=2)
    loose, _ = choose_layer_bits(lq, x, agreement, 1.0, budget=1.0, maximize=True)
    assert set(loose.values()) == {4}
    strict, sens = choose_layer_bits(lq, x, agreement, 1.0, budget=0.02, maximize=True)
    assert len(sens) == len(lq.layers)
    assert drop(1.0, agreement(outputs(lq.quantize(strict), x)), True) <= 0.02
    assert set(strict.values()) <= {4, 8}


class TwoInputs(nn.Module):
    """Class = sign of a tiny second channel; the first channel spans +-100 and carries nothing."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 2)
        with torch.no_grad():
            self.fc.weight.copy_(torch.tensor([[0.0, 100.0], [0.0, -100.0]]))
            self.fc.bias.zero_()

    def forward(self, x):
        return self.fc(x.flatten(1))


def split(n: int, seed: int) -> SplitData:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = np.stack([rng.uniform(-100, 100, n), np.where(y == 0, 0.01, -0.01)], axis=1).astype(np.float32)
    return SplitData(
        x.reshape(n, 2, 1, 1), y.astype(np.int64), np.zeros(n, np.int64), ["f"], ["pos", "neg"], {}
    )


class TwoLayers(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.a, self.b = nn.Linear(16, 16), nn.Linear(16, 3)

    def forward(self, x):
        return self.b(torch.relu(self.a(x.flatten(1))))


def labelled_by(model: nn.Module, n: int, seed: int) -> SplitData:
    """Gaussian windows labelled by the float model itself: its accuracy is 1."""
    x = np.random.default_rng(seed).standard_normal((n, 16, 1, 1)).astype(np.float32)
    with torch.no_grad():
        y = model(torch.from_numpy(x)).argmax(1).numpy().astype(np.int64)
    return SplitData(x, y, np.zeros(n, np.int64), ["f"], ["a", "b", "c"], {})


def budget_args(tmp_path, **kw) -> argparse.Namespace:
    return argparse.Namespace(**{
        "output_dir": str(tmp_path), "quantization_output_dir": str(tmp_path / "q"), "quantization": 1,
        "quantization_method": "PTQ", "quantization_weight_bitwidth": 8, "calibration_observer": "minmax",
        "quantization_accuracy_budget": 0.01, "qat_epochs": 1, "epochs": 2, "lr": 1e-3, "optimizer": "adamw",
        "weight_decay": 0.0, "momentum": 0.9, "batch_size": 16, "seed": 0, "device": "cpu", "no_progress": True,
        "opset": 17, **kw,
    })  # fmt: skip


def test_auto_widths_mix_8_and_4_bits_by_sensitivity_and_compile_bit_exact(tmp_path):
    """The less sensitive layer goes to 4 bits, the other stays at 8 (both at 4 would be over the budget);
    the mixed model compiles to C that equals the integer reference on the host and the emulated Cortex-M4."""
    from tinyml_tinyverse.common.ir.graph import run_float
    from tinyml_tinyverse.common.ir.importer import import_onnx

    model = TwoLayers().eval()
    path = export_onnx(model, [16, 1, 1], tmp_path / "model.onnx")
    x = labelled_by(model, 200, 1).X
    graph = import_onnx(str(path))
    ref = run_float(graph, x)[graph.output_names[0]].argmax(1)

    def accuracy(y):
        return float((y.argmax(1) == ref).mean())

    lq = LayerQuantizer(graph, x[:128], mode=2)
    bits, sens = choose_layer_bits(lq, x, accuracy, 1.0, budget=0.04, maximize=True)
    alone = {s.layer: s.score for s in sens}
    assert alone["/a/Gemm"] < alone["/b/Gemm"] < 1.0 and bits == {"/a/Gemm": 8, "/b/Gemm": 4}
    assert drop(1.0, accuracy(outputs(lq.quantize(bits), x)), True) <= 0.04
    assert drop(1.0, accuracy(outputs(lq.quantize({"/a/Gemm": 4, "/b/Gemm": 4}), x)), True) > 0.04
    report = compile_model(lq.quantize(bits), tmp_path / "c", target_device="CORTEX_M4F", test_vectors={"x": x[:8]},
                           preset_name="compress_npu_layer_data")  # fmt: skip
    assert report.passed and report.max_abs_diff == 0
    assert report.memory["quantization"]["layer_bits"] == bits


def test_accuracy_budget_remedies_run_in_order_until_one_is_within_it(tmp_path):
    """2-bit weights lose a quarter of the accuracy; neither QAT at 2 bits nor another observer wins it
    back, 8-bit weights for the sensitive layers do (on the float model: QAT's weights sit on the 2-bit grid)."""
    model = TwoLayers().eval()
    export_onnx(model, [16, 1, 1], tmp_path / "model.onnx")
    splits = {
        "train": labelled_by(model, 256, 0),
        "val": labelled_by(model, 200, 1),
        "test": labelled_by(model, 16, 2),
    }
    args = budget_args(
        tmp_path, quantization=2, quantization_weight_bitwidth=2, quantization_accuracy_budget=0.03
    )
    task = get_task("classification")
    info = quantize_best_model(
        args, task, model, splits, nn.CrossEntropyLoss(), {}, {"input_shape": [16, 1, 1]}
    )
    attempts = info["accuracy_budget"]["attempts"]
    assert [a["what"].split(",")[0] for a in attempts] == ["as configured", "remedy 1", "remedy 2", "remedy 2",
                                                           "remedy 3", "remedy 3"]  # fmt: skip
    assert attempts[0]["drop"] > 0.1 and all(a["drop"] > 0.03 for a in attempts[:-1])
    assert attempts[-1]["drop"] <= 0.03 and info["accuracy_budget"]["int8"] == attempts[-1]["val_accuracy"]
    assert info["kept"] == "PTQ" and info["layer_bits"] == {"/a/Gemm": 8, "/b/Gemm": 8}
    assert info["val"]["accuracy"] >= 0.97  # the kept model is the one that met the budget
    assert not (tmp_path / "q" / "model_qat_remedy.onnx").exists()  # the QAT remedy that lost is not left


def test_accuracy_budget_failure_stops_with_the_per_class_and_per_layer_tables(tmp_path):
    """Per-tensor int8 input quantization erases the small channel: no remedy can bring accuracy back."""
    model = TwoInputs().eval()
    export_onnx(model, [2, 1, 1], tmp_path / "model.onnx")
    splits = {"train": split(64, 0), "val": split(40, 1), "test": split(16, 2)}
    args = budget_args(tmp_path)
    task = get_task("classification")
    with pytest.raises(QuantizationBudgetError) as err:
        quantize_best_model(args, task, model, splits, nn.CrossEntropyLoss(), {}, {"input_shape": [2, 1, 1]})
    text = str(err.value)
    assert "val accuracy 1.0000 float" in text and "budget 0.01" in text
    assert re.search(r"pos\s+\d+\s+1\.0000\s+\d\.\d+", text)  # per class: float recall 1.0, then int8
    assert "Per-layer sensitivity" in text and re.search(r"input\s+input\s+-\s+-\s+0\.[0-9]+", text)
    assert "remedy" not in text or "more QAT epochs" in text
    report = (tmp_path / "q" / "quantization_budget.yaml").read_text()
    assert "remedy 1, more QAT epochs" in report and "remedy 2, percentile observer" in report
    assert not (tmp_path / "q" / "model_qdq.onnx").exists()  # nothing that looks like a finished model
