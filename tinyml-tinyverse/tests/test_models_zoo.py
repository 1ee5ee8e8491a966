"""Model zoo: sizes, output shapes per task, config overrides, registry and model_config YAMLs."""

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from tinyml_tinyverse.common.errors import ModelError, UnknownNameError
from tinyml_tinyverse.common.models import (
    MODEL_REGISTRY,
    TASKS,
    get_model,
    is_npu_model,
    load_model_config,
    model_task,
)
from tinyml_tinyverse.common.models.classification import CNN_TS_GEN_BASE_13K

REPO = Path(__file__).resolve().parents[2]
ZOO = [n for n in MODEL_REGISTRY.names() if n != "SpecModel"]
REQUIRED = (
    "CLS_100_NPU CLS_500_NPU CLS_1k_NPU CLS_2k_NPU CLS_4k_NPU CLS_6k_NPU CLS_8k_NPU CLS_13k_NPU CLS_20k_NPU "
    "CLS_55k_NPU CLS_1k CLS_4k CLS_13k CLS_RES_3k TimeSeries_Generic_13k_t"
).split()


SIZE_NOT_IN_NAME = {"Lenet5": 62_000}  # LeNet-5 at 28 x 28: the classic ~62k parameters


def size_in_name(name: str) -> int:
    if name in SIZE_NOT_IN_NAME:
        return SIZE_NOT_IN_NAME[name]
    token = re.search(r"_(\d+)(k?)(_|$)", name.replace("TimeSeries_Generic_", "_"))
    return int(token.group(1)) * (1000 if token.group(2) else 1)


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def test_zoo_holds_the_required_models():
    assert set(REQUIRED) <= set(ZOO)
    for prefix in ("REGR", "AD", "FCST"):
        sizes = {size_in_name(n) for n in ZOO if n.startswith(prefix + "_") and n.endswith("_NPU")}
        assert len(sizes) >= 4 and min(sizes) == 500 and max(sizes) == 20000, prefix
    assert MODEL_REGISTRY["TimeSeries_Generic_13k_t"] is CNN_TS_GEN_BASE_13K


@pytest.mark.parametrize("name", ZOO)
def test_param_count_within_25_percent_of_name(name):
    params, target = n_params(get_model(name)), size_in_name(name)
    assert 0.75 * target <= params <= 1.25 * target, (name, params, target)


@pytest.mark.parametrize("name", ZOO)
def test_docstring_and_task(name):
    cls = MODEL_REGISTRY[name]
    doc = cls.__doc__ or ""
    assert "parameter" in doc and "input" in doc.lower(), "say what it is for, its input and its size"
    assert model_task(name) in TASKS
    prefix = {
        "classification": ("CLS_", "TimeSeries_", "IMG_CLS_", "Lenet5", "KWS_"),
        "regression": ("REGR_",),
    }
    prefix.update(anomalydetection=("AD_",), forecasting=("FCST_",))
    assert name.startswith(prefix[model_task(name)])
    assert is_npu_model(name) == name.endswith("_NPU")


@pytest.mark.parametrize("name", ZOO)
@pytest.mark.parametrize("variables, features", [(1, None), (3, 77), (2, (16, 12))])
def test_output_shape_follows_the_task(name, variables, features):
    kwargs = dict(variables=variables, num_classes=3)
    if features is not None:
        kwargs["input_features"] = features
    if model_task(name) == "forecasting":
        kwargs["horizon"] = 5
    model = get_model(name, **kwargs).eval()
    x = torch.randn(2, *model.input_shape)
    expected = {
        "classification": (2, 3),
        "regression": (2, 3),
        "anomalydetection": tuple(x.shape),
        "forecasting": (2, 5, 3),
    }[model_task(name)]
    assert tuple(model(x).shape) == expected
    assert model.input_shape[0] == variables


@pytest.mark.parametrize("name", ["AD_2k_NPU", "AD_20k_NPU"])
@pytest.mark.parametrize("features", [1, 2, 3, 5, 31, 130, 257, (31, 29), (7, 8)])
def test_autoencoder_output_matches_odd_input_lengths(name, features):
    model = get_model(name, input_features=features, variables=2).eval()
    x = torch.randn(3, *model.input_shape)
    assert model(x).shape == x.shape
    types = {entry["type"] for entry in model.model_spec.values()}
    assert "CropPadLayer" not in types  # exact sizes by construction, no crop op for the compiler


def test_npu_models_with_several_variables_fold_them_into_the_first_conv():
    model = get_model("CLS_4k_NPU", variables=3)
    first = model.layers["conv1"].conv
    assert first.in_channels == 1 and first.kernel_size == (3, 7)
    one_var = get_model("CLS_4k_NPU")
    assert n_params(model) == n_params(one_var) + 2 * 7 * 8  # same as a 3-channel (7, 1) conv


def test_forecasting_defaults_predict_every_variable():
    model = get_model("FCST_1k_NPU", variables=4, horizon=2)
    assert model(torch.randn(1, 4, 64, 1)).shape == (1, 2, 4)
    with pytest.raises(ModelError, match="horizon must be a positive int"):
        get_model("FCST_1k_NPU", horizon=0)


def test_generic_13k_signature_and_defaults():
    model = CNN_TS_GEN_BASE_13K({})
    assert model.input_shape == (1, 512, 1) and model.output_shape == (2,)
    assert model(torch.randn(1, 1, 512, 1)).shape == (1, 2)


def test_unknown_model_name_suggests_closest():
    with pytest.raises(UnknownNameError, match=r"did you mean 'CLS_4k_NPU'"):
        get_model("CLS_4K_NPU_")


def test_get_model_config_overrides_kwargs():
    model = get_model("CLS_1k_NPU", {"num_classes": 6}, num_classes=3, variables=2)
    assert model.output_shape == (6,) and model.input_shape[0] == 2


def test_get_model_unknown_kwarg_is_a_model_error():
    with pytest.raises(ModelError, match=r"'num_class'.*did you mean 'num_classes'"):
        get_model("CLS_1k_NPU", num_class=3)


def test_model_config_yaml_from_misc_overrides_arguments():
    path = REPO / "misc" / "TimeSeries_Generic_x_t.yaml"
    config = load_model_config(path, "TimeSeries_Generic_13k_t")
    assert config == {"input_features": 512, "variables": 3, "num_classes": 4}
    model = get_model("TimeSeries_Generic_13k_t", path)
    assert model(torch.randn(2, 3, 512, 1)).shape == (2, 4)
    for name, yaml_name in (("FCST_2k_NPU", "FCST_x_NPU.yaml"), ("AD_4k_NPU", "AD_x_NPU.yaml")):
        model = get_model(name, REPO / "misc" / yaml_name)
        assert model(torch.randn(1, *model.input_shape)).dim() >= 2


def test_model_config_unknown_key_names_file_and_accepted_keys(tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_text("input_features: 128\nnum_clases: 3\n")
    with pytest.raises(ModelError) as err:
        load_model_config(path, "CLS_4k_NPU")
    msg = str(err.value)
    assert str(path) in msg and "'num_clases'" in msg and "num_classes" in msg and "input_features" in msg


def test_model_config_bad_files(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        load_model_config(tmp_path / "missing.yaml", "CLS_4k_NPU")
    bad = tmp_path / "bad.yaml"
    bad.write_text("input_features: [1, 2\n")
    with pytest.raises(ModelError, match="not valid YAML"):
        load_model_config(bad, "CLS_4k_NPU")
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(ModelError, match="mapping"):
        load_model_config(listy, "CLS_4k_NPU")
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert load_model_config(empty, "CLS_4k_NPU") == {}


def test_model_config_input_features_list_means_2d(tmp_path):
    path = tmp_path / "img.yaml"
    path.write_text("input_features: [16, 16]\nvariables: 1\n")
    model = get_model("CLS_4k_NPU", path)
    assert model.input_shape == (1, 16, 16)


def test_tiny_training_learns_a_separable_task():
    """Real training: CLS_1k_NPU separates a low- from a high-frequency sine in a few epochs."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    t = np.arange(128) / 128
    freqs = np.where(rng.random(64) < 0.5, 2.0, 12.0)
    x = np.sin(2 * np.pi * freqs[:, None] * t + rng.random((64, 1)) * 6) + 0.1 * rng.standard_normal(
        (64, 128)
    )
    x = torch.tensor(x, dtype=torch.float32)[:, None, :, None]
    y = torch.tensor(freqs > 5).long()
    model = get_model("CLS_1k_NPU", input_features=128)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(30):
        model.train()
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    model.eval()
    accuracy = (model(x).argmax(1) == y).float().mean().item()
    assert accuracy >= 0.95, accuracy


def test_model_task_of_a_class_without_task_is_a_clear_error():
    class NoTask(torch.nn.Module):
        pass

    MODEL_REGISTRY.register("NoTaskModel", NoTask)
    try:
        with pytest.raises(ModelError, match=r"'NoTaskModel'.*task = one of classification"):
            model_task("NoTaskModel")
    finally:
        dict.pop(MODEL_REGISTRY, "NoTaskModel")
