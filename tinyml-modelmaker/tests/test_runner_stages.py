"""The runner's stage logic on real generated data, without training: dataset stage outputs, skipped
stages, the clear errors when a later stage finds nothing an earlier run left, the peak memory of each
stage and the dataset plots drawn after the last stage (also when a later stage fails)."""

from __future__ import annotations

import copy

import pytest
import yaml
from conftest import write_yaml
from tinyml_modelmaker.config import resolve_config
from tinyml_modelmaker.run_tinyml_modelmaker import main
from tinyml_tinyverse.common.errors import ConfigError, ModelError

SMALL_MOTOR = {"files_per_class": 3, "length": 2048}


@pytest.fixture
def dataset_only(tmp_path) -> dict:
    return {
        "common": {
            "task_type": "generic_timeseries_classification",
            "projects_path": str(tmp_path / "projects"),
            "run_name": "r1",
        },
        "dataset": {"input_data_path": "generated://motor_fault", "generator_config": SMALL_MOTOR},
        "data_processing_feature_extraction": {"frame_size": 256, "variables": 3},
        "training": {"enable": False},
        "testing": {"enable": False},
        "compilation": {"enable": False},
    }


def _run(cfg: dict, resume: bool = False) -> dict:
    from tinyml_modelmaker.ai_modules.timeseries import runner

    return runner.run(resolve_config(cfg), resume=resume)


def test_dataset_stage_generates_and_prepares(dataset_only, tmp_path):
    summary = _run(dataset_only)
    root = tmp_path / "projects" / "motor_fault" / "run" / "r1"
    generated = list((tmp_path / "projects" / "motor_fault").glob("generated_*"))
    assert len(generated) == 1 and (generated[0] / "classes" / "normal").is_dir()
    for name in ("config_resolved.yaml", "run_summary.yaml", "data_config.yaml"):
        assert (root / name).is_file()
    for split in ("train", "val", "test"):
        assert (root / "dataset" / "annotations" / f"{split}_list.txt").read_text().strip()
    assert summary["dataset"]["class_names"] == sorted(
        ["normal", "imbalance", "misalignment", "bearing_defect"]
    )
    assert summary["stages"]["training"]["status"] == "skipped"
    on_disk = yaml.safe_load((root / "run_summary.yaml").read_text())
    assert on_disk["stages"]["dataset"]["status"] == "done"
    resolved = yaml.safe_load((root / "config_resolved.yaml").read_text())
    assert resolved["dataset"]["dataset_name"] == "motor_fault"
    assert resolved["data_processing_feature_extraction"]["frame_size"] == 256


def test_later_stage_without_earlier_output_is_a_clear_error(dataset_only):
    cfg = copy.deepcopy(dataset_only)
    cfg["dataset"]["enable"] = False
    cfg["testing"]["enable"] = True
    with pytest.raises(ConfigError, match="no prepared dataset.*dataset.enable: true.*--resume"):
        _run(cfg)
    _run(dataset_only | {"common": dataset_only["common"] | {"run_name": "r2"}})
    cfg["common"]["run_name"] = "r2"
    with pytest.raises(ConfigError, match=r"testing: .*model.onnx is missing; run the training stage"):
        _run(cfg, resume=True)
    summary = yaml.safe_load(open(f"{cfg['common']['projects_path']}/motor_fault/run/r2/run_summary.yaml"))
    assert summary["stages"]["testing"]["status"] == "failed"
    cfg["testing"]["enable"] = False
    cfg["compilation"]["enable"] = True
    with pytest.raises(
        ConfigError, match=r"compilation: no model in .*training/quantization.*compilation.model_path"
    ):
        _run(cfg, resume=True)


def test_existing_run_folder_cli_error(dataset_only, tmp_path, capsys):
    path = write_yaml(tmp_path / "cfg.yaml", dataset_only)
    assert main([str(path)]) == 0
    assert main([str(path)]) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "--resume" in err and "Traceback" not in err
    assert main([str(path), "--resume", "--set", "training.training_epochs=3"]) == 0  # dataset stage reused
    out = capsys.readouterr().out
    assert "dataset: done in the run being resumed" in out
    assert "config differs" in out and "training.training_epochs: None -> 3" in out


def test_user_zip_and_prepared_dataset_reuse(dataset_only, tmp_path):
    """Bring your own data as a .zip; a later project trains on that prepared folder with dataset.enable: false."""
    import shutil

    from tinyml_tinyverse.common.datasets.generators import generate_motor_fault

    raw = generate_motor_fault(tmp_path / "recordings", files_per_class=3, length=2048, seed=3)
    archive = shutil.make_archive(str(tmp_path / "vibration"), "zip", raw)
    cfg = copy.deepcopy(dataset_only)
    cfg["dataset"] = {"input_data_path": archive}
    summary = _run(cfg)
    assert summary["dataset"]["files_per_split"] == {"train": 4, "val": 4, "test": 4}
    prepared = tmp_path / "projects" / "vibration" / "run" / "r1" / "dataset"
    assert (prepared / "dataset_info.yaml").is_file()
    assert not list(tmp_path.glob("recordings/annotations")), "nothing is written into the user's data"

    reuse = copy.deepcopy(cfg)
    reuse["dataset"] = {"enable": False, "dataset_name": "reuse", "input_data_path": str(prepared)}
    reuse["training"] = {"model_name": "CLS_1k_NPU", "training_epochs": 1, "quantization": 0}
    summary = _run(reuse)
    assert summary["stages"]["dataset"]["status"] == "skipped"
    assert summary["stages"]["training"]["status"] == "done"
    assert summary["training"]["num_train"] > 0


def test_results_table_repeats_training_warnings():
    from tinyml_modelmaker.ai_modules.timeseries.runner import results_table

    summary = {
        "run_folder": "x",
        "training": {
            "test": {"accuracy": 0.25},
            "warnings": ["validation split: accuracy 0.250 is no better"],
        },
        "stages": {"training": {"status": "done"}},
    }
    table = results_table(summary)
    assert "warning: validation split: accuracy 0.250 is no better" in table and "0.2500" in table


PLOTS = ("recordings_per_class.png", "class_counts.png", "feature_pca.png")


def test_stage_peak_memory_and_plots_after_the_last_stage(dataset_only, tmp_path, capsys):
    from tinyml_modelmaker.ai_modules.timeseries import runner

    summary = runner.run(resolve_config(dataset_only))
    dataset = tmp_path / "projects" / "motor_fault" / "run" / "r1" / "dataset"
    assert all((dataset / name).stat().st_size > 10_000 for name in PLOTS)
    assert not (dataset / "plots_pending.npz").exists()
    on_disk = yaml.safe_load((dataset.parent / "run_summary.yaml").read_text())
    assert set(on_disk["peak_rss_mib"]) == {"dataset"}  # only the stages that ran
    assert 30 < on_disk["peak_rss_mib"]["dataset"] < 100_000
    assert summary["dataset"]["plots_seconds"] >= 0
    out = capsys.readouterr().out
    assert out.index("== dataset ==") < out.index("dataset: plots drawn into") < out.index("results:")


def test_a_failing_stage_still_leaves_the_dataset_plots(dataset_only, tmp_path, monkeypatch):
    from tinyml_modelmaker.ai_modules.timeseries import runner

    def failing_training(run):
        raise ModelError("the model diverged")

    monkeypatch.setitem(runner.STAGE_FUNCTIONS, "training", failing_training)
    with pytest.raises(ModelError, match="diverged"):
        runner.run(resolve_config({**dataset_only, "training": {"enable": True, "model_name": "CLS_1k_NPU"}}))
    dataset = tmp_path / "projects" / "motor_fault" / "run" / "r1" / "dataset"
    assert all((dataset / name).is_file() for name in PLOTS)
