"""Regressions found by walking the user journeys of docs/modelmaker.md (QA pass): small and fast."""

from __future__ import annotations

import copy

import pytest
import yaml
from tinyml_modelmaker.ai_modules.timeseries.datasets import prepared_dir
from tinyml_modelmaker.ai_modules.timeseries.runner import _report_config_changes
from tinyml_modelmaker.config import resolve_config
from tinyml_modelmaker.run_folder import RunPaths
from tinyml_tinyverse.common.errors import ConfigError


def test_choice_error_reads_as_a_sentence(base_config):
    """A value outside the choices: '... is not allowed; allowed: one of ...' (no run-on text)."""
    cfg = copy.deepcopy(base_config)
    cfg.setdefault("dataset", {})["split_type"] = "random"
    with pytest.raises(ConfigError) as info:
        resolve_config(cfg)
    assert "'random' is not allowed; allowed: one of 'amongst_files', 'within_files'" in str(info.value)
    cfg["dataset"]["split_type"] = "within_file"
    with pytest.raises(ConfigError) as info:
        resolve_config(cfg)
    assert "is not allowed (did you mean 'within_files'" in str(info.value) and "?); allowed: one of" in str(
        info.value
    )


def test_dataset_name_of_a_single_file_drops_its_extension(base_config, tmp_path):
    """A single recording names the project folder like a .zip does: 'motor.csv' -> 'motor'."""
    single = tmp_path / "motor_temps.csv"
    single.write_text("time,a\n0,1\n")
    cfg = copy.deepcopy(base_config)
    cfg["dataset"]["input_data_path"] = str(single)
    assert resolve_config(cfg)["dataset"]["dataset_name"] == "motor_temps"
    # a folder whose name holds a dot keeps it
    folder = tmp_path / "motor.v2"
    folder.mkdir()
    cfg["dataset"]["input_data_path"] = str(folder)
    assert resolve_config(cfg)["dataset"]["dataset_name"] == "motor.v2"


def test_dataset_disabled_accepts_an_earlier_run_folder(tmp_path):
    """dataset.enable: false with input_data_path = an earlier run folder uses its dataset/."""
    earlier = tmp_path / "run" / "first"
    (earlier / "dataset").mkdir(parents=True)
    (earlier / "dataset" / "dataset_info.yaml").write_text("task: classification\n")
    paths = RunPaths(tmp_path / "run" / "second")
    config = {"dataset": {"input_data_path": str(earlier)}}
    assert prepared_dir(config, paths) == earlier / "dataset"
    config = {"dataset": {"input_data_path": str(tmp_path / "raw")}}
    with pytest.raises(ConfigError) as info:
        prepared_dir(config, paths)
    assert str(tmp_path / "raw") in str(info.value) and "dataset.enable: true" in str(info.value)


def test_resume_does_not_report_its_own_flag_as_a_config_change(tmp_path, capsys):
    """--resume sets training.resume itself; only keys the user changed are reported."""
    paths = RunPaths(tmp_path)
    started = {"training": {"resume": False, "training_epochs": 30}}
    paths.config.write_text(yaml.safe_dump(started))
    _report_config_changes(paths, {"training": {"resume": True, "training_epochs": 30}})
    assert capsys.readouterr().out == ""
    _report_config_changes(paths, {"training": {"resume": True, "training_epochs": 40}})
    out = capsys.readouterr().out
    assert "training.training_epochs: 30 -> 40" in out and "training.resume" not in out


def test_wrong_task_model_message_uses_the_right_article(base_config):
    """'... is a classification model (prefix CLS_), not an anomalydetection model ...'."""
    cfg = copy.deepcopy(base_config)
    cfg["common"]["task_type"] = "generic_timeseries_anomalydetection"
    with pytest.raises(ConfigError) as info:
        resolve_config(cfg)
    assert "is a classification model (prefix CLS_), not an anomalydetection model" in str(info.value)


def test_dataset_stage_prints_what_it_found(tmp_path, capsys):
    """The dataset stage says what it found: classes, files per split, input columns, where the plots are."""
    import numpy as np
    from tinyml_modelmaker.ai_modules.timeseries import datasets
    from tinyml_tinyverse.common.datasets.data_config import validate_data_config

    for label in ("fault", "ok"):
        folder = tmp_path / "data" / "classes" / label
        folder.mkdir(parents=True)
        for i in range(3):
            np.savetxt(folder / f"r{i}.csv", np.random.default_rng(i).normal(size=(64, 2)), delimiter=",",
                       header="Time,ax", comments="")  # fmt: skip
    config = {
        "common": {"task_type": "generic_timeseries_classification"},
        "dataset": {
            "input_data_path": str(tmp_path / "data"),
            "split_type": "amongst_files",
            "split_factor": [0.34, 0.33, 0.33],
            "seed": 1,
            "generator_config": None,
        },  # fmt: skip
        "data_processing_feature_extraction": validate_data_config({"frame_size": 16}),
    }
    datasets.run(config, RunPaths(tmp_path / "run"))
    out = capsys.readouterr().out
    assert "dataset: 2 classes (fault, ok), train/val/test 2/2/2 files, 1 input variable (ax)" in out


def test_run_folder_inside_the_data_folder_is_refused_up_front(base_config, data_folder, tmp_path):
    """projects_path '.' next to a data folder named like the project would put run/ into the user's
    data: refused at config time, naming common.projects_path, before anything is written."""
    cfg = copy.deepcopy(base_config)
    cfg["common"]["projects_path"] = str(data_folder.parent)
    cfg["dataset"]["dataset_name"] = data_folder.name
    with pytest.raises(ConfigError) as info:
        resolve_config(cfg)
    assert "common.projects_path" in str(info.value) and "inside your data folder" in str(info.value)
    cfg["common"]["projects_path"] = str(data_folder)  # projects inside the data folder
    cfg["dataset"]["dataset_name"] = "other"
    with pytest.raises(ConfigError):
        resolve_config(cfg)
    assert sorted(p.name for p in data_folder.iterdir()) == ["classes"]
    cfg["common"]["projects_path"] = str(tmp_path / "projects")  # beside it: fine
    assert resolve_config(cfg)["dataset"]["dataset_name"] == "other"


def test_new_run_without_training_but_with_testing_fails_before_the_dataset_stage(base_config, tmp_path):
    """training.enable: false in a new run with testing on: refused before any folder is made."""
    from tinyml_modelmaker.ai_modules.timeseries import runner

    cfg = copy.deepcopy(base_config)
    cfg["training"]["enable"] = False
    resolved = resolve_config(cfg)
    with pytest.raises(ConfigError) as info:
        runner.run(resolved)
    msg = str(info.value)
    assert "training.enable is false, but testing and compilation need(s) the model" in msg
    assert "--resume --run-name NAME" in msg and "testing.enable: false and compilation.enable: false" in msg
    assert not (tmp_path / "projects").exists()
    resolved["compilation"]["model_path"] = "model.onnx"  # compile-only: compilation needs no trained model
    resolved["testing"]["enable"] = False
    runner._check_trained_model_reachable(resolved, resume=False)


def test_bad_set_value_says_it_comes_from_the_command_line(base_config):
    with pytest.raises(ConfigError) as info:
        resolve_config(base_config, ["training.training_epochs=abc"])
    assert "training.training_epochs" in str(info.value)
    assert str(info.value).endswith("(the value comes from --set 'training.training_epochs=abc')")


def test_compiled_user_input_config_has_channels_and_train_stats(tmp_path, monkeypatch):
    """With data_processing_feature_extraction.variables unset, user_input_config.h is still written,
    with the channel count and the train split's statistics (it was skipped with a note)."""
    import types

    import numpy as np
    import tinyml_tinyverse.common.compilation as tv_compilation
    from tinyml_modelmaker.ai_modules.timeseries import compilation, datasets

    for label in ("fault", "ok"):
        folder = tmp_path / "data" / "classes" / label
        folder.mkdir(parents=True)
        for i in range(3):
            np.savetxt(folder / f"r{i}.csv", np.random.default_rng(i).normal(size=(64, 2)), delimiter=",",
                       header="ax,ay", comments="")  # fmt: skip
    config = resolve_config(
        {
            "common": {
                "task_type": "generic_timeseries_classification",
                "target_device": "F28P55",
                "projects_path": str(tmp_path / "projects"),
            },  # fmt: skip
            "dataset": {"input_data_path": str(tmp_path / "data"), "split_factor": [0.34, 0.33, 0.33]},
            "data_processing_feature_extraction": {"frame_size": 16},
            "training": {"model_name": "CLS_4k_NPU"},
        }
    )
    paths = RunPaths(tmp_path / "run")
    datasets.run(config, paths)
    artifacts = tmp_path / "run" / "compilation" / "artifacts"

    def fake_compile(model, out_dir, **kwargs):  # compile_model writes the header into its artifacts
        from tinyml_tinyverse.common.compilation.compile import _write_user_input_config

        artifacts.mkdir(parents=True)
        raw = kwargs["test_vectors"]["raw"]  # the raw windows behind the test vectors: 2 channels
        _write_user_input_config(
            kwargs["data_config"], artifacts / "user_input_config.h", [], kwargs["feature_stats"], raw
        )
        return types.SimpleNamespace(artifacts_dir=artifacts, to_dict=lambda: {"passed": True})

    monkeypatch.setattr(tv_compilation, "compile_model", fake_compile)
    monkeypatch.setattr(compilation, "find_run_model", lambda paths, q: ("model", "model"))
    compilation.run(config, paths, paths.dataset)
    header = (artifacts / "user_input_config.h").read_text()
    assert "#define FE_VARIABLES 2" in header and "fe_feature_mean" in header


def test_data_in_the_current_folder_names_the_project_after_it(base_config, data_folder, monkeypatch):
    """input_data_path '.' names the project after the folder (it was the invalid name '.')."""
    monkeypatch.chdir(data_folder)
    cfg = copy.deepcopy(base_config)
    cfg["dataset"]["input_data_path"] = "."
    assert resolve_config(cfg)["dataset"]["dataset_name"] == data_folder.name
    cfg["common"]["projects_path"] = "./data/projects"  # would write into the data: refused, with a way out
    with pytest.raises(ConfigError) as info:
        resolve_config(cfg)
    assert f"e.g. {data_folder.parent / 'projects'}" in str(info.value)


def test_compile_only_with_a_file_that_is_not_onnx(tmp_path):
    from tinyml_modelmaker.ai_modules.timeseries.compilation import user_model_vectors

    fake = tmp_path / "model.onnx"
    fake.write_text("not an onnx model\n")
    with pytest.raises(ConfigError, match=r"compilation.model_path: .*model.onnx: not a readable ONNX model"):
        user_model_vectors(str(fake), None)


def test_compile_only_calibration_file_that_is_not_npy(tmp_path):
    from tinyml_modelmaker.ai_modules.timeseries.compilation import user_model_vectors

    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 4, 1])],
    )
    model = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph), str(model))
    calib = tmp_path / "calib.csv"
    calib.write_text("1,2,3\n")
    with pytest.raises(
        ConfigError, match=r"compilation.calibration_data .*calib.csv: not a numeric .npy array"
    ):
        user_model_vectors(str(model), str(calib))
