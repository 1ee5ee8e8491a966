"""Validation of project configs: every error names the key, the value and what is allowed."""

from __future__ import annotations

import copy
import datetime as dt

import pytest
from conftest import REPO_ROOT, write_yaml
from tinyml_modelmaker.config import apply_overrides, resolve_config
from tinyml_modelmaker.run_folder import open_run_folder
from tinyml_tinyverse.common.errors import ConfigError


def _with(base: dict, section: str, key: str, value) -> dict:
    cfg = copy.deepcopy(base)
    cfg.setdefault(section, {})[key] = value
    return cfg


def _error(cfg) -> str:
    with pytest.raises(ConfigError) as info:
        resolve_config(cfg)
    return str(info.value)


def test_valid_config_resolves_with_defaults(base_config, data_folder):
    cfg = resolve_config(base_config)
    assert cfg["training"]["training_epochs"] is None  # 50, raised on small data to give min_steps steps
    assert cfg["training"]["min_steps"] == 1000 and cfg["training"]["refit"] == "auto"
    assert cfg["data_processing_feature_extraction"]["frame_size"] is None  # from the data (256 by default)
    assert cfg["dataset"]["dataset_name"] == data_folder.name
    assert cfg["training"]["quantization"] == 2  # F28P55 has an NPU
    assert cfg["compilation"]["preset_name"] == "default_preset"
    assert "data_processing_feature_extraction" in cfg
    cfg = resolve_config(_with(base_config, "common", "target_device", "CORTEX_M4F"))
    assert cfg["training"]["quantization"] == 1


def test_unknown_key_names_closest_and_lists_section(base_config):
    msg = _error(_with(base_config, "training", "learning_rat", 0.1))
    assert "training.'learning_rat'" in msg and "did you mean 'learning_rate'" in msg
    assert "training_epochs" in msg and "batch_size" in msg  # the legal keys of the section


def test_unknown_section(base_config):
    cfg = copy.deepcopy(base_config)
    cfg["trainig"] = cfg.pop("training")
    msg = _error(cfg)
    assert "unknown section 'trainig'" in msg and "did you mean 'training'" in msg


def test_wrong_type(base_config):
    msg = _error(_with(base_config, "training", "training_epochs", "ten"))
    assert "training.training_epochs" in msg and "'ten'" in msg and "int" in msg
    msg = _error(_with(base_config, "training", "training_epochs", True))
    assert "training.training_epochs" in msg and "bool" in msg
    msg = _error(_with(base_config, "dataset", "enable", "yes please"))
    assert "dataset.enable" in msg and "bool" in msg


def test_bad_range_and_choice(base_config):
    msg = _error(_with(base_config, "training", "learning_rate", -1))
    assert "training.learning_rate" in msg and "out of range" in msg and "-1" in msg
    msg = _error(_with(base_config, "training", "optimizer", "adamm"))
    assert "training.optimizer" in msg and "did you mean 'adam'" in msg and "'sgd'" in msg
    msg = _error(_with(base_config, "training", "quantization", 3))
    assert "training.quantization" in msg and "one of 0, 1, 2" in msg
    msg = _error(_with(base_config, "dataset", "split_factor", [0.5, 0.2, 0.2]))
    assert "dataset.split_factor" in msg and "sum to 0.9" in msg


def test_numbers_written_as_strings_are_accepted(base_config):
    cfg = resolve_config(_with(base_config, "training", "learning_rate", "1e-3"))
    assert cfg["training"]["learning_rate"] == pytest.approx(1e-3)


def test_model_not_for_task(base_config):
    msg = _error(_with(base_config, "training", "model_name", "REGR_1k"))
    assert "'REGR_1k' is a regression model" in msg and "not a classification model" in msg and "CLS_" in msg


def test_unknown_device(base_config):
    msg = _error(_with(base_config, "common", "target_device", "F28P56"))
    assert "common.target_device" in msg and "'F28P55'" in msg.split("Allowed")[0] and "MSPM0G3507" in msg


def test_unknown_task_type(base_config):
    msg = _error(_with(base_config, "common", "task_type", "timeseries_classification"))
    assert "common.task_type" in msg and "generic_timeseries_classification" in msg


def test_missing_data_path(base_config, tmp_path):
    msg = _error(_with(base_config, "dataset", "input_data_path", str(tmp_path / "nope")))
    assert "dataset.input_data_path" in msg and "does not exist" in msg and "nope" in msg
    cfg = copy.deepcopy(base_config)
    del cfg["dataset"]["input_data_path"]
    assert "dataset.input_data_path is required" in _error(cfg)
    msg = _error(_with(base_config, "dataset", "input_data_path", "generated://motor_faults"))
    assert "did you mean 'motor_fault'" in msg


def test_required_keys(base_config):
    cfg = copy.deepcopy(base_config)
    del cfg["common"]["task_type"]
    assert "common.task_type is required" in _error(cfg)
    cfg = copy.deepcopy(base_config)
    del cfg["training"]["model_name"]
    assert "training.model_name is required" in _error(cfg)


def test_bitwidth_needs_npu_quantization(base_config):
    cfg = _with(base_config, "training", "quantization", 1)
    cfg["training"]["quantization_weight_bitwidth"] = 4
    assert "quantization: 2" in _error(cfg)


def test_compile_only_model_path_checked(base_config, tmp_path):
    cfg = _with(base_config, "compilation", "model_path", str(tmp_path / "missing.onnx"))
    assert "compilation.model_path" in _error(cfg)


def test_yaml_file_errors(tmp_path, base_config):
    bad = tmp_path / "bad.yaml"
    bad.write_text("common:\n  task_type: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad.yaml.*line \d+"):
        resolve_config(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_config(tmp_path / "absent.yaml")
    path = write_yaml(tmp_path / "cfg.yaml", _with(base_config, "training", "batch_sise", 8))
    with pytest.raises(
        ConfigError, match=r"cfg.yaml: unknown key training.'batch_sise'; did you mean 'batch_size'"
    ):
        resolve_config(path)


def test_set_overrides(tmp_path, base_config):
    path = write_yaml(tmp_path / "cfg.yaml", base_config)
    cfg = resolve_config(
        path,
        ["training.training_epochs=5", "training.optimizer=sgd", "dataset.split_factor=[0.5, 0.25, 0.25]"],
    )
    assert cfg["training"]["training_epochs"] == 5
    assert cfg["training"]["optimizer"] == "sgd"
    assert cfg["dataset"]["split_factor"] == [0.5, 0.25, 0.25]
    with pytest.raises(ConfigError, match="training.training_epochs"):
        resolve_config(path, ["training.training_epochs=five"])
    with pytest.raises(ConfigError, match="section.key=value"):
        apply_overrides({}, ["training_epochs"])
    with pytest.raises(ConfigError, match="did you mean 'training_epochs'"):
        resolve_config(path, ["training.training_epoch=3"])


def test_existing_run_folder_is_never_reused(base_config):
    cfg = resolve_config(_with(base_config, "common", "run_name", "try1"))
    paths = open_run_folder(cfg)
    assert paths.root.is_dir() and paths.root.name == "try1"
    with pytest.raises(ConfigError, match="already exists.*--run-name.*--resume"):
        open_run_folder(cfg)
    assert open_run_folder(cfg, resume=True).root == paths.root


def test_resume_finds_latest_date_time_run(base_config):
    cfg = resolve_config(base_config)  # run_name {date-time}/{model_name}
    with pytest.raises(ConfigError, match="--resume: no run folder matches"):
        open_run_folder(cfg, resume=True)
    first = open_run_folder(cfg, now=dt.datetime(2026, 1, 1, 10, 0, 0))
    second = open_run_folder(cfg, now=dt.datetime(2026, 1, 2, 10, 0, 0))
    assert first.root.parts[-2:] == ("20260101-100000", "CLS_4k_NPU")
    assert open_run_folder(cfg, resume=True).root == second.root


def test_run_name_placeholders_checked(base_config):
    msg = _error(_with(base_config, "common", "run_name", "{date}/{model_name}"))
    assert "common.run_name" in msg and "{date-time}" in msg
    assert "without '..'" in _error(_with(base_config, "common", "run_name", "../escape"))


@pytest.mark.parametrize(
    "example", sorted((REPO_ROOT / "misc" / "examples").glob("*.yaml")), ids=lambda p: p.stem
)
def test_example_configs_are_valid(example):
    """Every shipped example resolves against the schema (keys, values, model for its task)."""
    cfg = resolve_config(example)
    assert cfg["dataset"]["input_data_path"].startswith("generated://")
    assert cfg["training"]["model_name"]


def test_dataset_name_must_name_a_folder(base_config):
    assert "it names a folder" in _error(_with(base_config, "dataset", "dataset_name", "my data/../x"))
    assert (
        resolve_config(_with(base_config, "dataset", "dataset_name", "motor-v2.1"))["dataset"]["dataset_name"]
        == "motor-v2.1"
    )


def test_derived_dataset_name_from_a_path_with_spaces(base_config, tmp_path):
    # the user never wrote dataset_name: a folder "my recordings" names the project my_recordings
    folder = tmp_path / "my recordings"
    (folder / "classes" / "a").mkdir(parents=True)
    cfg = _with(base_config, "dataset", "input_data_path", str(folder))
    cfg["dataset"].pop("dataset_name", None)
    assert resolve_config(cfg)["dataset"]["dataset_name"] == "my_recordings"
    # the classes/ folder itself names the project after its parent
    cfg = _with(base_config, "dataset", "input_data_path", str(folder / "classes"))
    cfg["dataset"].pop("dataset_name", None)
    assert resolve_config(cfg)["dataset"]["dataset_name"] == "my_recordings"


def test_relative_path_next_to_the_yaml_is_suggested(base_config, tmp_path, monkeypatch):
    project = tmp_path / "proj"
    (project / "mydata" / "classes" / "a").mkdir(parents=True)
    cfg = _with(base_config, "dataset", "input_data_path", "mydata")
    path = write_yaml(project / "cfg.yaml", cfg)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        resolve_config(path)
    msg = str(info.value)
    assert "'mydata' does not exist" in msg and f"did you mean {str(project / 'mydata')!r}" in msg
