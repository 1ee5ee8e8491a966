"""Layer types: inferred shapes equal real output shapes; bad specs fail with clear errors."""

import pytest
import torch
from tinyml_tinyverse.common.errors import ModelError, TinyMLError, UnknownNameError
from tinyml_tinyverse.common.models import LAYER_REGISTRY, GenericModelWithSpec
from tinyml_tinyverse.common.models.generic_model_spec import build_spec
from tinyml_tinyverse.common.utils.py_utils import DictPlus


def run_spec(spec, in_shape):
    modules, built = build_spec(spec, in_shape)
    outs = {"input": torch.randn(2, *in_shape)}
    for b in built:
        outs[b.name] = modules[b.name](*[outs[s] for s in b.inputs])
        assert tuple(outs[b.name].shape[1:]) == b.out_shape, b
    return built, outs


# One spec entry per layer type, with an input shape it accepts; the test below checks that every
# registered type is covered.
CASES = {
    "ConvLayer": ((3, 17, 1), dict(out_channels=5, kernel_size=(4, 1), stride=(2, 1))),
    "ConvBNLayer": ((3, 16, 8), dict(out_channels=4, kernel_size=3, dilation=2)),
    "ConvBNReLULayer": ((3, 16, 1), dict(out_channels=4, kernel_size=[5, 1], padding=[0, 0])),
    "DWConvBNReLULayer": ((4, 16, 1), dict(kernel_size=(3, 1), stride=(2, 1))),
    "PWConvBNReLULayer": ((4, 16, 1), dict(out_channels=8)),
    "ConvTransposeLayer": ((4, 9, 1), dict(out_channels=4, kernel_size=(4, 1), stride=(2, 1))),
    "MaxPoolLayer": ((4, 17, 1), dict(kernel_size=(2, 1), ceil_mode=True)),
    "AvgPoolLayer": ((4, 17, 5), dict(kernel_size=3, stride=2, padding=1)),
    "GlobalAvgPoolLayer": ((4, 17, 1), {}),
    "AdaptiveAvgPoolLayer": ((4, 16, 4), dict(output_size=(4, 2))),
    "UpsampleLayer": ((4, 7, 1), dict(scale_factor=(2, 1))),
    "CropPadLayer": ((4, 7, 3), dict(size=(9, 2))),
    "ReshapeLayer": ((4, 7, 1), dict(ndim=2)),
    "PermuteLayer": ((3, 7, 1), dict(dims=[2, 1, 0])),
    "LinearLayer": ((12,), dict(out_features=5)),
    "LinearBNReLULayer": ((12,), dict(out_features=5)),
    "BatchNormLayer": ((4, 7, 1), {}),
    "DropoutLayer": ((4, 7, 1), dict(p=0.2)),
    "ReLULayer": ((4, 7, 1), {}),
    "SigmoidLayer": ((12,), {}),
    "TanhLayer": ((12,), {}),
    "IdentityLayer": ((12,), {}),
}


def test_every_layer_type_is_covered():
    multi_input = {"AddLayer", "ConcatLayer"}
    assert set(LAYER_REGISTRY) - multi_input == set(CASES)


@pytest.mark.parametrize("type_name", sorted(CASES))
def test_inferred_shape_equals_real_shape(type_name):
    in_shape, args = CASES[type_name]
    built, _ = run_spec({"x": dict(type=type_name, **args)}, in_shape)
    assert len(built) == 1


def test_expected_shapes_of_defaults():
    spec = DictPlus()
    spec += {"conv": dict(type="ConvLayer", out_channels=4, kernel_size=(5, 1))}  # 'same' padding
    spec += {"pool": dict(type="MaxPoolLayer", kernel_size=(2, 1))}  # pad 0, stride = kernel
    spec += {"tconv": dict(type="ConvTransposeLayer", out_channels=4, kernel_size=(2, 1), stride=(2, 1))}
    spec += {"flat": dict(type="ReshapeLayer")}
    spec += {"shape": dict(type="ReshapeLayer", shape=[4, 10])}
    built, _ = run_spec(spec, (1, 10, 1))
    assert [b.out_shape for b in built] == [(4, 10, 1), (4, 5, 1), (4, 10, 1), (40,), (4, 10)]


def test_skip_connections_add_and_concat():
    spec = DictPlus()
    spec += {"a": dict(type="ConvBNReLULayer", out_channels=4, kernel_size=(3, 1))}
    spec += {"b": dict(type="ConvBNLayer", out_channels=4, kernel_size=(3, 1))}
    spec += {"sum": dict(type="AddLayer", inputs=["a", "b"])}
    spec += {"cat": dict(type="ConcatLayer", inputs=["input", "sum", "a"])}
    built, outs = run_spec(spec, (2, 8, 1))
    assert built[-1].out_shape == (10, 8, 1)
    torch.testing.assert_close(outs["sum"], outs["a"] + outs["b"])
    torch.testing.assert_close(outs["cat"][:, :2], outs["input"])


def test_wrong_in_channels_names_layer_type_values_and_shape():
    spec = {
        "c1": dict(type="ConvLayer", out_channels=4, kernel_size=(3, 1)),
        "c2": dict(type="ConvBNReLULayer", in_channels=8, out_channels=4, kernel_size=(3, 1)),
    }
    with pytest.raises(ModelError) as err:
        build_spec(spec, (1, 16, 1))
    msg = str(err.value)
    for part in ("'c2'", "ConvBNReLULayer", "in_channels=8", "in_channels=4", "(4, 16, 1)"):
        assert part in msg


def test_wrong_in_features_is_an_error():
    spec = {"f": dict(type="ReshapeLayer"), "fc": dict(type="LinearLayer", in_features=10, out_features=2)}
    with pytest.raises(ModelError, match=r"'fc'.*in_features=10.*in_features=16"):
        build_spec(spec, (4, 4, 1))


def test_correct_in_channels_are_accepted():
    spec = {"c": dict(type="ConvLayer", in_channels=3, out_channels=4, kernel_size=(3, 1))}
    assert build_spec(spec, (3, 8, 1))[1][0].out_shape == (4, 8, 1)


def test_unknown_type_lists_known_types():
    with pytest.raises(UnknownNameError) as err:
        build_spec({"c": dict(type="ConvBNReluLayer", out_channels=4, kernel_size=3)}, (1, 8, 1))
    msg = str(err.value)
    assert "'c'" in msg and "ConvBNReLULayer" in msg and "MaxPoolLayer" in msg


@pytest.mark.parametrize(
    "spec, pattern",
    [
        (
            {"c": dict(type="ConvLayer", out_channel=4, kernel_size=3)},
            r"unknown argument.*out_channel.*out_channels",
        ),
        ({"c": dict(type="ConvLayer", kernel_size=3)}, r"missing argument.*out_channels"),
        (
            {"c": dict(type="ConvLayer", out_channels=4, kernel_size="big")},
            r"kernel_size='big' is not a size",
        ),
        ({"p": dict(type="MaxPoolLayer", kernel_size=2)}, r"'p'.*dimension below 1.*\(2, 1\)"),
        ({"fc": dict(type="LinearLayer", out_features=2)}, r"'fc'.*ReshapeLayer"),
        ({"a": dict(type="AddLayer", inputs=["input"])}, r"takes 2\.\.64 inputs"),
        ({"r": dict(type="ReLULayer", inputs="nope")}, r"input 'nope' is not an earlier layer"),
        ({"a.b": dict(type="ReLULayer")}, r"not allowed"),
        ({"r": "ReLULayer"}, r"dict\(type="),
        ({"r": dict(type="ReshapeLayer", shape=[3, 3])}, r"holds 9 values"),
        ({}, r"non-empty"),
    ],
)
def test_bad_specs_fail_with_clear_errors(spec, pattern):
    with pytest.raises(TinyMLError, match=pattern):
        build_spec(spec, (1, 8, 1))


def test_add_of_different_shapes_is_an_error():
    spec = {
        "a": dict(type="ConvLayer", out_channels=4, kernel_size=(3, 1)),
        "b": dict(type="ConvLayer", out_channels=8, kernel_size=(3, 1)),
        "s": dict(type="AddLayer", inputs=["a", "b"]),
    }
    with pytest.raises(ModelError, match=r"'s'.*same shape"):
        build_spec(spec, (1, 8, 1))


def test_duplicate_layer_name_is_an_error():
    layers = DictPlus()
    layers += {"conv1": dict(type="ReLULayer")}
    with pytest.raises(KeyError, match="duplicate layer name 'conv1'"):
        layers += {"conv1": dict(type="ReLULayer")}


class Tiny(GenericModelWithSpec):
    def __init__(self, config, input_features=32, variables=1, num_classes=3, width=4):
        super().__init__(
            config, input_features=input_features, variables=variables, num_classes=num_classes, width=width
        )
        self._init_model_from_spec()

    def gen_model_spec(self):
        layers = DictPlus()
        layers += {"conv": dict(type="ConvBNReLULayer", out_channels=self.width, kernel_size=(3, 1))}
        layers += {"flat": dict(type="ReshapeLayer", ndim=2)}
        layers += {"fc": dict(type="LinearLayer", out_features=self.num_classes)}
        return dict(model_spec=layers)


def test_config_overrides_init_arguments():
    model = Tiny({"num_classes": 5, "width": 8, "input_features": [16, 2]}, num_classes=3)
    assert model.input_shape == (1, 16, 2) and model.output_shape == (5,)
    assert model(torch.randn(2, 1, 16, 2)).shape == (2, 5)
    assert model.layers["conv"].conv.out_channels == 8


def test_unknown_config_key_lists_accepted_keys():
    with pytest.raises(ModelError, match=r"'widht' \(did you mean 'width'\?\).*input_features, variables"):
        Tiny({"widht": 8})


def test_bad_input_features_is_an_error():
    with pytest.raises(ModelError, match="input_features"):
        Tiny({}, input_features="long")
    with pytest.raises(ModelError, match="variables must be a positive int"):
        Tiny({}, variables=0)


def test_error_names_the_model_class():
    with pytest.raises(ModelError, match=r"^Tiny: layer 'conv'"):
        Tiny({"width": "x"})
