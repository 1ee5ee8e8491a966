"""Quantization-aware training: BN folding, fake quantization, finalize and ONNX export."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import numpy_helper
from tinyml_tinyverse.common.errors import ConfigError
from tinyml_tinyverse.common.quantization import quantize
from tinyml_tinyverse.common.quantization.qat import (
    ActFakeQuant,
    QATLayer,
    finalize_qat,
    fold_batchnorm,
    prepare_qat,
    qat_activation_ranges,
    qat_default_epochs,
    qat_default_lr,
)
from torch import nn


class TinyNet(nn.Module):
    """Conv-BN-ReLU x2 with a custom forward (traced by torch.fx), then GAP and Linear."""

    def __init__(self, classes: int = 3):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, (5, 1), padding=(2, 0), bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.features = nn.Sequential(
            nn.Conv2d(8, 8, (3, 1), stride=(2, 1), padding=(1, 0)), nn.BatchNorm2d(8), nn.ReLU()
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 16)
        self.bn_fc = nn.BatchNorm1d(16)
        self.head = nn.Linear(16, classes)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = self.pool(self.features(x)).flatten(1)
        return self.head(torch.relu(self.bn_fc(self.fc(x))))


class Untraceable(nn.Module):
    """Data-dependent control flow: torch.fx cannot trace it, folding falls back to Sequential."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv1d(2, 4, 3), nn.BatchNorm1d(4), nn.ReLU())

    def forward(self, x):
        if x.sum() > 0:
            x = x * 1.0
        return self.body(x)


def make_data(n: int = 192, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    t = torch.arange(32).float()
    freq = (y.float() + 1.0)[:, None] * 0.2
    x = torch.sin(freq * t[None, :]) + 0.3 * torch.randn(n, 32, generator=g)
    return x[:, None, :, None], y


def train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, lr: float) -> float:
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(epochs):
        for i in range(0, len(x), 32):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x[i : i + 32]), y[i : i + 32])
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def requantize_per_channel(w: np.ndarray, axis: int, bits: int, power_of_two: bool) -> np.ndarray:
    """What a post-training quantizer does to exported weights: per-channel symmetric round trip."""
    qmax = 2 ** (bits - 1) - 1
    dims = tuple(d for d in range(w.ndim) if d != axis)
    scale = np.abs(w).max(axis=dims, keepdims=True) / w.dtype.type(qmax)
    if power_of_two:
        scale = (2.0 ** np.ceil(np.log2(scale))).astype(w.dtype)
    q = np.clip(np.round(w / scale), -qmax, qmax)
    assert np.array_equal(q, np.round(q))
    return (q * scale).astype(w.dtype)


@pytest.fixture(scope="module")
def float_model():
    torch.manual_seed(0)
    x, y = make_data()
    model = TinyNet()
    acc = train(model, x, y, epochs=3, lr=0.01)
    assert acc > 0.6
    return model


def test_defaults():
    assert qat_default_epochs(20) == 10 and qat_default_epochs(200) == 40
    assert qat_default_lr(0.1) == pytest.approx(0.001)


def test_fold_batchnorm_equals_eval(float_model):
    x, _ = make_data(16, seed=1)
    folded = fold_batchnorm(float_model)
    assert not any(isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d) for m in folded.modules())
    assert folded.conv1.bias is not None  # bias created for a bias-free conv
    with torch.no_grad():
        torch.testing.assert_close(folded.eval()(x), float_model.eval()(x), atol=1e-5, rtol=1e-5)
    assert any(isinstance(m, nn.BatchNorm2d) for m in float_model.modules())  # original untouched

    model = Untraceable()
    model.body[1].running_mean.uniform_(-1, 1)
    model.body[1].running_var.uniform_(0.5, 2)
    model.eval()
    folded = fold_batchnorm(model)
    assert isinstance(folded.body[1], nn.Identity)
    xx = torch.randn(2, 2, 10)
    torch.testing.assert_close(folded(xx), model(xx), atol=1e-5, rtol=1e-5)


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")
def test_qat_mode1_trains_finalizes_and_exports(float_model, tmp_path):
    x, y = make_data()
    prepared = prepare_qat(float_model, mode=1, weight_bitwidth=8)
    assert isinstance(prepared.conv1, QATLayer) and isinstance(prepared.head, QATLayer)
    assert isinstance(prepared.bn1, nn.Identity)
    # The weight the layer computes with lies on an 8-bit per-channel grid.
    w = prepared.conv1.quantized_weight().detach().numpy()
    assert np.array_equal(requantize_per_channel(w, 0, 8, False), w)
    acc = train(prepared, x, y, epochs=2, lr=1e-3)
    assert acc > 0.6
    ranges = qat_activation_ranges(prepared)
    assert {"input", "conv1", "features.2", "head"} <= set(ranges)
    assert ranges["features.2"][0] >= 0.0  # a ReLU output never goes negative

    # Resume from a checkpoint: a freshly prepared copy takes the state dict.
    again = prepare_qat(float_model)
    again.load_state_dict(prepared.state_dict())

    final = finalize_qat(prepared)
    assert not any(isinstance(m, QATLayer | ActFakeQuant) for m in final.modules())
    assert not final._forward_pre_hooks and not final.training
    with torch.no_grad():
        prepared.eval()
        close = (final(x).argmax(1) == prepared(x).argmax(1)).float().mean()
    assert close > 0.9  # only the activation fake quantization differs

    for name, module in final.named_modules():
        if isinstance(module, nn.Conv2d | nn.Linear):
            w = module.weight.detach().numpy()
            assert np.array_equal(requantize_per_channel(w, 0, 8, False), w), name
            w64 = w.astype(np.float64)
            assert np.array_equal(requantize_per_channel(w64, 0, 8, False), w64), name
            # The PTQ weight quantizer finds the same grid again.
            wq, scales = quantize.weight_qparams(w, 8, 1)
            assert np.array_equal(wq * scales.reshape(-1, *[1] * (w.ndim - 1)), w64), name

    # Classic export: the initializers lie on the grid too, and onnxruntime agrees with torch.
    path = tmp_path / "qat.onnx"
    torch.onnx.export(final, (x[:1],), str(path), dynamo=False, input_names=["x"])
    proto = onnx.load(str(path))
    weights = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
    checked = 0
    for node in proto.graph.node:
        if node.op_type in ("Conv", "Gemm"):
            w = weights[node.input[1]]
            assert np.array_equal(requantize_per_channel(w, 0, 8, False), w), node.name
            checked += 1
    assert checked == 4  # conv1, features.0, fc, head
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = sess.run(None, {"x": x[:1].numpy()})[0]
    with torch.no_grad():
        np.testing.assert_allclose(out, final(x[:1]).numpy(), atol=1e-4, rtol=1e-4)

    # The chain the toolchain runs next: PTQ of the finalized model keeps the QAT model's answers.
    qgraph = quantize.quantize_onnx(path, x[:64].numpy(), mode=1)
    int_pred = qgraph.run_dequantized(x.numpy())[0].argmax(1)
    with torch.no_grad():
        assert (int_pred == final(x).argmax(1).numpy()).mean() > 0.9

    dyn = tmp_path / "qat_dynamo.onnx"
    torch.onnx.export(final, (x[:1],), str(dyn), dynamo=True)
    sess = ort.InferenceSession(str(dyn), providers=["CPUExecutionProvider"])
    out = sess.run(None, {sess.get_inputs()[0].name: x[:1].numpy()})[0]
    with torch.no_grad():
        np.testing.assert_allclose(out, final(x[:1]).numpy(), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("bits", [4, 2])
def test_qat_mode2_power_of_two_low_bit(float_model, bits):
    x, y = make_data(64)
    prepared = prepare_qat(float_model, mode=2, weight_bitwidth=bits)
    train(prepared, x, y, epochs=1, lr=1e-3)
    scale, _ = prepared.conv1.output_quant.qparams()
    assert float(scale) == 2.0 ** np.round(np.log2(float(scale)))  # activation scales: powers of two
    final = finalize_qat(prepared)
    qmax = 2 ** (bits - 1) - 1
    for name, module in final.named_modules():
        if isinstance(module, nn.Conv2d | nn.Linear):
            w = module.weight.detach().numpy()
            assert np.array_equal(requantize_per_channel(w, 0, bits, True), w), name
            wq, scales = quantize.weight_qparams(w, bits, 2)
            assert np.array_equal(wq * scales.reshape(-1, *[1] * (w.ndim - 1)), w.astype(np.float64)), name
            for row in w.reshape(w.shape[0], -1):
                assert len(np.unique(row)) <= 2 * qmax + 1


def test_transposed_conv_and_single_layer():
    model = nn.Sequential(nn.ConvTranspose2d(4, 6, (3, 1), stride=(2, 1)), nn.BatchNorm2d(6), nn.ReLU())
    model[1].running_mean.uniform_(-1, 1)
    prepared = prepare_qat(model.eval())
    prepared(torch.randn(2, 4, 8, 1))
    final = finalize_qat(prepared)
    w = final[0].weight.detach().numpy()  # (in, out, kh, kw): output channels on axis 1
    assert np.array_equal(requantize_per_channel(w, 1, 8, False), w)
    single = prepare_qat(nn.Linear(16, 4))
    single.train()(torch.randn(4, 16))
    final = finalize_qat(single)
    assert type(final) is nn.Linear
    w = final.weight.detach().numpy()
    assert np.array_equal(requantize_per_channel(w, 0, 8, False), w)


def test_errors():
    with pytest.raises(ConfigError, match="quantization: 2"):
        prepare_qat(TinyNet(), mode=1, weight_bitwidth=4)
    with pytest.raises(ConfigError, match="1 .generic int8. or 2"):
        prepare_qat(TinyNet(), mode=3)
    with pytest.raises(ConfigError, match="8, 4 or 2"):
        prepare_qat(TinyNet(), mode=2, weight_bitwidth=3)
    with pytest.raises(ConfigError, match="nothing to quantize"):
        prepare_qat(nn.Sequential(nn.ReLU()))
    with pytest.raises(ConfigError, match="not prepared"):
        finalize_qat(TinyNet())


@pytest.mark.parametrize("name", ["CLS_RES_3k", "AD_4k_NPU"])
def test_zoo_models_fold_every_batchnorm(name):
    from tinyml_tinyverse.common.models import get_model

    torch.manual_seed(0)
    model = get_model(name)
    x = torch.randn(4, *model.input_shape)
    model.train()(x)  # move the BN statistics away from their initial values
    model.eval()
    folded = fold_batchnorm(model)
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert not any(isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d) for m in folded.modules())
    with torch.no_grad():
        torch.testing.assert_close(folded(x), model(x), atol=1e-5, rtol=1e-4)
    prepared = prepare_qat(model, mode=2, weight_bitwidth=8)
    prepared.train()(x)
    final = finalize_qat(prepared)
    with torch.no_grad():
        assert final(x).shape == model(x).shape
