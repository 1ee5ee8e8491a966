"""The Optuna study of a search: its storage, its name, the settings every worker reads from it, and the
queue of candidates.

Storage: ``search.storage`` null is an SQLite file in the run folder (``search/study.db``: one machine,
any number of processes); any Optuna RDB URL (``postgresql://...``, ``mysql://...``, ``sqlite:///...``);
or ``journal:PATH``, an Optuna journal file (``JournalStorage``) on a file system every machine
mounts. The run that starts the search (the coordinator) writes the settings into the study's user
attributes and puts every candidate that fits the budget in the queue (``enqueue_trial``); a worker
(``tinyml-modelmaker search-worker``) takes trials from that queue and nothing else, so a candidate
is trained once however many workers join.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Any

from tinyml_tinyverse.common.errors import ConfigError

STUDY_DB = "study.db"
JOURNAL_PREFIX = "journal:"
HEARTBEAT_S = 30  # RDB storages: a running trial records a heartbeat this often ...
GRACE_S = 120  # ... and one silent this long is failed (its worker died) and its candidate queued again
READY = "ready"  # study user attribute: the coordinator filled the queue
DONE = "done"  # study user attribute: the search finished; workers leave
LAST_PHASE = "last phase"  # study user attribute: nothing more to queue; idle workers measure latencies
JOINED = "joined: "  # study user attribute prefix: a worker joined (value: its label)


def storage_url(config: dict, search_dir: Path) -> str:
    """``search.storage``, or the SQLite file of the run folder."""
    url = config["search"]["storage"]
    return url if url else f"sqlite:///{(search_dir / STUDY_DB).resolve()}"


def quiet_optuna() -> None:
    """Optuna's own logging and experimental-feature warnings off: the search prints its own lines."""
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def open_storage(url: str) -> Any:
    """An Optuna storage for ``url`` (see the module doc); a bad URL is a ConfigError naming the key."""

    quiet_optuna()
    if url.startswith(JOURNAL_PREFIX):
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        path = Path(url[len(JOURNAL_PREFIX) :].removeprefix("//"))
        if not path.parent.is_dir():
            raise ConfigError(
                f"search.storage {url!r}: the folder {path.parent} does not exist; give a journal file on a file "
                f"system every worker mounts, e.g. journal:/shared/search/motor.log"
            )
        return JournalStorage(JournalFileBackend(str(path)))
    engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    try:
        return _rdb_storage(url, engine)
    except ImportError as exc:
        raise ConfigError(
            f"search.storage {url!r} needs a database driver that is not installed ({exc}); install it (e.g. "
            f"pip install psycopg2-binary for postgresql://, pymysql for mysql+pymysql://) or use journal:PATH"
        ) from None
    except Exception as exc:  # noqa: BLE001 - sqlalchemy's URL and connection errors
        raise ConfigError(
            f"search.storage {url!r} is not a usable Optuna storage ({type(exc).__name__}: {exc}); give an RDB URL "
            f"(sqlite:///path/study.db, postgresql://user@host/db) or journal:PATH"
        ) from None


def _rdb_storage(url: str, engine: dict, tries: int = 5) -> Any:
    """``RDBStorage(url)``; tried again when processes starting at once race to create the tables of a new
    database (one of them wins: "table ... already exists" / a unique constraint for the others)."""
    import random

    import optuna
    from sqlalchemy.exc import DBAPIError

    for attempt in range(tries):
        try:
            storage = optuna.storages.RDBStorage(
                url, engine_kwargs=engine, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S
            )
            if url.startswith("sqlite"):
                _sqlite_wal(storage)
            return storage
        except DBAPIError:
            if attempt == tries - 1:
                raise
            time.sleep(0.5 + random.random())


def _sqlite_wal(storage: Any) -> None:
    """SQLite in write-ahead-log mode, each transaction taking the write lock when it begins.

    WAL: the workers' reads do not wait for another's write, and a write syncs once (a trial records a
    dozen attributes and a score per epoch); where the file system cannot hold a WAL the file keeps its
    journal (SQLite answers the pragma with the mode it kept). ``BEGIN IMMEDIATE``: Optuna takes a queued
    trial by reading that it waits, then marking it running (``SELECT ... FOR UPDATE``, which SQLite
    ignores); with the driver's default deferred transactions two processes could both read it waiting
    and both run it. Taking the lock first makes the read and the write one step (SQLAlchemy's recipe
    for serializable SQLite transactions: the driver's own BEGIN off, ours on ``begin``)."""
    from sqlalchemy import event

    def pragmas(connection: Any, _record: Any) -> None:
        connection.isolation_level = None  # the driver's implicit BEGIN off: the "begin" event's instead
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    def begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    event.listen(storage.engine, "connect", pragmas)
    event.listen(storage.engine, "begin", begin)
    storage.engine.dispose()  # the connections opened while the tables were made take the pragmas too


def default_study_name(config: dict, run_name: str) -> str:
    """``search.study_name``, or ``<dataset_name>/<run_name>``."""
    return config["search"]["study_name"] or f"{config['dataset']['dataset_name']}/{run_name}"


def study_names(storage: Any) -> list[str]:
    import optuna

    return [s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)]


def load_study(storage: Any, name: str, pruner: Any = None) -> Any:
    """The study ``name``; a missing one is a ConfigError listing the studies there."""
    import optuna

    try:
        return optuna.load_study(study_name=name, storage=storage, pruner=pruner)
    except KeyError:
        known = ", ".join(repr(n) for n in study_names(storage)) or "none"
        raise ConfigError(
            f"search: no study {name!r} in the storage (studies there: {known}); start the search first "
            f"(tinyml-modelmaker CONFIG), or set search.study_name / --run-name to the running one"
        ) from None


def make_pruner(settings: dict) -> Any:
    """The pruner the study's settings name (``successive_halving``, ``hyperband``, ``median``, ``none``)."""
    import optuna

    kind, first, factor = settings["pruner"], settings["min_epochs"], settings["reduction_factor"]
    if kind == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=first, reduction_factor=factor)
    if kind == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=first, max_resource=settings["trial_epochs"], reduction_factor=factor
        )
    if kind == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=first - 1)
    return optuna.pruners.NopPruner()


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def alive_here(worker: str | None) -> bool | None:
    """Whether the process of ``worker`` (``host:pid``, or a label ending in it: ``worker 2 host:pid``)
    runs; None when it is on another host."""
    if not worker or ":" not in worker:
        return None
    host, pid = worker.split()[-1].rsplit(":", 1)
    if host != socket.gethostname():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True


def fail_dead_trials(study: Any) -> list[int]:
    """Mark FAIL the running trials whose worker process on this host is gone (a killed run); returns them."""
    from optuna.trial import TrialState

    failed = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if alive_here(t.user_attrs.get("worker")) is False:
            study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)
            failed.append(t.number)
    return failed


def trial_key(t: Any) -> str | None:
    """The candidate (``model|preset``) a trial trains, also for a trial still waiting in the queue."""
    return t.params.get("candidate") or t.system_attrs.get("fixed_params", {}).get("candidate")


def queue_phase(study: Any, keys: list[str], phase: int) -> list[str]:
    """Enqueue phase ``phase`` of each candidate of ``keys`` that has no trial of that phase finished,
    running or waiting (a trial that failed with an error is not tried again; an interrupted one is);
    returns the keys queued."""
    from optuna.trial import TrialState

    covered = {
        trial_key(t)
        for t in study.get_trials(deepcopy=False)
        if t.user_attrs.get("phase") == phase
        and not t.user_attrs.get("duplicate_of")
        and (t.state != TrialState.FAIL or t.user_attrs.get("error"))
    }
    queued = [k for k in keys if k not in covered]
    for key in queued:
        study.enqueue_trial({"candidate": key}, user_attrs={"phase": phase}, skip_if_exists=False)
    return queued


def waiting(study: Any) -> int:
    from optuna.trial import TrialState

    return len(study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))


def running(study: Any) -> list[Any]:
    from optuna.trial import TrialState

    return study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
