"""Model search (training.model_name: auto) on small generated data: a budget only some zoo models meet,
two worker processes on one storage, and an interrupted search that resumes its study."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

import pytest
import yaml
from conftest import write_yaml
from tinyml_modelmaker.config import resolve_config
from tinyml_modelmaker.run_tinyml_modelmaker import main
from tinyml_tinyverse.common.errors import ConfigError

MODELS = ["CLS_100_NPU", "CLS_1k_NPU", "CLS_4k_NPU", "CLS_13k_NPU"]
FLASH_BUDGET = (
    6000  # on MSPM0G3507: CLS_100_NPU and CLS_1k_NPU fit, CLS_4k_NPU (~8 KB) and CLS_13k_NPU do not
)


def search_config(tmp_path: Path, **search) -> dict:
    return {
        "common": {
            "task_type": "generic_timeseries_classification",
            "target_device": "MSPM0G3507",  # Cortex-M0+: the latency is emulated
            "projects_path": str(tmp_path / "projects"),
            "run_name": "run1",
        },
        "dataset": {
            "dataset_name": "motor",
            "input_data_path": "generated://motor_fault",
            "generator_config": {"files_per_class": 4, "length": 4096},
        },
        "data_processing_feature_extraction": {
            "feature_extraction_name": "Generic_256Input_FFTBIN_16Feature_8Frame",
            "variables": 3,
        },
        "training": {
            "model_name": "auto",
            "training_epochs": 3,
            "quantization": 2,
            "quantization_method": "PTQ",
            "early_stopping_patience": 0,
        },
        "search": {"min_epochs": 1, **search},
        "testing": {"enable": False},
        "compilation": {"enable": False},
    }


def run_root(cfg: dict) -> Path:
    return Path(cfg["common"]["projects_path"]) / cfg["dataset"]["dataset_name"] / "run" / "run1"


def read_trials(root: Path) -> list[dict]:
    with open(root / "search" / "trials.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_search_under_a_flash_budget_returns_a_model_that_fits_and_compiles_it(tmp_path, capsys):
    cfg = search_config(tmp_path, models=MODELS, max_flash_bytes=FLASH_BUDGET)
    cfg["compilation"]["enable"] = True
    cfg["testing"]["enable"] = True
    assert main([str(write_yaml(tmp_path / "search.yaml", cfg))]) == 0
    out = capsys.readouterr().out
    root = run_root(cfg)
    rows = read_trials(root)
    by_model = {r["model"]: r for r in rows}
    assert set(by_model) == set(MODELS)
    for name in ("CLS_4k_NPU", "CLS_13k_NPU"):  # rejected from the compiler's figures, never trained
        assert by_model[name]["state"] == "rejected" and int(by_model[name]["flash_bytes"]) > FLASH_BUDGET
        assert f"flash {by_model[name]['flash_bytes']} B > {FLASH_BUDGET} B" in by_model[name]["note"]
        assert by_model[name]["trial"] == ""
    trained = [r for r in rows if r["state"] in ("complete", "pruned")]
    assert sorted(r["model"] for r in trained) == ["CLS_100_NPU", "CLS_1k_NPU"]
    assert all(r["seed"] == "42" and float(r["latency_us"]) > 0 for r in trained)  # seeded; emulated latency
    assert "rejected before training: CLS_13k_NPU" in out and "search: trial 0 " in out  # one line per trial
    # successive halving: both train 1 epoch, the better one goes on to 3 (the other stops at its rung)
    assert sorted(int(r["epochs"]) for r in trained) == [1, 3] and "go on to 3 epochs" in out
    # the cut into the last rung ranks on what the chip runs: the quantized val score, the float one beside it
    assert "val accuracy (quantized) 8-bit" in out
    (pruned,) = [r for r in trained if r["state"] == "pruned"]
    assert "quantized" in pruned["note"] and pruned["val_accuracy"] and pruned["val_accuracy_float"]

    summary = yaml.safe_load((root / "run_summary.yaml").read_text())
    stages = ("dataset", "search", "training", "testing", "compilation")
    assert [summary["stages"][s]["status"] for s in stages] == ["done"] * 5
    winner = summary["search"]
    assert winner["model"] in ("CLS_100_NPU", "CLS_1k_NPU") and summary["model_name"] == winner["model"]
    assert yaml.safe_load((root / "training/base/summary.yaml").read_text())["model"] == winner["model"]
    compiled = summary["compilation"]
    assert compiled["passed"] and compiled["max_abs_diff"] == 0
    assert winner["compiled"]["within_budget"] and compiled["memory"]["flash"]["total_bytes"] <= FLASH_BUDGET
    # the figures the search used are the compiler's: RAM exactly, flash within the trained weights' tables
    assert winner["compiled"]["ram_bytes"] == winner["ram_bytes"]
    assert abs(winner["compiled"]["flash_bytes"] - winner["flash_bytes"]) <= 0.01 * winner["flash_bytes"]
    from PIL import Image

    with Image.open(root / "search" / "pareto.png") as plot:  # two panels: score vs flash, score vs latency
        assert plot.width > 2 * plot.height
    header = (root / "search" / "trials.csv").read_text().splitlines()[0].split(",")
    for column in ("model", "preset", "bits", "params", "flash_bytes", "ram_bytes", "latency_us", "state"):
        assert column in header
    assert "val_accuracy" in header
    assert (root / "search" / "study.db").is_file()
    with sqlite3.connect(root / "search" / "study.db") as db:  # write-ahead log: readers do not wait
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # a finished trial's folder: its scores and models, no plots drawn or left pending, the ONNX checked
    trial_base = next((root / "search" / "trials").glob("*/training/base/summary.yaml")).parent
    assert not list(trial_base.glob("*.png")) and not list(trial_base.glob("*pending*"))
    trial_summary = yaml.safe_load((trial_base / "summary.yaml").read_text())
    assert trial_summary["onnx"]["max_rel_diff_vs_torch"] < 1e-3
    # the test split stays out of the search: trials are scored on val, only the winner is tested
    assert "test" not in trial_summary and "test" not in trial_summary["quantization"]
    assert (
        not (trial_base / "reference_outputs.npz").exists()
        and "test split" not in (trial_base.parents[1] / "train.log").read_text()
    )
    assert "test" in yaml.safe_load((root / "training/base/summary.yaml").read_text())


def test_the_winners_training_continues_its_trial_and_equals_training_it_from_the_start(tmp_path, capsys):
    """The search's last trial of the winner trained what the training stage would train first (same
    recipe, seed, data): the stage resumes from it, then refits, quantizes and reports, and ends with the
    same model, to the bit, as a run that names the winner and trains it from the start. (One torch thread
    everywhere: with two, two trainings of the same run differ in the last bits of a loss.)"""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # this process's stages; the search gives each of its 2 workers 1 of 2 cores
    try:
        cfg = search_config(tmp_path, models=["CLS_100_NPU", "CLS_1k_NPU"], pruner="none", workers=2)
        cfg["training"]["training_epochs"] = 2
        assert main([str(write_yaml(tmp_path / "search.yaml", cfg))]) == 0
        out = capsys.readouterr().out
        root = run_root(cfg)
        winner = yaml.safe_load((root / "run_summary.yaml").read_text())["search"]
        assert f"training: {winner['model']} continues from search trial {winner['trial']}" in out

        named = json.loads(
            json.dumps(cfg)
        )  # the same project naming the winner: no search, trained from the start
        named["common"]["run_name"] = "named"
        named["training"]["model_name"] = winner["model"]
        named["training"]["quantization_weight_bitwidth"] = winner["bits"]
        assert main([str(write_yaml(tmp_path / "named.yaml", named))]) == 0
        assert "continues from search trial" not in capsys.readouterr().out
    finally:
        torch.set_num_threads(threads)
    other = root.parent / "named"
    logs = []
    for r in (root, other):
        with open(r / "training/base/training_log.csv", newline="") as f:
            logs.append([{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(f)])
    assert logs[0] == logs[1]  # the trial's epochs, then the probe and the refit, as trained anew
    assert [r["phase"] for r in logs[0]].count("refit") == 2
    a, b = (torch.load(r / "training/base/best_model.pt", map_location="cpu", weights_only=True)["state_dict"]
            for r in (root, other))  # fmt: skip
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    ours, theirs = (yaml.safe_load((r / "training/base/summary.yaml").read_text()) for r in (root, other))
    for key in ("epochs_run", "best_epoch", "refit", "val", "test"):
        assert ours[key] == theirs[key], key
    assert {k: v for k, v in ours["quantization"].items() if k != "output_dir"} == {
        k: v for k, v in theirs["quantization"].items() if k != "output_dir"
    }


def test_two_workers_share_one_journal_storage_and_run_each_candidate_once(tmp_path):
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    journal = tmp_path / "shared" / "study.log"
    journal.parent.mkdir()
    models = ["CLS_100_NPU", "CLS_500_NPU", "CLS_1k_NPU"]
    cfg = search_config(tmp_path, models=models, workers=2, pruner="none", storage=f"journal:{journal}")
    cfg["training"]["training_epochs"] = 2
    assert main([str(write_yaml(tmp_path / "search.yaml", cfg))]) == 0

    storage = JournalStorage(JournalFileBackend(str(journal)))
    (summary,) = optuna.get_all_study_summaries(storage)
    study = optuna.load_study(study_name=summary.study_name, storage=storage)
    trials = study.get_trials()
    ran = [t for t in trials if t.state.name == "COMPLETE"]
    keys = [t.params["candidate"] for t in ran]
    assert sorted(k.split("|")[0] for k in keys) == sorted(models) and len(set(keys)) == len(keys)
    workers = {t.user_attrs["worker"].rsplit(":", 1)[1] for t in ran}  # the pids of the processes
    assert len(workers) == 2, [t.user_attrs["worker"] for t in ran]
    for t in trials:  # a trial that lost a race for the last queued candidate never trained
        if t.user_attrs.get("duplicate_of") is not None:
            assert not Path(t.user_attrs.get("folder", tmp_path / "none")).exists()
    rows = read_trials(run_root(cfg))
    assert sorted(r["model"] for r in rows if r["state"] == "complete") == sorted(models)


def test_two_search_worker_processes_join_one_storage_and_no_trial_runs_twice(tmp_path):
    """``tinyml-modelmaker search-worker CONFIG`` twice, started before the run, on one SQLite storage: every
    candidate trains once, both workers' results are in the study."""
    import subprocess
    import sys

    import optuna

    models = ["CLS_100_NPU", "CLS_500_NPU", "CLS_1k_NPU", "CLS_2k_NPU", "CLS_4k_NPU"]
    db = tmp_path / "shared" / "study.db"
    db.parent.mkdir()
    cfg = search_config(
        tmp_path, models=models, pruner="none", storage=f"sqlite:///{db}", study_name="motor-cli"
    )
    cfg["training"]["training_epochs"] = 2
    path = str(write_yaml(tmp_path / "search.yaml", cfg))
    exe = str(Path(sys.executable).with_name("tinyml-modelmaker"))
    cmd = [exe, "search-worker", path, "--threads", "1", "--wait", "600"]
    workers = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)
    ]
    try:
        assert main([path]) == 0  # the run: measures, queues, trains too, waits for the workers' trials
        outs = [w.communicate(timeout=600)[0] for w in workers]
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
    assert [w.returncode for w in workers] == [0, 0], outs

    study = optuna.load_study(study_name="motor-cli", storage=f"sqlite:///{db}")
    trials = study.get_trials()
    ran = [t for t in trials if t.state.name == "COMPLETE"]
    keys = [t.params["candidate"] for t in ran]
    assert sorted(keys) == sorted(f"{m}|-" for m in models)  # each candidate once
    pids = {t.user_attrs["worker"].rsplit(":", 1)[1] for t in ran}
    assert {str(w.pid) for w in workers} <= pids, [
        t.user_attrs["worker"] for t in ran
    ]  # both workers' results
    for w, out in zip(workers, outs):
        mine = sum(t.user_attrs["worker"].endswith(f":{w.pid}") for t in ran)
        assert f"search-worker: done, {mine} trial(s) run here" in out
    for t in trials:  # a trial that lost a race for the last queued candidate never trained
        assert t.user_attrs.get("duplicate_of") is None or "folder" not in t.user_attrs
    rows = read_trials(run_root(cfg))
    assert sorted(r["model"] for r in rows if r["state"] == "complete") == sorted(models)


def test_interrupted_search_resumes_its_study(tmp_path, monkeypatch):
    from tinyml_modelmaker.search import worker

    cfg = search_config(tmp_path, models=["CLS_100_NPU", "CLS_500_NPU", "CLS_1k_NPU"], pruner="none")
    cfg["training"]["training_epochs"] = 1
    path = write_yaml(tmp_path / "search.yaml", cfg)
    real, calls = worker.run_trial, []

    def interrupt_second(trial, ctx):
        calls.append(trial.number)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(trial, ctx)

    monkeypatch.setattr(worker, "run_trial", interrupt_second)
    assert main([str(path)]) == 130
    monkeypatch.setattr(worker, "run_trial", real)
    assert main([str(path), "--resume", "--run-name", "run1"]) == 0
    import optuna

    storage = optuna.storages.RDBStorage(f"sqlite:///{run_root(cfg) / 'search' / 'study.db'}")
    trials = optuna.load_study(study_name="motor/run1", storage=storage).get_trials()
    assert [t.state.name for t in trials[:2]] == ["COMPLETE", "FAIL"]  # the second was interrupted
    from tinyml_modelmaker.search.study import trial_key

    interrupted = trial_key(trials[1])  # from the queue entry: it stopped before it started
    again = [t for t in trials[2:] if trial_key(t) == interrupted]
    assert len(again) == 1 and again[0].state.name == "COMPLETE"  # queued again on resume, trained once
    ran = [trial_key(t) for t in trials if t.state.name == "COMPLETE"]
    assert sorted(ran) == sorted(f"{m}|-" for m in cfg["search"]["models"])  # trial 0 was not trained again
    rows = read_trials(run_root(cfg))
    assert sorted(r["model"] for r in rows if r["state"] == "complete") == sorted(cfg["search"]["models"])


def test_search_config_errors_name_the_key(tmp_path):
    cfg = search_config(tmp_path, models=["REGR_*"])
    with pytest.raises(ConfigError, match="search.models"):
        from tinyml_modelmaker.search.space import candidates

        candidates(resolve_config(cfg), ["CLS_1k_NPU"])
    cfg = search_config(tmp_path, weight_bitwidths=[8, 4])
    cfg["training"]["quantization"] = 1
    with pytest.raises(ConfigError, match="search.weight_bitwidths"):
        resolve_config(cfg)
    cfg = search_config(tmp_path)
    cfg["training"]["model_name"] = "CLS_1k_NPU"
    cfg["search"]["enable"] = True
    with pytest.raises(ConfigError, match="training.model_name: auto"):
        resolve_config(cfg)
    cfg = search_config(tmp_path, storage="not a url")
    with pytest.raises(ConfigError, match="search.storage"):
        resolve_config(cfg)


def test_candidates_and_rungs():
    from tinyml_modelmaker.search.space import rung_epochs

    assert rung_epochs(2, 3, 30) == [2, 6, 18, 30]
    assert rung_epochs(5, 3, 4) == [4]
    assert json.loads(json.dumps(rung_epochs(1, 2, 5))) == [1, 2, 4, 5]
