"""Interrupted runs as a user meets them: Ctrl-C prints the exact command that continues the run and
continuing it gives what an uninterrupted run gives; --resume refuses a config whose data or training
settings differ from what is on disk; run folders are never reused, nested or left half-made."""

from __future__ import annotations

import copy
import csv
import datetime as dt
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import PACKAGE_ROOT, write_yaml
from tinyml_modelmaker.config import resolve_config
from tinyml_modelmaker.run_folder import open_run_folder
from tinyml_modelmaker.run_tinyml_modelmaker import main
from tinyml_tinyverse.common.errors import ConfigError

EPOCHS = 5


def small_config(projects: Path) -> dict:
    return {
        "common": {
            "task_type": "generic_timeseries_classification",
            "target_device": "F28P55",
            "projects_path": str(projects),
        },
        "dataset": {
            "input_data_path": "generated://motor_fault",
            "generator_config": {"files_per_class": 4, "length": 4096},
        },
        "data_processing_feature_extraction": {
            "feature_extraction_name": "Generic_256Input_FFTBIN_16Feature_8Frame",
            "variables": 3,
        },
        "training": {
            "model_name": "CLS_1k_NPU",
            "training_epochs": 50,  # lowered with --set below, as a user would
            "quantization": 2,
            "quantization_method": "PTQ",
        },
        "testing": {"enable": False},
        "compilation": {"enable": False},
    }


def run_root(projects: Path, name: str) -> Path:
    return projects / "motor_fault" / "run" / name


def log_rows(root: Path) -> list[dict]:
    with open(root / "training/base/training_log.csv", newline="") as f:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(f)]


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> dict:
    """A YAML on disk and one uninterrupted run of it (``whole``), made once for this module."""
    tmp = tmp_path_factory.mktemp("interrupt")
    projects = tmp / "projects"
    path = write_yaml(tmp / "motor.yaml", small_config(projects))
    # in a process like the interrupted one (1 thread): float sums depend on the thread count
    cli = [sys.executable, "-m", "tinyml_modelmaker.run_tinyml_modelmaker"]
    subprocess.run([*cli, str(path), "--set", f"training.training_epochs={EPOCHS}", "--run-name", "whole"],
                   env=dict(os.environ, OMP_NUM_THREADS="1"), cwd=PACKAGE_ROOT, check=True, capture_output=True)  # fmt: skip
    return {"yaml": path, "projects": projects, "whole": run_root(projects, "whole"), "tmp": tmp}


def default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_prints_the_exact_command_and_continuing_gives_the_uninterrupted_result(project):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    cli = [sys.executable, "-m", "tinyml_modelmaker.run_tinyml_modelmaker"]
    args = [str(project["yaml"]), "--set", f"training.training_epochs={EPOCHS}", "--run-name", "ctrl_c"]
    # a shell starts background jobs with SIGINT ignored, and the child would inherit that: Ctrl-C as
    # from a terminal needs SIGINT's default action in the child
    proc = subprocess.Popen([*cli, *args], env=env, cwd=PACKAGE_ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)  # fmt: skip
    root = run_root(project["projects"], "ctrl_c")
    log = root / "training/base/training_log.csv"
    deadline = time.monotonic() + 600  # generous: a busy 2-core machine starts torch slowly
    while not log.is_file() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    assert log.is_file(), f"no epoch on disk after 600 s: {proc.poll()=}"
    proc.send_signal(signal.SIGINT)  # Ctrl-C once the first epoch is on disk
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err
    summary = yaml.safe_load((root / "run_summary.yaml").read_text())
    assert summary["stages"]["training"]["status"] == "interrupted"
    assert not (root / "training/base/summary.yaml").exists()  # nothing looks finished
    assert not list(root.rglob("*.tmp")), "a half-written file was left behind"
    # the printed command repeats the YAML and the --set overrides and names the run folder
    command = err.strip().splitlines()[-1].strip()
    expected = f"tinyml-modelmaker {project['yaml']} --set training.training_epochs={EPOCHS} --resume --run-name ctrl_c"
    assert command == expected
    words = shlex.split(command)
    resumed = subprocess.run([*cli, *words[1:]], env=env, cwd=PACKAGE_ROOT, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resumed from" in resumed.stdout + resumed.stderr
    assert "config differs" not in resumed.stdout
    # the same result as the run that was never interrupted: every epoch, the quantized model
    assert log_rows(root) == log_rows(project["whole"])
    q_cont = np.load(root / "training/quantization/quantized_graph.npz")
    q_whole = np.load(project["whole"] / "training/quantization/quantized_graph.npz")
    assert sorted(q_cont) == sorted(q_whole)
    assert all(np.array_equal(q_cont[k], q_whole[k]) for k in q_whole)
    final = yaml.safe_load((root / "run_summary.yaml").read_text())
    whole = yaml.safe_load((project["whole"] / "run_summary.yaml").read_text())
    assert final["stages"]["training"]["status"] == "done"
    assert final["training"]["test"] == whole["training"]["test"]
    assert final["training"]["quantization"]["test"] == whole["training"]["quantization"]["test"]


def test_resume_with_changed_training_keys_is_refused_and_nothing_is_rewritten(project, capsys):
    whole = project["whole"]
    before = {p: p.read_bytes() for p in (whole / "config_resolved.yaml", whole / "run_summary.yaml")}
    code = main([str(project["yaml"]), "--set", f"training.training_epochs={EPOCHS}", "--set",
                 "training.model_name=CLS_4k_NPU", "--run-name", "whole", "--resume"])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "ERROR: --resume:" in err and "training.model_name: 'CLS_1k_NPU' -> 'CLS_4k_NPU'" in err
    assert "without --resume" in err and "Traceback" not in err
    # the dataset settings are locked too once the dataset stage finished
    code = main([str(project["yaml"]), "--set", f"training.training_epochs={EPOCHS}", "--set",
                 "dataset.split_factor=[0.5,0.25,0.25]", "--run-name", "whole", "--resume"])  # fmt: skip
    assert code == 2 and "dataset.split_factor" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in before} == before  # config_resolved.yaml still tells what was used


def test_resume_of_a_finished_run_reuses_training_and_may_change_testing(project, capsys):
    whole = project["whole"]
    best = whole / "training/base/best_model.pt"
    stamp, rows = best.stat().st_mtime_ns, log_rows(whole)
    code = main([str(project["yaml"]), "--set", f"training.training_epochs={EPOCHS}", "--set",
                 "testing.enable=true", "--run-name", "whole", "--resume"])  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "training: done in the run being resumed; reusing it" in out
    assert best.stat().st_mtime_ns == stamp and log_rows(whole) == rows
    summary = yaml.safe_load((whole / "run_summary.yaml").read_text())
    assert summary["stages"]["testing"]["status"] == "done"
    assert summary["testing"]["float"]["metrics"]["accuracy"] == summary["training"]["test"]["accuracy"]


def test_a_stage_in_progress_is_marked_started_on_disk(project, monkeypatch):
    """A run killed outright (SIGKILL) cannot write anything more: the summary says which stage began."""
    from tinyml_modelmaker.ai_modules.timeseries import runner

    seen = {}

    def training_that_is_killed(run):
        seen.update(yaml.safe_load(run.paths.summary.read_text())["stages"])
        raise KeyboardInterrupt

    monkeypatch.setitem(runner.STAGE_FUNCTIONS, "training", training_that_is_killed)
    cfg = resolve_config(small_config(project["projects"]), ["common.run_name=started"])
    with pytest.raises(KeyboardInterrupt) as info:
        runner.run(cfg)
    assert seen == {"dataset": {"status": "done", "seconds": seen["dataset"]["seconds"]},
                    "training": {"status": "started", "seconds": 0.0}}  # fmt: skip
    assert info.value.run_name == "started"


def test_ctrl_c_before_the_run_folder_exists_says_there_is_nothing_to_continue(project, monkeypatch, capsys):
    from tinyml_modelmaker.ai_modules.timeseries import runner

    def interrupted_check(config):
        raise KeyboardInterrupt

    # the model check, which runs before the run folder exists
    monkeypatch.setattr(runner, "check_before_data", interrupted_check)
    assert main([str(project["yaml"]), "--run-name", "never"]) == 130
    assert "nothing to continue" in capsys.readouterr().err
    assert not run_root(project["projects"], "never").exists()


# -- run folders -------------------------------------------------------------------------------------
@pytest.fixture
def config(tmp_path) -> dict:
    return resolve_config(small_config(tmp_path / "projects"))


def test_same_yaml_twice_in_one_second_gets_two_folders(config):
    now = dt.datetime(2026, 5, 1, 12, 0, 0)
    first = open_run_folder(config, now=now)
    second = open_run_folder(config, now=now)
    assert first.root != second.root and first.root.is_dir() and second.root.is_dir()
    assert second.root.parts[-2] == "20260501-120001"
    assert open_run_folder(config, resume=True).root == second.root


def test_resume_of_date_time_runs_ignores_named_runs(config):
    cfg = copy.deepcopy(config)
    cfg["common"]["run_name"] = "{date-time}"
    dated = open_run_folder(cfg, now=dt.datetime(2026, 5, 1, 12, 0, 0))
    named = copy.deepcopy(cfg)
    named["common"]["run_name"] = "zz_named"
    open_run_folder(named)
    assert open_run_folder(cfg, resume=True).root == dated.root


def test_resume_of_a_missing_run_names_the_runs_there(config):
    cfg = copy.deepcopy(config)
    cfg["common"]["run_name"] = "first"
    paths = open_run_folder(cfg)
    paths.config.write_text("{}\n")
    cfg["common"]["run_name"] = "frist"
    with pytest.raises(ConfigError, match=r"frist' does not exist \(runs there: 'first'\).*--run-name"):
        open_run_folder(cfg, resume=True)


def test_existing_run_name_error_gives_the_resume_command(config):
    cfg = copy.deepcopy(config)
    cfg["common"]["run_name"] = "my_run"
    open_run_folder(cfg)
    with pytest.raises(ConfigError, match=r"never overwritten.*--resume --run-name my_run"):
        open_run_folder(cfg)


def test_a_run_inside_another_run_folder_is_refused(config):
    cfg = copy.deepcopy(config)
    cfg["common"]["run_name"] = "outer"
    open_run_folder(cfg).config.write_text("{}\n")
    cfg["common"]["run_name"] = "outer/inner"
    with pytest.raises(ConfigError, match="inside the run folder"):
        open_run_folder(cfg)
    assert not (run_root(Path(cfg["common"]["projects_path"]), "outer") / "inner").exists()


def test_projects_path_that_cannot_be_written_is_a_one_line_error(tmp_path, capsys):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the projects folder should be\n")
    path = write_yaml(tmp_path / "motor.yaml", small_config(blocker / "projects"))
    assert main([str(path), "--run-name", "r"]) == 2
    err = capsys.readouterr().err
    assert "cannot create the run folder" in err and "common.projects_path" in err
    assert "Traceback" not in err
