"""A stage's work in a process of its own (tinyml_modelmaker.stage_process): results and errors come
back as if the call were local, and a whole run keeps torch out of its own process."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml
from conftest import write_yaml
from tinyml_modelmaker import stage_process
from tinyml_tinyverse.common.errors import ConfigError, ModelError


@pytest.fixture(autouse=True)
def stage_processes_on(monkeypatch):
    monkeypatch.setenv(stage_process.ENV_SWITCH, "1")


def test_the_call_runs_in_another_process_and_returns_its_value():
    assert stage_process.call("os:getpid") != os.getpid()
    value, peak = stage_process.call_measured("os.path:join", "a", "b")
    assert value == os.path.join("a", "b") and 5 < peak < 10_000


def test_a_user_error_comes_back_with_its_type_and_message():
    with pytest.raises(ConfigError, match="did you mean .training_epochs."):
        stage_process.call("tinyml_modelmaker.config:resolve_config", {"training": {"trainig_epochs": 3}}, [])


def test_a_process_that_dies_is_named():
    with pytest.raises(ModelError, match="os:_exit ended without a result .exit code 3"):
        stage_process.call("os:_exit", 3)


def test_switched_off_it_runs_here(monkeypatch):
    monkeypatch.setenv(stage_process.ENV_SWITCH, "0")
    assert stage_process.call("os:getpid") == os.getpid()
    assert stage_process.call_measured("os:getpid")[1] is None


def test_a_run_keeps_torch_out_of_its_own_process(tmp_path):
    """Dataset, training, testing and compilation each in a process of their own: the run's process
    never imports torch, onnxruntime or pyarrow, and the summary has each stage's peak memory."""
    config = {
        "common": {"task_type": "generic_timeseries_classification", "target_device": "F28P55",
                   "projects_path": str(tmp_path / "projects"), "run_name": "light"},
        "dataset": {"input_data_path": "generated://motor_fault",
                    "generator_config": {"files_per_class": 4, "length": 4096}},
        "data_processing_feature_extraction": {
            "feature_extraction_name": "Generic_256Input_FFTBIN_16Feature_8Frame", "variables": 3},
        "training": {"model_name": "CLS_1k_NPU", "training_epochs": 2, "quantization": 2,
                     "quantization_method": "PTQ"},
        "testing": {"enable": True},
        "compilation": {"enable": True},
    }  # fmt: skip
    path = write_yaml(tmp_path / "run.yaml", config)
    code = (
        "import sys\n"
        "from tinyml_modelmaker.run_tinyml_modelmaker import main\n"
        f"assert main([{str(path)!r}]) == 0\n"
        "print('HEAVY', sorted(m for m in ('torch', 'onnxruntime', 'pyarrow', 'onnx') if m in sys.modules))\n"
    )
    env = dict(os.environ, **{stage_process.ENV_SWITCH: "1"})
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "HEAVY []" in out.stdout
    assert "stages: dataset done, training done, testing done, compilation done" in out.stdout
    summary = yaml.safe_load(
        (tmp_path / "projects" / "motor_fault" / "run" / "light" / "run_summary.yaml").read_text()
    )
    peaks = summary["peak_rss_mib"]
    assert set(peaks) == {"dataset", "training", "testing", "compilation"}
    assert peaks["training"] > 200  # torch's process is counted, not only this light one
    # the training report's plots and onnxruntime check: finished after the training process, without torch
    base = tmp_path / "projects" / "motor_fault" / "run" / "light" / "training" / "base"
    assert {"loss_curve.png", "metric_curve.png", "confusion_matrix.png", "roc_curves.png"} <= {
        p.name for p in base.glob("*.png")
    }
    assert not list(base.glob("*pending*"))
    parity = summary["training"]["onnx"]["max_rel_diff_vs_torch"]
    assert isinstance(parity, float) and 0 <= parity <= 1e-4
    assert yaml.safe_load((base / "summary.yaml").read_text())["onnx"]["max_rel_diff_vs_torch"] == parity


def test_its_output_comes_through_this_process(capsys):
    """What the stage prints lands on this process's stdout (a capture or a redirect of the run gets it)."""
    stage_process.call("builtins:print", "from the stage's process")
    assert "from the stage's process" in capsys.readouterr().out
