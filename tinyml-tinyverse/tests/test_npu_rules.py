"""NPU rules: each rule catches a layer that breaks it, on records and on real torch models."""

import subprocess
import sys

import pytest
import torch
from tinyml_tinyverse.common.models import MODEL_REGISTRY, get_model
from tinyml_tinyverse.common.models.describe import check_model_npu, describe_model
from tinyml_tinyverse.common.npu_rules import LayerInfo, check_npu_rules
from torch import nn


def conv(name="c", cin=4, cout=8, k=(3, 1), s=(1, 1), g=1, first=False, shape=(4, 64, 1)):
    return LayerInfo(name, "conv", shape, (cout, 64, 1), cin, cout, k, s, g, first)


def rules_of(layers, bits=8):
    return [(v.layer, v.rule) for v in check_npu_rules(layers, weight_bitwidth=bits)]


def test_the_compilers_npu_check_does_not_import_torch():
    # the compilation stage checks the NPU rules on the ONNX graph in a process without torch
    code = (
        "import sys\n"
        "from tinyml_tinyverse.common.compilation.onnx_layers import check_onnx_npu_rules\n"
        "from tinyml_tinyverse.common.npu_rules import check_npu_rules\n"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_good_network_has_no_violation():
    layers = [
        conv("c1", 1, 4, (7, 1), (2, 1), first=True, shape=(1, 128, 1)),
        conv("dw", 4, 4, (5, 3), (1, 1), g=4),
        conv("pw", 4, 8, (1, 1)),
        LayerInfo("mp", "maxpool", (8, 64, 1), (8, 16, 1), kernel=(4, 1), stride=(4, 1)),
        LayerInfo("gap", "global_avgpool", (8, 16, 1), (8, 1, 1)),
        LayerInfo("fc", "linear", (16,), (3,), 16, 3),
    ]
    assert check_npu_rules(layers) == []


@pytest.mark.parametrize(
    "info, rule",
    [
        (conv(cin=3, cout=4, first=True), "first_conv_in_channels"),
        (conv(cin=1, cout=6, first=True), "first_conv_out_channels"),
        (conv(cin=1, cout=4, k=(3, 9), first=True), "first_conv_kernel_width"),
        (conv(cin=4, cout=6), "conv_channels"),
        (conv(cin=6, cout=8), "conv_channels"),
        (conv(k=(9, 1)), "conv_kernel_height"),
        (conv(s=(3, 1)), "conv_stride"),
        (conv(s=(1, 2)), "conv_stride"),
        (conv(cin=8, cout=8, g=2), "depthwise_groups"),
        (conv(cin=8, cout=8, k=(3, 9), g=8), "depthwise_kernel_width"),
        (conv(cin=6, cout=6, k=(3, 3), g=6), "depthwise_channels"),
        (conv(cin=4, cout=10, k=(1, 1)), "pointwise_channels"),
        (LayerInfo("ct", "conv_transpose", (4, 8, 1), (6, 16, 1), 4, 6, (2, 1), (2, 1)), "conv_channels"),
        (LayerInfo("mp", "maxpool", (4, 8, 1), (4, 1, 1), kernel=(5, 1), stride=(5, 1)), "maxpool_kernel"),
        (LayerInfo("gap", "global_avgpool", (8, 2, 1), (8, 1, 1)), "global_avgpool_input"),
        (LayerInfo("fc", "linear", (12,), (2,), 12, 2), "linear_in_features"),
    ],
)
def test_each_rule_catches_its_violation(info, rule):
    found = check_npu_rules([info])
    assert [v.rule for v in found] == [rule]
    msg = found[0].message
    assert repr(info.name) in msg and rule in msg and "allowed" in msg


def test_kernel_height_allowed_on_first_conv_and_width_on_other_convs():
    assert rules_of([conv(cin=1, cout=4, k=(9, 8), first=True)]) == []
    assert rules_of([conv(k=(7, 9))]) == []  # only depthwise limits the width of later convs


def test_linear_minimum_depends_on_weight_bitwidth():
    fc = LayerInfo("fc", "linear", (8,), (2,), 8, 2)
    assert rules_of([fc], bits=8) == [("fc", "linear_in_features")]
    assert rules_of([fc], bits=4) == []
    assert "at 8-bit" in check_npu_rules([fc])[0].message


def test_message_names_value_found_and_allowed():
    (v,) = check_npu_rules([conv("block3", k=(11, 1))])
    assert v.layer == "block3" and "kernel height 11" in v.message and "<= 7" in v.message


def test_unknown_op_is_an_error():
    with pytest.raises(ValueError, match="unknown op"):
        check_npu_rules([LayerInfo("x", "lstm", (1,), (1,))])


@pytest.mark.parametrize("name", MODEL_REGISTRY.names("*_NPU"))
@pytest.mark.parametrize("kwargs", [{}, {"variables": 3, "input_features": 99}])
def test_every_npu_zoo_model_passes(name, kwargs):
    model = get_model(name, **kwargs)
    assert check_model_npu(model, model.input_shape) == []


def test_describe_model_reads_real_layers():
    model = get_model("CLS_4k_NPU", variables=3)
    infos = describe_model(model, model.input_shape)
    first = infos[0]  # three variables folded into one input channel: (3, 512, 1) -> (1, 3, 512)
    assert first.op == "conv" and first.is_first and first.in_channels == 1
    assert first.in_shape == (1, 3, 512) and first.kernel == (3, 7) and first.stride == (1, 2)
    assert [i.op for i in infos].count("linear") == 1 and infos[-1].in_shape == (24,)
    assert sum(i.is_first for i in infos) == 1
    assert any(i.op == "global_avgpool" and i.in_shape[1] >= 3 for i in infos)


class Broken(nn.Module):
    """A torch model breaking one rule per layer."""

    def __init__(self):
        super().__init__()
        self.first = nn.Conv2d(2, 6, (3, 1), padding=(1, 0))  # in 2, out 6
        self.tall = nn.Conv2d(6, 8, (9, 1), stride=(3, 1))  # in 6, kernel height 9, stride 3
        self.pool = nn.MaxPool2d((5, 1))
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 2)

    def forward(self, x):
        x = self.pool(self.tall(self.first(x)))
        return self.fc(self.gap(x).flatten(1))


def test_torch_model_violations_name_their_layers():
    found = {(v.layer, v.rule) for v in check_model_npu(Broken(), (2, 40, 1))}  # GAP sees 2 x 1
    assert found == {
        ("first", "first_conv_in_channels"),
        ("first", "first_conv_out_channels"),
        ("tall", "conv_channels"),
        ("tall", "conv_kernel_height"),
        ("tall", "conv_stride"),
        ("pool", "maxpool_kernel"),
        ("gap", "global_avgpool_input"),
        ("fc", "linear_in_features"),
    }


def test_describe_leaves_training_mode_and_weights_alone():
    model = get_model("CLS_1k_NPU")
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    describe_model(model, model.input_shape)
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
