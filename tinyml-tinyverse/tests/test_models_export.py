"""Zoo models export to ONNX (classic opset 11 and dynamo opset 18) and onnxruntime matches torch."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from tinyml_tinyverse.common.models import get_model

CASES = [
    ("CLS_100_NPU", {}),
    ("CLS_4k_NPU", dict(variables=3)),  # permute + (k, 3) first conv
    ("CLS_RES_3k", {}),  # AddLayer skips
    ("TimeSeries_Generic_13k_t", dict(variables=3, num_classes=4)),
    ("REGR_500_NPU", dict(num_classes=2)),
    ("AD_500_NPU", dict(input_features=99, variables=3)),  # ceil_mode pools, crop back to 99
    ("FCST_500_NPU", dict(variables=2, horizon=3)),
]
ALLOWED_OPS = {
    "Conv", "BatchNormalization", "Relu", "MaxPool", "AveragePool", "GlobalAveragePool", "Flatten",
    "Reshape", "Gemm", "MatMul", "Add", "Transpose", "Resize", "Slice", "Constant", "Identity",
    "Concat", "Upsample",
}  # fmt: skip


def export_and_compare(model, path, batch=2, **kwargs):
    model.eval()
    x = torch.randn(batch, *model.input_shape)
    with torch.no_grad():
        expected = model(x).numpy()
    torch.onnx.export(model, (x,), str(path), input_names=["input"], output_names=["output"], **kwargs)
    graph = onnx.load(str(path))
    onnx.checker.check_model(graph)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    return graph


@pytest.mark.parametrize("name, kwargs", CASES)
def test_classic_export_opset_11(tmp_path, name, kwargs):
    model = get_model(name, **kwargs)
    for m in model.modules():  # non-trivial batch-norm statistics
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    graph = export_and_compare(model, tmp_path / f"{name}.onnx", opset_version=11, dynamo=False)
    ops = {n.op_type for n in graph.graph.node}
    assert ops <= ALLOWED_OPS, ops - ALLOWED_OPS
    assert graph.opset_import[0].version == 11


@pytest.mark.parametrize("name, kwargs", [CASES[1], CASES[2], CASES[5], CASES[6]])
def test_dynamo_export_opset_18(tmp_path, name, kwargs):
    model = get_model(name, **kwargs)
    export_and_compare(model, tmp_path / f"{name}.onnx", opset_version=18, dynamo=True)


@pytest.mark.parametrize("name, kwargs", [CASES[1], CASES[5], CASES[6]])
def test_compiler_quantizer_accepts_folded_and_odd_models(tmp_path, name, kwargs):
    """The ops the NPU zoo uses for several variables / odd lengths are ones the quantizer reads."""
    from tinyml_tinyverse.common.quantization import quantize_onnx

    model = get_model(name, **kwargs).eval()
    x = torch.randn(16, *model.input_shape)
    export_and_compare(model, tmp_path / "m.onnx", batch=1, opset_version=11, dynamo=False)
    qgraph = quantize_onnx(tmp_path / "m.onnx", x.numpy(), mode=1)
    with torch.no_grad():
        ref = model(x).numpy()
    got = np.asarray(qgraph.run_dequantized(x.numpy())).reshape(ref.shape)
    assert np.abs(got - ref).max() < 0.1 * np.abs(ref).max() + 1e-3


@pytest.mark.parametrize("name, kwargs", [("AD_500_NPU", dict(input_features=99, variables=3)), CASES[1]])
def test_npu_zoo_model_compiles_to_bit_exact_c(tmp_path, name, kwargs):
    """Folded first conv and odd-length autoencoder: C for the NPU device, checked on the host."""
    from tinyml_tinyverse.common.compilation.compile import compile_model

    torch.manual_seed(0)
    model = get_model(name, **kwargs).eval()
    x = torch.randn(16, *model.input_shape)
    export_and_compare(model, tmp_path / "m.onnx", batch=1, opset_version=11, dynamo=False)
    report = compile_model(
        tmp_path / "m.onnx",
        tmp_path / "out",
        calib_x=x.numpy(),
        quantization=2,
        test_vectors=dict(x=x[:4].numpy()),
    )
    assert report.passed and report.num_vectors == 4
