"""What a run leaves about its own cost: the peak memory of each stage, and the dataset plots drawn after
the last stage (also when a later stage fails), from data the dataset stage kept."""

from __future__ import annotations

import pytest
import yaml
from tinyml_modelmaker.config import resolve_config
from tinyml_tinyverse.common.errors import ModelError

PLOTS = ("recordings_per_class.png", "class_counts.png", "feature_pca.png")


@pytest.fixture
def dataset_only(tmp_path) -> dict:
    return {
        "common": {
            "task_type": "generic_timeseries_classification",
            "projects_path": str(tmp_path / "projects"),
            "run_name": "r1",
        },
        "dataset": {
            "input_data_path": "generated://motor_fault",
            "generator_config": {"files_per_class": 3, "length": 2048},
        },
        "data_processing_feature_extraction": {"frame_size": 256, "variables": 3},
        "training": {"enable": False},
        "testing": {"enable": False},
        "compilation": {"enable": False},
    }


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
