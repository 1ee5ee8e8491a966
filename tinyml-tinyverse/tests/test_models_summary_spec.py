"""Model summary (hand-checked figures), the CLI, the zoo table page, and spec YAML round trips."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from tinyml_tinyverse.common.errors import ModelError
from tinyml_tinyverse.common.models import GenericModelWithSpec, SpecModel, get_model
from tinyml_tinyverse.common.models.__main__ import ZOO_PAGE_HEAD, main, zoo_table
from tinyml_tinyverse.common.models.spec_yaml import load_spec_yaml, save_spec_yaml
from tinyml_tinyverse.common.models.summary import model_summary
from tinyml_tinyverse.common.utils.py_utils import DictPlus

REPO = Path(__file__).resolve().parents[2]


def small_spec(num_classes=3):
    layers = DictPlus()
    layers += {"conv1": dict(type="ConvBNReLULayer", out_channels=4, kernel_size=(5, 1))}
    layers += {"pool1": dict(type="MaxPoolLayer", kernel_size=(2, 1))}
    layers += {"conv2": dict(type="ConvLayer", out_channels=8, kernel_size=(3, 1), stride=(2, 1))}
    layers += {
        "skip": dict(type="ConvLayer", out_channels=8, kernel_size=(1, 1), stride=(2, 1), inputs="pool1")
    }
    layers += {"add": dict(type="AddLayer", inputs=["conv2", "skip"])}
    layers += {"flatten": dict(type="ReshapeLayer", ndim=2)}
    layers += {"fc": dict(type="LinearLayer", out_features=num_classes)}
    return layers


class Small(GenericModelWithSpec):
    def __init__(self, config, input_features=64, variables=1, num_classes=3):
        super().__init__(config, input_features=input_features, variables=variables, num_classes=num_classes)
        self._init_model_from_spec(small_spec(self.num_classes))


def test_summary_figures_by_hand():
    s = model_summary(Small({}), (1, 64, 1))
    rows = {r.name: r for r in s.rows}
    assert rows["conv1.conv"].macs == 64 * 4 * 5 and rows["conv1.conv"].params == 20
    assert rows["conv1.bn"].params == 8 and rows["conv1.bn"].macs == 0
    assert rows["pool1"].output_shape == (4, 32, 1) and rows["pool1"].activation_bytes == 128
    assert rows["conv2"].macs == 16 * 8 * 4 * 3 and rows["conv2"].params == 4 * 8 * 3 + 8
    assert rows["skip"].macs == 16 * 8 * 4
    assert rows["fc"].macs == 128 * 3 and rows["fc"].params == 128 * 3 + 3
    assert s.total_params == 20 + 8 + 104 + 40 + 387
    assert s.total_macs == 1280 + 1536 + 512 + 384
    assert s.peak_activation_bytes == 4 * 64
    text = s.to_text()
    assert "total params: 559" in text and "conv2" in text and "(8, 16, 1)" in text
    assert model_summary(Small({}), (1, 64, 1), bytes_per_value=4).peak_activation_bytes == 4 * 64 * 4


def test_summary_cli(capsys):
    assert (
        main(["summary", "CLS_4k_NPU", "--input-features", "256", "--variables", "3", "--num-classes", "5"])
        == 0
    )
    out = capsys.readouterr().out
    assert (
        "input shape (per sample): (3, 256, 1)" in out
        and "(1, 3, 256)" in out
        and "(5,)" in out
        and "NPU rules: all pass" in out
    )
    assert main(["summary", "FCST_2k_NPU", "--horizon", "4", "--variables", "2"]) == 0
    assert "(4, 2)" in capsys.readouterr().out


def test_summary_cli_reports_npu_violations_and_errors(capsys):
    assert main(["summary", "CLS_4k_NPU", "--input-features", "2"]) == 0  # GAP over 2 x 1 values
    assert "global_avgpool_input" in capsys.readouterr().out
    assert main(["summary", "CLS_4k_NPX"]) == 2
    assert "did you mean 'CLS_4k_NPU'" in capsys.readouterr().err


def test_summary_cli_as_module():
    cmd = [
        sys.executable,
        "-m",
        "tinyml_tinyverse.common.models",
        "summary",
        "CLS_1k_NPU",
        "--input-features",
        "512",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=120).stdout
    assert "total params: 910" in out


def test_zoo_page_is_up_to_date():
    page = (REPO / "docs" / "model_zoo.md").read_text()
    assert page == ZOO_PAGE_HEAD + zoo_table(), (
        "docs/model_zoo.md is stale: run python -m tinyml_tinyverse.common.models table --output docs/model_zoo.md"
    )


def test_spec_yaml_round_trip_builds_the_same_model(tmp_path):
    path = save_spec_yaml(small_spec(), tmp_path / "small.yaml")
    assert not (tmp_path / "small.yaml.tmp").exists()
    assert yaml.safe_load(path.read_text())["model_spec"]["conv1"]["kernel_size"] == [5, 1]
    layers = load_spec_yaml(path)
    assert isinstance(layers, DictPlus) and list(layers) == list(small_spec())
    torch.manual_seed(0)
    a = Small({})
    b = SpecModel({}, spec_path=str(path), input_features=64)
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, 1, 64, 1)
    torch.testing.assert_close(a.eval()(x), b.eval()(x))


def test_spec_model_from_yaml_without_python(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(
        "task: regression\n"
        "model_spec:\n"
        "  conv: {type: ConvBNReLULayer, out_channels: 4, kernel_size: [3, 1]}\n"
        "  gap: {type: GlobalAvgPoolLayer}\n"
        "  flat: {type: ReshapeLayer}\n"
        "  fc: {type: LinearLayer, out_features: $num_classes}\n"
    )
    model = GenericModelWithSpec.from_yaml(path, {"num_classes": 2}, input_features=32, variables=3)
    assert model.task == "regression" and model(torch.randn(4, 3, 32, 1)).shape == (4, 2)
    model = get_model("SpecModel", {"spec_path": str(path), "num_classes": 5}, input_features=16)
    assert model(torch.randn(1, 1, 16, 1)).shape == (1, 5)


@pytest.mark.parametrize(
    "text, pattern",
    [
        (None, "does not exist"),
        ("model_spec: [a, b\n", "not valid YAML"),
        ("model_spec:\n  conv: {out_channels: 4}\n", "'conv' needs a mapping with a 'type'"),
        ("model_spec: 3\n", "must map layer names"),
    ],
)
def test_bad_spec_files(tmp_path, text, pattern):
    path = tmp_path / "spec.yaml"
    if text is not None:
        path.write_text(text)
    with pytest.raises(ModelError, match=pattern):
        load_spec_yaml(path)


def test_spec_model_needs_a_path():
    with pytest.raises(ModelError, match="spec_path"):
        SpecModel({})


def test_list_cli_filters_with_a_glob(capsys):
    assert main(["list", "AD_*"]) == 0
    names = capsys.readouterr().out.split()
    assert names and all(n.startswith("AD_") and n.endswith("_NPU") for n in names) and "AD_500_NPU" in names
