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


@pytest.fixture(scope="module")
def light_run(tmp_path_factory):
    """A whole run with every stage in a process of its own; ``(run folder, output of the run)``."""
    tmp_path = tmp_path_factory.mktemp("light")
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
    return tmp_path / "projects" / "motor_fault" / "run" / "light", out.stdout


def test_a_run_keeps_torch_out_of_its_own_process(light_run):
    """Dataset, training, testing and compilation each in a process of their own: the run's process
    never imports torch, onnxruntime or pyarrow, and the summary has each stage's peak memory."""
    root, stdout = light_run
    assert "HEAVY []" in stdout
    assert "stages: dataset done, training done, testing done, compilation done" in stdout
    summary = yaml.safe_load((root / "run_summary.yaml").read_text())
    peaks = summary["peak_rss_mib"]
    assert set(peaks) == {"dataset", "training", "testing", "compilation"}
    assert peaks["training"] > 200  # torch's process is counted, not only this light one
    # the training report's plots and onnxruntime check: finished after the training process, without torch
    base = root / "training" / "base"
    assert {"loss_curve.png", "metric_curve.png", "confusion_matrix.png", "roc_curves.png"} <= {
        p.name for p in base.glob("*.png")
    }
    assert not list(base.glob("*pending*"))
    parity = summary["training"]["onnx"]["max_rel_diff_vs_torch"]
    assert isinstance(parity, float) and 0 <= parity <= 1e-4
    assert yaml.safe_load((base / "summary.yaml").read_text())["onnx"]["max_rel_diff_vs_torch"] == parity


def test_testing_and_compilation_need_no_torch(light_run):
    """The testing stage checks the ONNX model against best_model.pt's outputs that the training process
    recorded (reference_outputs.npz), and the compiler checks the NPU rules on the ONNX graph: neither
    imports torch. A checkpoint changed since its record is compared by computing its outputs again."""
    root, _ = light_run
    code = (
        "import sys, yaml\n"
        "from pathlib import Path\n"
        "from tinyml_modelmaker.run_folder import RunPaths\n"
        "from tinyml_modelmaker.ai_modules.timeseries import runner\n"
        f"paths = RunPaths(Path({str(root)!r}))\n"
        "config = yaml.safe_load(paths.config.read_text())\n"
        "results = runner.testing_work(config, paths, paths.dataset, 'classification')\n"
        "print('PARITY', results['float']['max_rel_diff_vs_reference'])\n"
        "runner.compilation_work(config, paths, paths.dataset)\n"
        "print('TORCH', 'torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "TORCH False" in out.stdout
    assert 0 <= float(out.stdout.split("PARITY ")[1].split()[0]) <= 1e-4
    # a best_model.pt that no longer matches its record: testing computes its outputs with torch
    record = root / "training" / "base" / "reference_outputs.npz"
    assert record.is_file()
    import numpy as np

    with np.load(record) as z:
        stale = {k: z[k] for k in z.files}
    stale["model_sha256"] = np.asarray("0" * 64)
    np.savez(record, **stale)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "TORCH True" in out.stdout
    assert 0 <= float(out.stdout.split("PARITY ")[1].split()[0]) <= 1e-4


def test_its_output_comes_through_this_process(capsys):
    """What the stage prints lands on this process's stdout (a capture or a redirect of the run gets it)."""
    stage_process.call("builtins:print", "from the stage's process")
    assert "from the stage's process" in capsys.readouterr().out


def test_a_process_started_ahead_serves_the_next_call():
    """start_ahead: the child imports its module while this process works on, then runs the next call."""
    stage_process.start_ahead("tinyml_modelmaker.config")
    ahead, folder = stage_process._started
    assert stage_process.call("os:getpid") == ahead.pid
    assert stage_process._started is None and not folder.exists() and ahead.returncode == 0
    assert stage_process.call("os:getpid") not in (ahead.pid, os.getpid())  # the next one starts anew


def test_a_process_started_ahead_and_unused_ends_with_this_one():
    stage_process.start_ahead("tinyml_modelmaker.config")
    ahead, folder = stage_process._started
    stage_process._drop_started()  # what atexit does
    assert ahead.returncode == 0 and not folder.exists() and stage_process._started is None
