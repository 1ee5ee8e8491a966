"""Every vision and keyword-spotting zoo model compiles to C bit-exact with the integer reference
and fits a Cortex-M4F: the layers they need (depthwise convs, 2-D max pools, stride 2 in H and W,
non-square kernels, global average pool) work in today's compiler."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from tinyml_tinyverse.common.compilation import compile_model
from tinyml_tinyverse.common.compilation.compile import reference_outputs
from tinyml_tinyverse.common.compilation.devices import get_device
from tinyml_tinyverse.common.models import get_model
from tinyml_tinyverse.common.quantization import quantize_onnx
from tinyml_tinyverse.common.quantization.graph_ir import run_float
from tinyml_tinyverse.common.quantization.onnx_import import import_onnx, load_onnx_model
from tinyml_tinyverse.references.common.onnx_export import export_onnx, run_onnx

pytestmark = [
    pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]
torch.set_num_threads(1)

CASES = [
    ("Lenet5", (1, 28, 28)),
    ("Lenet5", (3, 32, 32)),
    ("IMG_CLS_1k", (1, 28, 28)),
    ("IMG_CLS_4k", (3, 32, 32)),
    ("IMG_CLS_20k", (1, 28, 28)),
    ("IMG_CLS_20k", (3, 32, 32)),
    ("KWS_4k", (1, 49, 10)),
    ("KWS_20k", (1, 49, 10)),
    ("KWS_80k", (1, 49, 10)),
    ("KWS_20k", (1, 49, 40)),  # log-mel features
]


def _model(name: str, shape: tuple[int, int, int]) -> torch.nn.Module:
    torch.manual_seed(0)
    model = get_model(name, input_features=shape[1:], variables=shape[0], num_classes=6)
    for module in model.modules():  # batch norms with statistics of their own, as after training
        if isinstance(module, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
    return model.eval()


@pytest.mark.parametrize("name, shape", CASES)
def test_zoo_model_compiles_bit_exact_and_fits_a_cortex_m4f(tmp_path, name, shape):
    model = _model(name, shape)
    onnx_path = export_onnx(model, shape, tmp_path / "model.onnx")
    x = np.random.default_rng(1).standard_normal((48, *shape)).astype(np.float32)
    report = compile_model(
        onnx_path, tmp_path / "c", target_device="CORTEX_M4F", calib_x=x, quantization=1,
        test_vectors={"x": x[:8], "y": np.arange(8) % 6}, task="classification",
    )  # fmt: skip
    assert report.passed and report.precision == "int8" and report.max_abs_diff == 0.0
    memory = report.memory
    device = get_device("CORTEX_M4F")
    assert memory["ram"]["static_bytes_measured"] < device.ram_bytes
    assert memory["flash"]["total_bytes"] < device.flash_bytes
    assert "malloc" not in (tmp_path / "c" / "artifacts" / "tinyml_model.c").read_text()
    # the compiler's reading of the graph is onnxruntime's: its float run equals onnxruntime's, and
    # the integer reference the C matches bit for bit stays close to it
    want = run_onnx(onnx_path, x)
    graph = import_onnx(load_onnx_model(onnx_path))
    got = run_float(graph, x)[graph.output_names[0]].reshape(want.shape)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
    int8 = reference_outputs(quantize_onnx(onnx_path, x), x)
    assert np.abs(int8 - want).max() < 0.1 * np.abs(want).max()
    assert np.mean(int8.argmax(1) == want.argmax(1)) >= 0.75


def test_float_model_compiles_within_tolerance(tmp_path):
    model = _model("KWS_4k", (1, 49, 10))
    onnx_path = export_onnx(model, (1, 49, 10), tmp_path / "model.onnx")
    x = np.random.default_rng(2).standard_normal((4, 1, 49, 10)).astype(np.float32)
    report = compile_model(
        onnx_path, tmp_path / "c", target_device="CORTEX_M4F", quantization=0, test_vectors={"x": x}
    )
    assert report.passed and report.precision == "float" and report.max_rel_diff <= 1e-5
