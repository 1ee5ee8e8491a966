"""ONNX graphs from torch exports as NPU layer records, and the NPU rules on them."""

from __future__ import annotations

import onnx
import pytest
import torch
from tinyml_tinyverse.common.compilation.onnx_layers import check_onnx_npu_rules, onnx_to_layer_infos
from tinyml_tinyverse.common.errors import CompilationError
from tinyml_tinyverse.common.npu_rules import LayerInfo
from torch import nn

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")


def npu_friendly() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 4, (5, 1), padding=(2, 0)),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d((2, 1)),
        nn.Conv2d(4, 8, (3, 1), stride=(2, 1), padding=(1, 0)),
        nn.ReLU(),
        nn.Conv2d(8, 8, (3, 1), padding=(1, 0), groups=8),  # depthwise
        nn.Conv2d(8, 16, 1),  # pointwise
        nn.AvgPool2d((2, 1)),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, 16),
        nn.ReLU(),
        nn.Linear(16, 3),
    ).eval()


def npu_breaker() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(2, 6, (3, 10), padding=(1, 0)),  # first conv: 2 in channels, 6 out, kernel width 10
        nn.ReLU(),
        nn.MaxPool2d((5, 1)),  # kernel taller than 4
        nn.Conv2d(6, 8, (9, 1), stride=(3, 1)),  # channels, kernel height, stride
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 4),  # fewer than 16 input features
    ).eval()


def export(model: nn.Module, shape: tuple[int, ...], path, dynamo: bool = False, **kw) -> onnx.ModelProto:
    torch.onnx.export(model, (torch.randn(*shape),), str(path), dynamo=dynamo, **kw)
    return onnx.load(str(path))


def test_records_of_a_classic_export(tmp_path):
    proto = export(npu_friendly(), (1, 1, 64, 1), tmp_path / "m.onnx")
    layers = onnx_to_layer_infos(proto)
    assert [li.op for li in layers] == [
        "conv",
        "maxpool",
        "conv",
        "conv",
        "conv",
        "avgpool",
        "global_avgpool",
        "linear",
        "linear",
    ]
    first, pool, strided, dw, pw, avg, gap, fc1, fc2 = layers
    assert first == LayerInfo(
        name=first.name,
        op="conv",
        in_shape=(1, 64, 1),
        out_shape=(4, 64, 1),
        in_channels=1,
        out_channels=4,
        kernel=(5, 1),
        stride=(1, 1),
        groups=1,
        is_first=True,
    )
    assert not any(li.is_first for li in layers[1:])
    assert pool.kernel == (2, 1) and pool.stride == (2, 1) and pool.out_shape == (4, 32, 1)
    assert strided.stride == (2, 1) and strided.out_shape == (8, 16, 1)
    assert dw.groups == 8 and dw.in_channels == dw.out_channels == 8
    assert pw.kernel == (1, 1) and pw.out_channels == 16
    assert avg.out_shape == (16, 8, 1)
    assert gap.in_shape == (16, 8, 1) and gap.out_shape == (16, 1, 1)
    assert (fc1.in_shape, fc1.in_channels, fc1.out_channels) == ((16,), 16, 16)
    assert fc2.out_shape == (3,)
    assert check_onnx_npu_rules(proto) == []
    assert check_onnx_npu_rules(tmp_path / "m.onnx") == []  # a path works too


def test_violations_are_caught_on_the_graph(tmp_path):
    proto = export(npu_breaker(), (1, 2, 64, 10), tmp_path / "bad.onnx")
    violations = check_onnx_npu_rules(proto)
    rules = {v.rule for v in violations}
    assert rules == {
        "first_conv_in_channels",
        "first_conv_out_channels",
        "first_conv_kernel_width",
        "maxpool_kernel",
        "conv_channels",
        "conv_kernel_height",
        "conv_stride",
        "global_avgpool_input",  # 64 -> pool 5 -> 12 -> conv 9 stride 3 -> H*W = 2
        "linear_in_features",
    }
    layer_names = {li.name for li in onnx_to_layer_infos(proto)}
    assert all(v.layer in layer_names and v.layer in v.message for v in violations)
    # 4-bit weights lower the linear minimum to 8 input features.
    assert "linear_in_features" not in {v.rule for v in check_onnx_npu_rules(proto, weight_bitwidth=4)}


def test_dynamo_export_gives_the_same_records(tmp_path):
    classic = onnx_to_layer_infos(export(npu_friendly(), (1, 1, 64, 1), tmp_path / "c.onnx"))
    program = torch.onnx.export(npu_friendly(), (torch.randn(1, 1, 64, 1),), dynamo=True, verbose=False)
    proto = onnx.inliner.inline_local_functions(program.model_proto)
    dynamo = onnx_to_layer_infos(proto)
    assert onnx_to_layer_infos(program.model_proto) == dynamo  # inlined on its own when needed

    def strip(records):
        return [
            (r.op, r.in_shape, r.out_shape, r.in_channels, r.out_channels, r.kernel, r.stride, r.groups)
            for r in records
        ]

    assert strip(dynamo) == strip(classic)
    program = torch.onnx.export(npu_breaker(), (torch.randn(1, 2, 64, 10),), dynamo=True, verbose=False)
    assert {v.rule for v in check_onnx_npu_rules(program.model_proto)} >= {
        "maxpool_kernel",
        "linear_in_features",
    }


def test_conv1d_transposed_and_matmul(tmp_path):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv1d(3, 8, 5, stride=2)
            self.up = nn.ConvTranspose1d(8, 4, 3, stride=2, groups=2)
            self.w = nn.Parameter(torch.randn(4, 6))

        def forward(self, x):
            y = self.up(self.conv(x))  # (N, 4, L)
            z = y.transpose(1, 2) @ self.w  # MatMul with a constant weight: a linear layer
            return z @ z.transpose(1, 2)  # MatMul of two activations: not a layer

    layers = onnx_to_layer_infos(export(Net().eval(), (1, 3, 40), tmp_path / "n.onnx"))
    conv, up, lin, other = layers
    assert conv.in_shape == (3, 40, 1) and conv.kernel == (5, 1) and conv.stride == (2, 1) and conv.is_first
    assert (
        up.op == "conv_transpose" and up.out_channels == 4 and up.groups == 2 and up.out_shape == (4, 37, 1)
    )
    assert lin.op == "linear" and (lin.in_channels, lin.out_channels) == (4, 6)
    assert other.op == "other"


def test_dynamic_time_axis_is_an_error(tmp_path):
    proto = export(
        npu_friendly(),
        (1, 1, 64, 1),
        tmp_path / "d.onnx",
        input_names=["x"],
        dynamic_axes={"x": {0: "batch", 2: "time"}},
    )
    with pytest.raises(CompilationError, match=r"dynamic shape.*fixed input size"):
        onnx_to_layer_infos(proto)
    batch_only = export(
        npu_friendly(),
        (1, 1, 64, 1),
        tmp_path / "b.onnx",
        input_names=["x"],
        dynamic_axes={"x": {0: "batch"}},
    )
    assert len(onnx_to_layer_infos(batch_only)) == 9
    with pytest.raises(CompilationError, match="cannot read ONNX model"):
        onnx_to_layer_infos(tmp_path / "missing.onnx")


@pytest.mark.parametrize("name", ["CLS_13k_NPU", "CLS_RES_3k", "AD_4k_NPU", "FCST_4k_NPU", "REGR_500_NPU"])
def test_same_records_as_the_torch_side(name, tmp_path):
    """The compiler's records of the ONNX graph equal the models side's records of the torch model."""
    from tinyml_tinyverse.common.models import get_model
    from tinyml_tinyverse.common.models.describe import describe_model

    def strip(records):
        return [
            (r.op, tuple(r.in_shape), tuple(r.out_shape), r.in_channels, r.out_channels)
            + (tuple(r.kernel), tuple(r.stride), r.groups, r.is_first)
            for r in records
        ]

    model = get_model(name).eval()
    proto = export(model, (1, *model.input_shape), tmp_path / "m.onnx")
    assert strip(onnx_to_layer_infos(proto)) == strip(describe_model(model, model.input_shape))


def test_zoo_models_on_their_onnx_graph(tmp_path):
    from tinyml_tinyverse.common.models import get_model

    npu = get_model("CLS_4k_NPU").eval()
    assert check_onnx_npu_rules(export(npu, (1, *npu.input_shape), tmp_path / "npu.onnx")) == []
    general = get_model("CLS_1k").eval()  # odd channel counts and a wide first kernel: not for the NPU
    violations = check_onnx_npu_rules(export(general, (1, *general.input_shape), tmp_path / "gen.onnx"))
    assert {"first_conv_out_channels", "conv_channels"} <= {v.rule for v in violations}
