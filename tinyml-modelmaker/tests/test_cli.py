"""The command line: exit codes, one-line errors, start-up time, --describe, --check."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml
from conftest import PACKAGE_ROOT, REPO_ROOT, timed_run, write_yaml
from tinyml_modelmaker.describe import describe
from tinyml_modelmaker.run_tinyml_modelmaker import main
from tinyml_tinyverse.common.errors import ConfigError

SCRIPT = PACKAGE_ROOT / "tinyml_modelmaker" / "run_tinyml_modelmaker.py"
START_UP_LIMIT_S = 2.0


def test_bad_config_rejected_fast_without_torch(tmp_path, base_config):
    """A bad config is rejected within 2 s of the command, with one line, exit code 2, and no torch."""
    base_config["training"]["learning_rat"] = 0.1
    path = write_yaml(tmp_path / "bad.yaml", base_config)
    probe = (
        "import runpy, sys\n"
        "sys.argv = ['tinyml-modelmaker', sys.argv[1]]\n"
        "try:\n"
        f"    runpy.run_path({str(SCRIPT)!r}, run_name='__main__')\n"
        "finally:\n"
        "    print('TORCH' if 'torch' in sys.modules else 'NOTORCH', file=sys.stderr)\n"
    )
    proc, wall, cpu = timed_run([sys.executable, "-c", probe, str(path)])
    assert proc.returncode == 2, proc.stderr
    assert "did you mean 'learning_rate'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "NOTORCH" in proc.stderr
    assert cpu < START_UP_LIMIT_S, (  # CPU time: the wall time grows with other jobs on the cores
        f"start-up took {cpu:.2f} s CPU, {wall:.2f} s wall"
    )


def test_bad_data_section_rejected_fast(tmp_path, base_config):
    """The data section is validated by tinyverse (numpy/scipy, no torch) within the same 2 s."""
    base_config["data_processing_feature_extraction"] = {"frame_sise": 256}
    path = write_yaml(tmp_path / "bad.yaml", base_config)
    proc, wall, cpu = timed_run([sys.executable, str(SCRIPT), str(path)])
    assert proc.returncode == 2, proc.stderr
    assert (
        "bad.yaml" in proc.stderr
        and "frame_sise" in proc.stderr
        and "did you mean 'frame_size'" in proc.stderr
    )
    assert cpu < START_UP_LIMIT_S, (  # CPU time: the wall time grows with other jobs on the cores
        f"start-up took {cpu:.2f} s CPU, {wall:.2f} s wall"
    )


def test_console_script_runs_from_repo_root(tmp_path, base_config):
    path = write_yaml(tmp_path / "cfg.yaml", base_config)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tinyml_modelmaker.run_tinyml_modelmaker",
            str(path),
            "--check",
            "--set",
            "training.training_epochs=7",
        ],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    resolved = yaml.safe_load(proc.stdout)
    assert resolved["training"]["training_epochs"] == 7
    assert resolved["common"]["task_type"] == "generic_timeseries_classification"


def test_main_exit_codes(tmp_path, base_config, capsys):
    path = write_yaml(tmp_path / "cfg.yaml", base_config)
    assert main([str(path), "--check", "--set", "common.target_device=F28P56"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ERROR: ") and "common.target_device" in err
    assert main([]) == 2
    assert main([str(path), "--check", "--run-name", "123"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["common"]["run_name"] == "123"


def test_describe_topics(capsys):
    everything = describe()
    for text in (
        "generic_timeseries_forecasting",
        "training.learning_rate",
        "compress_npu_layer_data",
        "MSPM0G5187",
    ):
        assert text in everything
    assert "never stop early" in describe("training.early_stopping_patience")
    assert "F28P55" in describe("devices") and "NPU" in describe("F28P55")
    assert "split_factor" in describe("dataset")
    with pytest.raises(ConfigError, match="did you mean 'training'"):
        describe("trainin")
    assert main(["--describe", "tasks"]) == 0
    assert "generic_timeseries_regression" in capsys.readouterr().out
    assert main(["--describe", "models"]) == 0
    models = capsys.readouterr().out
    assert "CLS_4k_NPU" in models and "AD_1k_NPU" in models and "TimeSeries_Generic_13k_t" in models


def test_config_reference_is_up_to_date():
    """docs/config_reference.md is generated; regenerate it with the command in its header."""
    committed = (REPO_ROOT / "docs" / "config_reference.md").read_text()
    assert committed == describe(markdown=True), (
        "docs/config_reference.md is stale: run `tinyml-modelmaker --describe --markdown > docs/config_reference.md`"
    )


def test_bad_run_name_error_names_the_run_name_option(tmp_path, base_config, capsys):
    path = write_yaml(tmp_path / "cfg.yaml", base_config)
    assert main([str(path), "--run-name", "../escape"]) == 2
    err = capsys.readouterr().err
    assert "without '..'" in err and "(the value comes from --run-name)" in err and "--set" not in err
