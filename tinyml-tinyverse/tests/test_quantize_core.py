"""Quantization core: the rounding rule, PTQ, the integer reference, save/load and QDQ ONNX."""

from __future__ import annotations

import math
import random
from fractions import Fraction

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from tinyml_tinyverse.common.errors import CompilationError, ConfigError, DataError, UnknownNameError
from tinyml_tinyverse.common.quantization import load_quantized_graph, quantize_onnx
from tinyml_tinyverse.common.quantization.graph_ir import run_float
from tinyml_tinyverse.common.quantization.onnx_import import import_onnx
from tinyml_tinyverse.common.quantization.qdq_import import import_qdq
from tinyml_tinyverse.common.quantization.rounding import (
    common_shift_multipliers,
    quantize_multiplier,
    requant,
    round_div,
)


# -- the rounding rule -----------------------------------------------------------------------------
def test_quantize_multiplier_is_a_q31_mantissa():
    rng = random.Random(0)
    for _ in range(2000):
        real = 10 ** rng.uniform(-7, 3)
        mult, shift = quantize_multiplier(real)
        assert 2**30 <= mult < 2**31
        assert abs(mult * 2.0**-shift - real) <= real * 2**-30
    assert quantize_multiplier(0.0) == (0, 1)
    assert quantize_multiplier(0.5) == (2**30, 31)  # powers of two are exact: requant is a shift
    with pytest.raises(CompilationError):
        quantize_multiplier(2.0**31)


def test_requant_rounds_half_up_exactly():
    rng = random.Random(1)
    acc = np.array([rng.randint(-(2**31), 2**31 - 1) for _ in range(3000)], dtype=np.int64)
    mult = np.array([rng.randint(2**30, 2**31 - 1) for _ in range(3000)], dtype=np.int64)
    shift = np.array([rng.randint(1, 62) for _ in range(3000)], dtype=np.int64)
    got = requant(acc, mult, shift)
    for a, m, s, g in zip(acc.tolist(), mult.tolist(), shift.tolist(), got.tolist()):
        assert g == math.floor(Fraction(a * m, 2**s) + Fraction(1, 2))
    # ties go up (towards +inf), also for negative values
    assert requant(np.array([3, -3, 1, -1]), 2**30, 31).tolist() == [2, -1, 1, 0]


def test_round_div_and_common_shift():
    assert round_div(np.array([5, -5, 4, -4, 7]), 2).tolist() == [3, -2, 2, -2, 4]
    mults, shift = common_shift_multipliers([0.75, 0.1])
    assert (
        max(mults) < 2**30
        and abs(mults[0] / 2**shift - 0.75) < 1e-8
        and abs(mults[1] / 2**shift - 0.1) < 1e-8
    )


# -- small models --------------------------------------------------------------------------------
class TinyClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 8, (5, 1), padding=(2, 0))
        self.bn = nn.BatchNorm2d(8)
        self.dw = nn.Conv2d(8, 8, (3, 1), padding=(1, 0), groups=8)
        self.fc = nn.Linear(8 * 8, 3)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn(self.conv(x))), (2, 1))
        x = F.relu6(self.dw(x))
        return self.fc(torch.flatten(x, 1))


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(2, 4, (3, 1), padding=(1, 0))
        self.b = nn.Conv2d(4, 4, (3, 1), padding=(1, 0))
        self.up = nn.ConvTranspose2d(4, 2, (2, 1), stride=(2, 1))
        self.fc = nn.Linear(10, 4)

    def forward(self, x):
        h = F.relu(self.a(x))
        h = F.relu(self.b(h) + h)
        g = torch.cat([torch.sigmoid(h), torch.tanh(h) * 0.5], 1).mean(dim=(2, 3))
        u = self.up(F.avg_pool2d(h, (2, 1)))  # back to the input length
        return torch.softmax(self.fc(torch.cat([g, u.mean(dim=(2, 3)) - 0.25], 1)), -1)


def _export(model: nn.Module, shape, path, dynamo=False) -> str:
    torch.manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    model.eval()
    kwargs = {} if dynamo else dict(opset_version=13)
    torch.onnx.export(model, (torch.randn((1, *shape)),), str(path), dynamo=dynamo, **kwargs)
    return str(path)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("qmodels")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((160, 2, 16, 1)).astype(np.float32)
    return dict(
        cls=_export(TinyClassifier(), (2, 16, 1), d / "cls.onnx"),
        res=_export(Residual(), (2, 16, 1), d / "res.onnx"),
        x=x,
        dir=d,
    )


def test_ptq_int8_tracks_the_float_model(models):
    x = models["x"]
    graph = import_onnx(models["cls"])
    assert [n.op for n in graph.nodes] == [
        "conv",
        "maxpool",
        "conv",
        "reshape",
        "dense",
    ]  # BN and ReLU folded
    ref = run_float(graph, x)[graph.output_names[0]]
    session = ort.InferenceSession(models["cls"], providers=["CPUExecutionProvider"])
    ort_out = np.concatenate(
        [session.run(None, {session.get_inputs()[0].name: x[i : i + 1]})[0] for i in range(8)]
    )
    np.testing.assert_allclose(ref[:8], ort_out, atol=1e-5)  # the importer's float graph is the ONNX model
    q = quantize_onnx(models["cls"], x, mode=1)
    out = q.run_dequantized(x)[0]
    span = np.abs(ref).max()
    assert np.abs(out - ref).max() < 0.05 * span
    assert (out.argmax(1) == ref.argmax(1)).mean() >= 0.9
    assert out.dtype == np.float32 and out.shape == ref.shape
    ints = q.run_int(q.quantize_input(x))
    assert ints[0].dtype == np.int8


def test_mode2_power_of_two_and_sub_byte_weights(models):
    x = models["x"]
    for bits, qmax in ((8, 127), (4, 7), (2, 1)):
        q = quantize_onnx(models["cls"], x, mode=2, weight_bitwidth=bits)
        for t in q.tensors.values():
            assert math.log2(t["scale"]) == round(math.log2(t["scale"]))
        for n in q.nodes:
            if n.op in ("conv", "dense"):
                assert np.abs(n.arrays["w"]).max() <= qmax
                assert (n.arrays["mult"] == 2**30).all()  # requantization is a pure shift
    with pytest.raises(ConfigError, match="weight_bitwidth"):
        quantize_onnx(models["cls"], x, weight_bitwidth=3)
    with pytest.raises(ConfigError, match="mode"):
        quantize_onnx(models["cls"], x, mode=3)


def test_observers_and_bad_calibration(models):
    x = models["x"]
    for name in ("percentile", "mse"):
        q = quantize_onnx(models["cls"], x, observer=name)
        assert q.input_scale > 0
    with pytest.raises(UnknownNameError, match="minmax"):
        quantize_onnx(models["cls"], x, observer="minmaxx")
    with pytest.raises(DataError, match="does not fit the model input"):
        quantize_onnx(models["cls"], x[:, :1])
    with pytest.raises(DataError, match="NaN"):
        quantize_onnx(models["cls"], np.full_like(x[:4], np.nan))


def test_save_load_and_qdq_onnx(models):
    x = models["x"]
    q = quantize_onnx(models["res"], x)
    ops = {n.op for n in q.nodes}
    assert {"add", "concat", "lut", "softmax", "conv_transpose", "avgpool", "sub", "mul"} <= ops
    path = q.save(models["dir"] / "res_q.npz")
    with np.load(path, allow_pickle=False) as data:  # no pickle inside
        assert "header" in data
    q2 = load_quantized_graph(path)
    xi = q.quantize_input(x)
    for a, b in zip(q.run_int(xi), q2.run_int(xi)):
        np.testing.assert_array_equal(a, b)
    assert q2.input_scale == q.input_scale and q2.output_zero_points == q.output_zero_points

    qdq = q.save_qdq_onnx(models["dir"] / "res_qdq.onnx")
    onnx.checker.check_model(onnx.load(str(qdq)))
    session = ort.InferenceSession(str(qdq), providers=["CPUExecutionProvider"])
    y_ort = session.run(None, {session.get_inputs()[0].name: x})[0]
    y_ref = q.run_dequantized(x)[0]
    assert np.abs(y_ort - y_ref).max() <= q.output_scales[0] * 1.001  # within 1 LSB

    q3 = import_qdq(qdq)  # the QDQ model's own scales give back the same integer model
    for a, b in zip(q.run_int(xi), q3.run_int(xi)):
        np.testing.assert_array_equal(a, b)


def test_quantize_input_rule_and_int_only_reference(models):
    q = quantize_onnx(models["cls"], models["x"])
    s, zp = q.input_scale, q.input_zero_point
    x = np.zeros((1, 2, 16, 1), np.float32)
    x[0, 0, :5, 0] = [0.5 * s, -0.5 * s, 1.5 * s, 1e9, -1e9]
    expected = np.clip(np.array([1 + zp, -1 + zp, 2 + zp, 127, -128]), -128, 127)
    got = q.quantize_input(x)[0, 0, :5, 0]
    np.testing.assert_array_equal(got, expected)  # half away from zero, saturated
    with pytest.raises(TypeError, match="int8"):
        q.run_int(models["x"])
    with pytest.raises(CompilationError, match="does not match"):
        q.run_int(np.zeros((1, 3, 16, 1), np.int8))


def test_import_errors_name_the_node_and_op(tmp_path):
    class Floor(nn.Module):
        def forward(self, x):
            return torch.floor(x) + 1

    p = _export(Floor(), (1, 4, 1), tmp_path / "floor.onnx")
    with pytest.raises(CompilationError, match=r"node '.*Floor.*' \(op Floor\) is not supported"):
        import_onnx(p)

    class Two(nn.Module):
        def forward(self, x, y):
            return x + y

    torch.onnx.export(Two(), (torch.randn(1, 2), torch.randn(1, 2)), str(tmp_path / "two.onnx"), dynamo=False)
    with pytest.raises(CompilationError, match="2 inputs"):
        import_onnx(tmp_path / "two.onnx")

    lin = nn.Linear(4, 2)
    torch.onnx.export(
        lin, (torch.randn(1, 4),), str(tmp_path / "dyn.onnx"), dynamo=False,
        input_names=["x"], dynamic_axes={"x": {0: "batch", 1: "features"}},
    )  # fmt: skip
    with pytest.raises(CompilationError, match="dynamic dimension 1"):
        import_onnx(tmp_path / "dyn.onnx")
    with pytest.raises(CompilationError, match="not found"):
        import_onnx(tmp_path / "missing.onnx")
