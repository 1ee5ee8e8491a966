"""The search stage of a run (between dataset and training): candidates -> fit on the target ->
a study of the ones that fit -> workers -> trials.csv, Pareto plot, winner.

The run that executes this stage coordinates: it measures every candidate with the compiler (see
``fit.py``), rejects those over the budget, writes the study's settings and queue, starts
``search.workers - 1`` local worker processes (``search-worker``), works itself, waits for trials
that other machines still run, and writes the results into ``search/``. Interrupting it leaves the
study in its storage; ``--resume`` queues again every candidate without a finished trial and
carries on. The winner (``search/winner.yaml``) then goes through the normal training, testing and
compilation stages.
"""

from __future__ import annotations

import gc
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from tinyml_tinyverse.common.errors import ConfigError, ModelError

from tinyml_modelmaker.config import dump_yaml, plain
from tinyml_modelmaker.run_folder import RunPaths, project_dir

from . import results
from . import study as S
from .fit import (
    FitContext,
    collect_latencies,
    compile_preset,
    fit_setup,
    forget_todo,
    measure_all,
    measure_one_latency,
    plan_measuring,
    preset_data_config,
    save_figures,
)
from .space import Budget, Candidate, resolve_budget, rung_epochs
from .trial import TrialContext, preset_key
from .worker import dataset_fingerprint, set_threads, thread_share, work, write_data_configs

DATA_SECTION = "data_processing_feature_extraction"
WINNER_FILE = "winner.yaml"
POLL_S = 0.2  # how often a waiting process looks at the study (a few small queries)


def search_dir(paths: RunPaths) -> Path:
    return paths.root / "search"


def read_winner(paths: RunPaths) -> dict | None:
    """The winner a finished search left in this run folder, or None."""
    path = search_dir(paths) / WINNER_FILE
    return (yaml.safe_load(path.read_text()) or None) if path.is_file() else None


def apply_winner(config: dict, winner: dict) -> None:
    """Set the run's model, weight bit width and feature-extraction preset to the winner's (in place);
    4 and 2-bit weights are compiled packed, as the search measured them."""
    config["training"]["model_name"] = winner["model"]
    if winner["bits"] != 32:
        config["training"]["quantization_weight_bitwidth"] = int(winner["bits"])
        config["compilation"]["preset_name"] = compile_preset(
            config["compilation"]["preset_name"], winner["bits"]
        )
    if winner.get("preset"):
        config[DATA_SECTION] = preset_data_config(config[DATA_SECTION], winner["preset"])


def trial_epochs(config: dict, task_name: str, dataset_dir: Path, data_configs: dict) -> int:
    """``search.trial_epochs``, else ``training.training_epochs``, else what the training script picks when
    ``--epochs`` is not given: its default, raised on small data to reach ``training.min_steps`` optimizer
    steps (for the preset with the fewest steps per epoch; the trials then all train that long)."""
    import torch
    from tinyml_tinyverse.common.datasets import load_split
    from tinyml_tinyverse.references.common.data_setup import auto_batch_size, make_train_loader
    from tinyml_tinyverse.references.common.train_base import DEFAULT_EPOCHS

    tr = config["training"]
    given = config["search"]["trial_epochs"] or tr["training_epochs"]
    if given:
        return int(given)
    epochs = DEFAULT_EPOCHS
    for data_config in data_configs.values():
        x = load_split(dataset_dir, "train", task_name, data_config, cache_dir=dataset_dir / "cache").X
        batch = tr["batch_size"] or auto_batch_size(len(x))
        steps = len(make_train_loader(x, None, batch, 0, 0, torch.device("cpu"))[0])
        epochs = max(epochs, -(-int(tr["min_steps"]) // max(1, steps)))
    return epochs


def _settings(config: dict, task: Any, feasible: list[Candidate], figures: dict, data_configs: dict,
              fingerprint: str, trial_epochs: int) -> dict:  # fmt: skip
    search = config["search"]
    return plain({
        "task": task.name, "metric": task.primary_metric, "direction": "maximize" if task.mode == "max" else "minimize",
        "trial_epochs": trial_epochs, "min_epochs": min(int(search["min_epochs"]), trial_epochs),
        "reduction_factor": int(search["reduction_factor"]), "pruner": search["pruner"],
        "rungs": phase_rungs(search["pruner"], int(search["min_epochs"]), int(search["reduction_factor"]), trial_epochs),
        "training": config["training"], "target_device": config["common"]["target_device"],
        "data_configs": {preset_key(p): cfg for p, cfg in data_configs.items()},
        "candidates": groups(feasible, figures),
        "budget": resolve_budget(config).to_dict(), "dataset_fingerprint": fingerprint,
    })  # fmt: skip


def phase_rungs(pruner: str, min_epochs: int, factor: int, trial_epochs: int) -> list[int]:
    """The epoch each phase trains to: successive halving ``min_epochs * factor**k`` while the next rung
    still fits in ``trial_epochs``, then ``trial_epochs``; one phase for the other pruners."""
    if pruner != "successive_halving":
        return [trial_epochs]
    rungs = [
        r
        for r in rung_epochs(min(min_epochs, trial_epochs), factor, trial_epochs)[:-1]
        if r * factor <= trial_epochs
    ]
    return rungs + [trial_epochs]


def survivors(study: Any, settings: dict, phase: int) -> list[str]:
    """The candidates that go on to ``phase``: all for the first; then the best ``1 / reduction_factor``
    (rounded up) of those that finished the previous phase, less those whose training already finished
    (early stopping). Ties: the least flash, then the order of the queue."""
    from optuna.trial import TrialState

    keys = [g["key"] for g in settings["candidates"]]
    if phase == 0:
        return keys
    flash = {g["key"]: min(v["flash_bytes"] for v in g["variants"]) for g in settings["candidates"]}
    done = {S.trial_key(t): t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.user_attrs.get("phase") == phase - 1 and not t.user_attrs.get("duplicate_of")}  # fmt: skip
    sign = -1 if settings["direction"] == "maximize" else 1
    ranked = sorted(done, key=lambda k: (sign * done[k].value, flash[k], keys.index(k)))
    keep = ranked[: -(-len(ranked) // settings["reduction_factor"])]
    return [k for k in keep if not done[k].user_attrs.get("final")]


def groups(feasible: list[Candidate], figures: dict) -> list[dict]:
    """The trials to run: one per model (and preset), with the bit widths of it that fit (its variants)."""
    out: dict[str, dict] = {}
    for c in feasible:
        g = out.setdefault(c.group, {"key": c.group, "model": c.model, "preset": c.preset, "variants": []})
        g["variants"].append({"bits": c.bits, **figures[c.key]})
    return list(out.values())


def _open_study(config: dict, paths: RunPaths, settings: dict, storage: Any) -> Any:
    """Create the study in ``storage`` (or find the one an interrupted search left)."""
    import optuna

    folder = search_dir(paths)
    run_name = paths.root.relative_to(project_dir(config) / "run").as_posix()
    name = S.default_study_name(config, run_name)
    study = optuna.create_study(study_name=name, storage=storage, direction=settings["direction"],
                                pruner=S.make_pruner(settings), load_if_exists=True)  # fmt: skip
    before = study.user_attrs.get("settings")
    if before is not None and [c["key"] for c in before["candidates"]] != [
        c["key"] for c in settings["candidates"]
    ]:
        raise ConfigError(
            f"search: study {name!r} in {S.storage_url(config, folder)} was started with other candidates "
            f"({len(before['candidates'])} vs {len(settings['candidates'])} now: the target, budget or search space "
            f"changed); start a new run (a new --run-name) or set search.study_name to a new name"
        )
    if before is None:
        study.set_user_attr("settings", settings)
    failed = S.fail_dead_trials(study)
    if before is not None:
        print(f"search: continuing study {name!r} ({len(failed)} interrupted trial(s) closed; what is left is "
              f"queued again)")  # fmt: skip
    study.set_user_attr(S.DONE, False)
    study.set_user_attr(S.LAST_PHASE, False)
    return study


def _start_local_workers(paths: RunPaths, run_name: str, count: int, threads: int) -> list[subprocess.Popen]:
    """``search.workers - 1`` worker processes on this machine, started before the candidates are measured:
    they help measure (``--measure``), then take trials once the study is ready."""
    cmd = [sys.executable, "-m", "tinyml_modelmaker.run_tinyml_modelmaker", "search-worker", str(paths.config),
           "--run-name", run_name, "--threads", str(threads), "--wait", "3600", "--measure"]  # fmt: skip
    return [subprocess.Popen(cmd + ["--label", f"worker {k + 2}"]) for k in range(count)]


def _stop_workers(procs: list[subprocess.Popen]) -> None:
    """Stop the local workers as Ctrl-C does, and wait so that their trials are closed."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.terminate()


def _wait_for_joins(study: Any, procs: list[subprocess.Popen], timeout_s: float = 180) -> None:
    """Wait until the local worker processes have joined the study (started before the measuring, they
    usually have), so the trials are shared from the first one."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout_s:
        joined = sum(1 for k in study.user_attrs if k.startswith(S.JOINED))
        if joined >= len(procs) or any(p.poll() is not None for p in procs):
            return
        time.sleep(0.1)


def _run_phase(study: Any, ctx: TrialContext, keys: list[str], phase: int) -> None:
    """Queue ``phase`` of ``keys``, work on it here, and wait for the trials of it that other processes
    or machines run; trials whose worker died are queued again (and run here). Waiting in the last phase
    (no phase to queue next), it measures the deferred latencies of the candidates: they are needed
    before the search ends, and measured next to the last trials they finish sooner than after them."""
    import optuna

    last = phase == len(ctx.settings["rungs"]) - 1
    if last:
        study.set_user_attr(S.LAST_PHASE, True)
    said = 0.0
    while True:
        optuna.storages.fail_stale_trials(study)  # RDB storages: trials whose heartbeat stopped
        S.fail_dead_trials(study)
        if S.queue_phase(study, keys, phase) or S.waiting(study):
            study.set_user_attr(S.READY, True)
            work(study, ctx)
            continue
        left = S.running(study)
        if not left:
            return
        if time.perf_counter() - said > 60:
            where = ", ".join(f"trial {t.number} on {t.user_attrs.get('worker', '?')}" for t in left)
            print(f"search: waiting for {len(left)} trial(s) running elsewhere: {where}", flush=True)
            said = time.perf_counter()
        work_dir = ctx.trials_dir.parent / "candidates"
        if not (last and measure_one_latency(work_dir, ctx.settings["target_device"])):
            time.sleep(POLL_S)


def run_search(config: dict, paths: RunPaths, dataset_dir: Path) -> dict:
    """Run (or continue) the search of ``config``; returns the winner (also in ``search/winner.yaml``)."""
    from concurrent.futures import ThreadPoolExecutor

    t0 = time.perf_counter()
    folder = search_dir(paths)
    (folder / "candidates").mkdir(parents=True, exist_ok=True)
    forget_todo(folder / "candidates")
    workers = int(config["search"]["workers"])
    run_name = paths.root.relative_to(project_dir(config) / "run").as_posix()
    # the local workers start first: they load torch and the zoo while this process prepares the measuring
    procs = _start_local_workers(paths, run_name, workers - 1, thread_share(workers)) if workers > 1 else []
    opening, threads_before = ThreadPoolExecutor(1), None
    try:
        budget = resolve_budget(config)
        space, data_configs, ctx = fit_setup(config, folder, Path(dataset_dir))
        print(f"search: {len(space)} candidate(s) ({', '.join(dict.fromkeys(c.model for c in space))}); budget "
              f"{budget.describe()}", flush=True)  # fmt: skip
        cache = plan_measuring(space, ctx, data_configs, budget)
        import torch

        threads_before = torch.get_num_threads()
        set_threads(workers)
        S.quiet_optuna()  # here: warning filters set in a thread do not hold in this one
        storage = opening.submit(S.open_storage, S.storage_url(config, folder))  # opens while measuring
        figures = measure_all(space, ctx, data_configs, budget, cache, label="worker 1")
        study, settings = _prepare_study(
            config, paths, space, figures, budget, data_configs, ctx, storage.result()
        )
        wctx = TrialContext(settings=settings, dataset_dir=Path(dataset_dir), trials_dir=folder / "trials",
                            data_config_paths=write_data_configs(settings, folder / "data_configs"),
                            cuda=torch.cuda.is_available())  # fmt: skip
        wctx.label = f"worker 1 {wctx.label}"
        S.queue_phase(study, survivors(study, settings, 0), 0)
        study.set_user_attr(S.READY, True)
        _wait_for_joins(study, procs)
        for phase, rung in enumerate(settings["rungs"]):
            keys = survivors(study, settings, phase)
            if phase and keys:
                print(f"search: {len(keys)} candidate(s) go on to {rung} epochs: "
                      f"{', '.join(k.replace('|-', '') for k in keys)}", flush=True)  # fmt: skip
            _run_phase(study, wctx, keys, phase)
        study.set_user_attr(S.DONE, True)
        while measure_one_latency(folder / "candidates", settings["target_device"]):
            pass  # the deferred latencies left, with the local workers
        for p in procs:
            p.wait()
    except BaseException:
        _stop_workers(procs)
        raise
    finally:
        opening.shutdown(wait=True)
        gc.unfreeze()  # the trials froze what lived before them (worker.work); the rest of the run as before
        if threads_before is not None:
            torch.set_num_threads(threads_before)
    return _finish(study, settings, figures, budget, folder, time.perf_counter() - t0)


def _prepare_study(config: dict, paths: RunPaths, space: list[Candidate], figures: dict, budget: Budget,
                   data_configs: dict, ctx: FitContext, storage: Any) -> tuple[Any, dict]:  # fmt: skip
    """Reject the candidates over the budget, then open the study of the rest; returns it and its settings."""
    from tinyml_tinyverse.references.common.tasks import get_task

    fits = [c for c in space if not figures[c.key].get("error") and not budget.problems(figures[c.key])]
    for c in space:
        if c not in fits:
            why = figures[c.key].get("error") or "; ".join(budget.problems(figures[c.key]))
            print(f"search: rejected before training: {c.label()}: {why}", flush=True)
    if not fits:
        smallest = min((figures[c.key] for c in space if "flash_bytes" in figures[c.key]),
                       key=lambda f: f["flash_bytes"], default=None)  # fmt: skip
        hint = (
            f" (the smallest needs flash {smallest['flash_bytes']} B, RAM {smallest['ram_bytes']} B)"
            if smallest
            else ""
        )
        raise ConfigError(
            f"search: no candidate fits the budget {budget.describe()}{hint}; raise search.max_flash_bytes / "
            f"max_ram_bytes / max_latency_us, widen search.models, or pick a larger common.target_device"
        )
    fits.sort(key=lambda c: -figures[c.key].get("params", 0))  # the largest first: they set the bar to beat
    epochs = trial_epochs(config, ctx.task, ctx.dataset_dir, data_configs)
    settings = _settings(config, get_task(ctx.task), fits, figures, data_configs,
                         dataset_fingerprint(ctx.dataset_dir), epochs)  # fmt: skip
    study = _open_study(config, paths, settings, storage)
    print(f"search: {len(fits)} candidate(s) fit: {len(settings['candidates'])} trial(s) to train (up to "
          f"{settings['trial_epochs']} epochs each, {settings['pruner']} pruning from epoch {settings['min_epochs']}; "
          f"the bit widths of a model share its training); study {study.study_name!r}", flush=True)  # fmt: skip
    return study, settings


def _finish(study: Any, settings: dict, figures: dict, budget: Any, folder: Path, seconds: float) -> dict:
    maximize = settings["direction"] == "maximize"
    if any(f.get("latency_pending") for f in figures.values()):
        collect_latencies(figures, folder / "candidates", settings["target_device"])
        save_figures(figures, folder / "candidates")
    rows = results.trial_rows(study, figures, budget)
    results.write_trials_csv(rows, folder / "trials.csv", settings["metric"])
    winner = results.choose_winner(rows, maximize)
    results.plot_pareto(rows, folder / "pareto.png", settings["metric"], maximize, budget, winner)
    for line in results.results_lines(rows, winner, settings["metric"]):
        print(line, flush=True)
    if winner is None:
        errors = "; ".join(
            f"trial {r['trial']} {r['model']}: {r['note']}" for r in rows if r["state"] == "failed"
        )
        raise ModelError(
            f"search: no trial finished ({errors or 'all were pruned'}); see {folder / 'trials.csv'}"
        )
    counts = {
        s: sum(1 for r in rows if r["state"] == s)
        for s in ("complete", "pruned", "failed", "rejected", "skipped")
    }
    info = {
        "model": winner["model"], "preset": winner["preset"] or None, "bits": winner["bits"], "trial": winner["trial"],
        "metric": settings["metric"], "val_score": winner["val_score"], "flash_bytes": winner["flash_bytes"],
        "ram_bytes": winner["ram_bytes"], "latency_us": winner["latency_us"], "params": winner["params"],
        "budget": settings["budget"], "trials": counts, "seconds": round(seconds, 1), "study": study.study_name,
    }  # fmt: skip
    dump_yaml(info, folder / WINNER_FILE)
    print(f"search: winner {Candidate(info['model'], info['preset'], info['bits']).label()} (trial {info['trial']}, "
          f"val {settings['metric']} {info['val_score']:.4f}); it now trains with the full recipe; "
          f"{folder / 'trials.csv'}, {folder / 'pareto.png'}", flush=True)  # fmt: skip
    return info


def check_compiled(winner: dict, compilation: dict) -> dict:
    """The winner's figures from its compile after training, next to the budget (the search measured the
    untrained model: RAM is the same, flash and latency differ by the trained weights' tables)."""
    memory = compilation.get("memory") or {}
    compiled = {
        "flash_bytes": (memory.get("flash") or {}).get("total_bytes"),
        "ram_bytes": (memory.get("ram") or {}).get("total_bytes"),
        "latency_us": (memory.get("latency") or {}).get("estimated_us"),
    }
    if compiled["flash_bytes"] is None or compiled["ram_bytes"] is None:
        return compiled
    problems = Budget(**winner["budget"]).problems(compiled)
    compiled["within_budget"] = not problems
    if problems:
        print(
            f"search: warning: the trained winner compiles over the search budget: {'; '.join(problems)} (the "
            f"untrained model measured flash {winner['flash_bytes']} B, RAM {winner['ram_bytes']} B)",
            flush=True,
        )
    return compiled
