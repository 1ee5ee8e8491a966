"""Search workers: the loop that takes queued trials from the study, and ``tinyml-modelmaker
search-worker CONFIG`` that joins a running search from another process or machine.

A worker runs ``study.optimize`` with the pruner of the study's settings until the queue is empty.
It prints one line per finished trial. On the machine of the run it trains on the run folder's
dataset; elsewhere it prepares the same dataset from the same config into
``<projects_path>/<dataset_name>/search_workers/<study>/`` and checks it matches the study's.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from tinyml_tinyverse.common.errors import ConfigError, TinyMLError

from tinyml_modelmaker.config import dump_yaml, resolve_config
from tinyml_modelmaker.run_folder import RunPaths, open_run_folder, project_dir

from . import study as S
from .space import search_active
from .trial import TrialContext, describe, run_trial

WAIT_FOR_STUDY_S = 600


def thread_share(workers: int) -> int:
    """Torch threads of each of ``workers`` local workers: the cores split between them (one at least)."""
    return max(1, (os.cpu_count() or 1) // max(1, workers))


def set_threads(workers: int) -> None:
    """Split this machine's cores between the local workers."""
    import torch

    torch.set_num_threads(thread_share(workers))


def work(study: Any, ctx: TrialContext) -> int:
    """Run queued trials until the queue is empty; returns how many this worker ran (finished, pruned or
    failed; not those that found their candidate taken by another worker)."""
    import optuna

    S.quiet_optuna()
    if S.waiting(study) == 0:
        return 0
    count, current = [0], [None]

    def objective(trial: Any) -> float:
        current[0] = trial.number
        try:
            return run_trial(trial, ctx)
        except optuna.TrialPruned:
            raise
        except Exception as exc:  # recorded with the trial; the search goes on with the next candidate
            trial.set_user_attr("error", f"{type(exc).__name__}: {exc}"[:1000])
            raise

    def after(study: Any, trial: Any) -> None:
        count[0] += trial.user_attrs.get("duplicate_of") is None  # not a trial that found its candidate taken
        print(describe(trial, ctx.settings), flush=True)
        if S.waiting(study) == 0:
            study.stop()

    gc.collect()
    gc.freeze()  # what lives now (torch, the zoo, the data) is not scanned again after every trial
    while True:
        try:
            study.optimize(objective, callbacks=[after], catch=(Exception,), gc_after_trial=True)
            return count[0]
        except AssertionError as exc:  # Optuna's "Should not reach" after it could not record the result
            if not _closed_elsewhere(exc.__context__):
                raise
            print(f"search: trial {current[0]} was closed by another process while it ran here (its heartbeat was "
                  f"missed: a busy or sleeping machine); its result is dropped and its candidate is queued again",
                  flush=True)  # fmt: skip
            if S.waiting(study) == 0:
                return count[0]


def _closed_elsewhere(exc: BaseException | None) -> bool:
    """Whether Optuna failed to record a trial's result because another process had already closed it."""
    import optuna

    return isinstance(exc, optuna.exceptions.UpdateFinishedTrialError) or (
        isinstance(exc, ValueError) and str(exc).startswith("Cannot tell a ")
    )


def work_until_done(study: Any, ctx: TrialContext, poll_s: float = 0.2) -> int:
    """Take queued trials until the coordinator marks the search done (between the phases of successive
    halving the queue is empty for a moment); returns how many this worker finished. Idle in the last
    phase, and at the end, it measures the candidates' deferred latencies (on the run's machine, where
    they are)."""
    from .fit import measure_one_latency

    finished = 0
    work_dir, device = ctx.trials_dir.parent / "candidates", ctx.settings["target_device"]
    while True:
        if S.waiting(study):
            finished += work(study, ctx)
            continue
        attrs = study.user_attrs
        if attrs.get(S.DONE):
            while measure_one_latency(work_dir, device):  # the rest, with the run (which gathers them)
                pass
            return finished
        if not (attrs.get(S.LAST_PHASE) and measure_one_latency(work_dir, device)):
            time.sleep(poll_s)


def dataset_fingerprint(dataset_dir: Path) -> str:
    """A digest of the split lists and the size of every file in them: two machines train on the same
    data when their fingerprints agree."""
    from tinyml_tinyverse.common.datasets import read_dataset_info

    info = read_dataset_info(dataset_dir)
    digest = hashlib.sha256()
    for split in sorted(info.splits):
        for name in info.splits[split]:
            size = (Path(info.root) / name).stat().st_size
            digest.update(f"{split}\t{name}\t{size}\n".encode())
    return digest.hexdigest()[:16]


def write_data_configs(settings: dict, folder: Path) -> dict[str, Path]:
    """The data config of each preset of the study as a YAML file in ``folder``; returns preset key -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for key, cfg in settings["data_configs"].items():
        path = folder / (re.sub(r"[^A-Za-z0-9_.\-]", "_", key if key != "-" else "configured") + ".yaml")
        dump_yaml(cfg, path)
        paths[key] = path
    return paths


def _local_run(config: dict, run_name: str | None) -> RunPaths | None:
    """The run folder on this machine (``--run-name``, or the latest matching the config), if any."""
    if run_name is not None:
        config = dict(config, common=dict(config["common"], run_name=run_name))
    try:
        return open_run_folder(config, resume=True)
    except ConfigError:
        return None


def _wait_for_study(storage: Any, name: str | None, wait_s: float) -> Any:
    """The study once the coordinator has filled its queue (polls; a missing study waits as well)."""
    t0, said = time.perf_counter(), False
    while True:
        names = S.study_names(storage)
        if name is None and len(names) == 1:
            name = names[0]
        if name in names:
            study = S.load_study(storage, name)
            if study.user_attrs.get(S.READY):
                return study
        if time.perf_counter() - t0 > wait_s:
            if name is None:
                raise ConfigError(
                    f"search-worker: the storage holds {len(names)} studies ({', '.join(names) or 'none'}); name the "
                    f"one to join with search.study_name or --run-name"
                )
            return S.load_study(storage, name)  # missing: the error lists the studies there
        if not said:
            print(
                f"search-worker: waiting for study {name or '(any)'} to be ready (up to {wait_s:.0f} s)",
                flush=True,
            )
            said = True
        time.sleep(0.2)


def join(
    config: dict,
    run_name: str | None,
    *,
    wait_s: float = WAIT_FOR_STUDY_S,
    label: str | None = None,
    measure: bool = False,
) -> int:
    """Join the search of ``config`` (see the module doc); returns the trials this worker finished.
    ``measure``: a local worker the run started: first help measure the candidates (``fit.help_measure``)."""
    import torch

    from tinyml_modelmaker.ai_modules.timeseries import datasets

    if not search_active(config):
        raise ConfigError("search-worker: the config does not search (set training.model_name: auto)")
    local = _local_run(config, run_name)
    if measure and local is not None:
        from .fit import fit_setup, help_measure

        space, data_configs, fit_ctx = fit_setup(config, local.root / "search", local.dataset)
        help_measure(space, fit_ctx, data_configs, label or S.worker_id())
    if config["search"]["storage"] is None and local is None:
        raise ConfigError(
            "search-worker: search.storage is not set, so the study is the run folder's search/study.db, and no run "
            "folder of this config is here; pass --run-name NAME of the running search, or set search.storage to a "
            "storage every machine reaches (journal:/shared/path.log, postgresql://...)"
        )
    search_dir = (local.root if local else Path(".")) / "search"
    storage = S.open_storage(S.storage_url(config, search_dir))
    name = config["search"]["study_name"]
    if name is None and local is not None:
        name = S.default_study_name(config, local.root.relative_to(project_dir(config) / "run").as_posix())
    study = _wait_for_study(storage, name, wait_s)
    settings = study.user_attrs["settings"]
    study = S.load_study(storage, study.study_name, pruner=S.make_pruner(settings))
    if local is not None and (local.dataset / "dataset_info.yaml").is_file():
        root = local.root
        dataset_dir = local.dataset
    else:  # another machine: the same data, prepared here
        root = project_dir(config) / "search_workers" / re.sub(r"[^A-Za-z0-9_.\-]", "_", study.study_name)
        paths = RunPaths(root)
        if not (paths.dataset / "dataset_info.yaml").is_file():
            print(f"search-worker: preparing the dataset into {paths.dataset}", flush=True)
            datasets.run(config, paths)
        dataset_dir = paths.dataset
    fingerprint = dataset_fingerprint(dataset_dir)
    if fingerprint != settings["dataset_fingerprint"]:
        raise ConfigError(
            f"search-worker: the dataset in {dataset_dir} differs from the one study {study.study_name!r} trains on "
            f"(fingerprint {fingerprint} vs {settings['dataset_fingerprint']}); give this worker the same data and "
            f"dataset settings as the run"
        )
    ctx = TrialContext(
        settings=settings,
        dataset_dir=dataset_dir,
        trials_dir=root / "search" / "trials",
        data_config_paths=write_data_configs(settings, root / "search" / "data_configs"),
        cuda=torch.cuda.is_available(),
    )
    if label:
        ctx.label = f"{label} {ctx.label}"
    study.set_user_attr(S.JOINED + ctx.label, time.time())  # the run waits for its local workers to join
    print(
        f"search-worker {ctx.label}: joined study {study.study_name!r} ({S.waiting(study)} trials queued)",
        flush=True,
    )
    return work_until_done(study, ctx)


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tinyml-modelmaker search-worker",
        description="Join a running model search (training.model_name: auto) from another process or machine.",
    )
    parser.add_argument("config", help="the project YAML of the search (the same as the run's)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override a config value, as for the run")  # fmt: skip
    parser.add_argument(
        "--run-name", help="the run folder of the search (default: the latest matching run_name)"
    )
    parser.add_argument("--wait", type=float, default=WAIT_FOR_STUDY_S, help="seconds to wait for the study")
    parser.add_argument(
        "--threads", type=int, default=0, help="torch threads (0: the cores / search.workers)"
    )
    parser.add_argument("--label", default=None, help=argparse.SUPPRESS)  # local workers started by the run
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)  # ... which help measure
    return parser


def main(argv: list[str] | None = None) -> int:
    """``tinyml-modelmaker search-worker CONFIG``; returns the exit code (0 done, 2 user error)."""
    args = get_args_parser().parse_args(argv)
    try:
        config = resolve_config(args.config, args.overrides)
        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        else:
            set_threads(config["search"]["workers"])
        finished = join(config, args.run_name, wait_s=args.wait, label=args.label, measure=args.measure)
        print(f"search-worker: done, {finished} trial(s) run here", flush=True)
        return 0
    except TinyMLError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "search-worker: interrupted; its running trial is queued again when the search resumes",
            file=sys.stderr,
        )
        return 130
