"""The search study's default storage (an SQLite file): processes that take queued trials at once each
get a different one, and a running trial whose local worker process is gone is recognised."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

from tinyml_modelmaker.search import study as S

TAKE = """import json, sys, warnings
warnings.simplefilter("ignore")
import optuna
from optuna.trial import TrialState
from tinyml_modelmaker.search import study as S
study = optuna.load_study(study_name="queue", storage=S.open_storage(sys.argv[1]))
sys.stdout.write("ready\\n"); sys.stdout.flush(); sys.stdin.readline()  # all start taking at once
taken = []
while study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
    trial = study.ask()  # what Study.optimize does: the next waiting trial, marked running
    taken.append(trial.number)  # the queued ones are 0 .. 299 (a process finding the queue empty at once makes a new one)
print(json.dumps(taken))
"""


def test_processes_taking_queued_trials_from_sqlite_never_take_the_same_one(tmp_path):
    """Optuna takes a queued trial by reading that it waits, then marking it running; SQLite ignores the
    row lock Optuna asks for, and with deferred transactions two processes took the same trial (11 of
    300 with 4 processes before the storage began its transactions IMMEDIATE; a search crashed on it)."""
    import optuna

    url = f"sqlite:///{tmp_path / 'study.db'}"
    S.quiet_optuna()
    study = optuna.create_study(study_name="queue", storage=S.open_storage(url))
    items = 300
    for k in range(items):
        study.enqueue_trial({"item": k})
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", TAKE, url], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    for p in procs:
        assert p.stdout.readline().strip() == "ready"
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    taken = Counter()
    for p in procs:
        out, _ = p.communicate(timeout=300)
        assert p.returncode == 0
        taken.update(json.loads(out.strip().splitlines()[-1]))
    twice = sorted(k for k, n in taken.items() if n > 1 and k < items)
    assert twice == [], f"queued trials taken by two processes: {twice}"
    assert set(range(items)) <= set(taken)  # every queued trial was taken


def test_a_local_worker_whose_process_is_gone_is_recognised_by_its_label():
    """Trials record their worker as a label (``worker 2 host:pid``); the run fails the running trials of
    a worker process that died (and queues them again) only if it can read the pid from that label."""
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    gone = f"{S.worker_id().rsplit(':', 1)[0]}:{proc.stdout.strip()}"
    assert S.alive_here(gone) is False
    assert S.alive_here(f"worker 2 {gone}") is False
    assert S.alive_here(f"worker 1 {S.worker_id()}") is True
    assert S.alive_here(f"worker 3 elsewhere.example:{proc.stdout.strip()}") is None  # another machine
    assert S.alive_here(None) is None


def test_a_worker_goes_on_when_another_process_closed_its_running_trial(tmp_path, monkeypatch, capsys):
    """A trial whose heartbeat another process found stale (a machine that slept, or was busy for two
    minutes) is failed there and queued again; the worker that was still running it finds it closed when
    it reports. Optuna then raised from deep inside (``Should not reach``) and the whole search stopped;
    the worker now says so, drops that result and takes the next trial."""
    import gc

    import optuna
    from optuna.trial import TrialState
    from tinyml_modelmaker.search import worker
    from tinyml_modelmaker.search.trial import TrialContext

    url = f"sqlite:///{tmp_path / 'study.db'}"
    S.quiet_optuna()
    study = optuna.create_study(study_name="queue", storage=S.open_storage(url))
    for k in range(2):
        study.enqueue_trial({"item": k})
    elsewhere = optuna.load_study(study_name="queue", storage=S.open_storage(url))  # another process's view
    ran = []

    def trains(trial, ctx):  # trial 0 is failed elsewhere while it trains here
        ran.append(trial.number)
        if trial.number == 0:
            elsewhere.tell(0, state=TrialState.FAIL)
        return 0.9

    monkeypatch.setattr(worker, "run_trial", trains)
    monkeypatch.setattr(worker, "describe", lambda trial, settings: f"search: trial {trial.number} done")
    ctx = TrialContext(settings={}, dataset_dir=tmp_path, trials_dir=tmp_path, data_config_paths={})
    try:
        assert worker.work(study, ctx) == 1  # trial 1 finished here; trial 0's result was dropped
    finally:
        gc.unfreeze()
    assert ran == [0, 1]
    assert "trial 0 was closed by another process" in capsys.readouterr().out
    assert {t.number: t.state for t in study.get_trials()} == {0: TrialState.FAIL, 1: TrialState.COMPLETE}
