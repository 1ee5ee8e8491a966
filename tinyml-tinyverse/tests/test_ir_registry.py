"""The op registry: a new op is one file (plus its C) in a package of your own; unknown ops get near matches."""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest
import torch
import torch.nn as nn
from tinyml_tinyverse.common.compilation import compile_model
from tinyml_tinyverse.common.errors import CompilationError
from tinyml_tinyverse.common.ir import ONNX_OPS, OPS, add_op_package
from tinyml_tinyverse.common.ir.importer import import_onnx
from tinyml_tinyverse.common.quantization import quantize_onnx

SIGN_PY = '''
"""ONNX Sign as a compiler op: float run, quantization, integer run, QDQ export and C."""
import numpy as np

from tinyml_tinyverse.common.ir.op import ONNX_OPS, OPS, Op
from tinyml_tinyverse.common.ir.graph import QNode


@ONNX_OPS.register("Sign")
def translate_sign(imp, node, a):
    imp.add("sign", node, [node.input[0]])


class Sign(Op):
    name = "sign"
    output_qparams = (1.0, 0)  # outputs -1, 0, 1 exactly
    layout = "follow"

    def run_float(self, node, xs):
        return np.sign(xs[0]).astype(np.float32)

    def quantize(self, node, ins, out_q, bits, mode):
        return QNode("sign", node.name, list(node.inputs), list(node.outputs), dict(zp=ins[0]["zero_point"]))

    def run_int(self, node, xs):
        return np.sign(xs[0].astype(np.int64) - node.attrs["zp"]).astype(np.int8)

    def export_qdq(self, b, node, xs):
        return b.node("Sign", [xs[0]])

    def emit_c(self, em, step):
        node = step.node
        em.need(self, "sign")
        zp = f", {node.attrs['zp']}" if em.int8 else ""
        n = em.size(node.output)
        em.call(step.comment, f"tm_sign({em.ptr(node.inputs[0])}, {em.ptr(node.output)}, {n}{zp});")


OPS.register("sign", Sign())
'''

SIGN_C = """
/* @section int8_sign */
static void tm_sign(const int8_t *x, int8_t *y, int32_t n, int32_t zp)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        y[i] = (int8_t)(x[i] > zp ? 1 : (x[i] < zp ? -1 : 0));
    }
}

/* @section float_sign */
static void tm_sign(const float *x, float *y, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        y[i] = x[i] > 0.0f ? 1.0f : (x[i] < 0.0f ? -1.0f : 0.0f);
    }
}
"""


class UsesSign(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(2, 4, (3, 1), padding=(1, 0))
        self.fc = nn.Linear(4 * 8, 3)

    def forward(self, x):
        return self.fc(torch.sign(self.c(x)).flatten(1))


@pytest.fixture
def sign_package(tmp_path, monkeypatch):
    pkg = tmp_path / "my_tinyml_ops"
    pkg.mkdir()
    (pkg / "__init__.py").write_text('"""My compiler ops."""\n')
    (pkg / "sign.py").write_text(textwrap.dedent(SIGN_PY))
    (pkg / "sign.c").write_text(SIGN_C)
    monkeypatch.syspath_prepend(str(tmp_path))
    saved = [(reg, list(reg.locations), reg._loaded) for reg in (ONNX_OPS, OPS)]
    yield "my_tinyml_ops"
    for reg, locations, loaded in saved:  # leave the global registries as they were
        reg.locations[:] = locations
        reg._loaded = loaded
        dict.pop(reg, "Sign", None)
        dict.pop(reg, "sign", None)
    sys.modules.pop("my_tinyml_ops.sign", None)
    sys.modules.pop("my_tinyml_ops", None)


def _export(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "sign.onnx"
    torch.onnx.export(
        UsesSign().eval(), (torch.randn(1, 2, 8, 1),), str(path), dynamo=False, opset_version=13
    )
    return path


def test_a_new_op_from_a_file_in_a_package_compiles(sign_package, tmp_path):
    path = _export(tmp_path)
    with pytest.raises(CompilationError, match=r"\(op Sign\) is not supported.*did you mean 'Sigmoid'"):
        import_onnx(path)  # before the package joins: the registry's near-match error
    add_op_package(sign_package)
    x = np.random.default_rng(0).standard_normal((32, 2, 8, 1)).astype(np.float32)
    q = quantize_onnx(path, x)
    assert [n.op for n in q.nodes].count("sign") == 1
    report = compile_model(q, tmp_path / "int8", target_device="CORTEX_M4F", test_vectors=dict(x=x[:8]))
    assert report.passed and report.max_abs_diff == 0
    assert "tm_sign(" in (tmp_path / "int8" / "artifacts" / "tinyml_model.c").read_text()
    float_report = compile_model(path, tmp_path / "float", target_device="CORTEX_M4F", quantization=0)
    assert float_report.passed and float_report.max_rel_diff <= 1e-5
    # the QDQ export of the new op runs in onnxruntime
    import onnxruntime as ort

    session = ort.InferenceSession(
        str(q.save_qdq_onnx(tmp_path / "q.onnx")), providers=["CPUExecutionProvider"]
    )
    y = session.run(None, {session.get_inputs()[0].name: x[:4]})[0]
    assert np.abs(y - q.run_dequantized(x[:4])[0]).max() <= 2 * q.output_scales[0]


def test_unknown_ir_op_gets_near_matches():
    from tinyml_tinyverse.common.ir.graph import QNode
    from tinyml_tinyverse.common.ir.op import op_of

    with pytest.raises(
        CompilationError, match=r"node 'n1': unknown compiler op 'maxpol'; did you mean 'maxpool'"
    ):
        op_of(QNode("maxpol", "n1", ["x"], ["y"]))
