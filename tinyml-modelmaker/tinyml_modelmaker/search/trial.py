"""One trial: train a candidate with the run's recipe, report its validation score epoch by epoch, and
stop it where the pruner says it will not win.

A trial trains through the reference script's public entry (``train.get_args_parser()`` /
``main(args)``, as the training stage does) into ``search/trials/trial_NNNN/``, seeded with
``training.seed``. It stops after each rung (``min_epochs * reduction_factor**k`` epochs), reports the
best validation score of every epoch so far, asks the pruner, and continues from ``checkpoint.pt``
(resuming gives exactly the uninterrupted run). A trial that reaches ``trial_epochs`` (or stops
early) finishes as a normal training does, then the same float training is quantized again at each
other bit width listed (``--resume`` of the finished run). Its value is the best validation score of
the quantized models (of the float model for ``training.quantization: 0``), so bit widths compete on
what the chip runs.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tinyml_modelmaker.run_folder import RunPaths

from .space import Candidate, rung_epochs
from .study import worker_id


@dataclass
class TrialContext:
    """What a worker needs to run trials: the study's settings and this machine's folders."""

    settings: dict  # the study's user attribute "settings" (written by the coordinator)
    dataset_dir: Path
    trials_dir: Path
    data_config_paths: dict[str, Path]  # preset key -> data_config.yaml written on this machine
    cuda: bool = False
    label: str = field(default_factory=worker_id)


def preset_key(preset: str | None) -> str:
    return preset or "-"


def trial_config(settings: dict, candidate: Candidate) -> dict:
    """The ``training`` section a trial trains with: the run's, for this candidate and ``trial_epochs``."""
    training = copy.deepcopy(settings["training"])
    training.update(
        model_name=candidate.model, training_epochs=settings["trial_epochs"], resume=False, model_config=None,
        num_gpus=min(1, training["num_gpus"]),
    )  # fmt: skip
    if candidate.bits != 32:
        training["quantization_weight_bitwidth"] = candidate.bits
    return {"training": training}


def _train_module(task: str) -> Any:
    import importlib

    from tinyml_modelmaker.ai_modules.timeseries.constants import REFERENCE_PACKAGES

    return importlib.import_module(f"{REFERENCE_PACKAGES[task]}.train")


def trial_argv(ctx: TrialContext, candidate: Candidate, root: Path) -> list[str]:
    """The ``train.py`` arguments of a trial (the training stage's, with the trial's folders)."""
    from tinyml_modelmaker.ai_modules.timeseries.training.tinyml_tinyverse.reference_call import train_argv

    paths = RunPaths(root)
    shutil.copyfile(ctx.data_config_paths[preset_key(candidate.preset)], paths.data_config)
    config = trial_config(ctx.settings, candidate)
    argv = train_argv(config, paths, ctx.dataset_dir, cuda=ctx.cuda, progress=False)
    parser = _train_module(ctx.settings["task"]).get_args_parser()
    if "--refit" in parser._option_string_actions:  # the search scores on val: val must stay unseen
        argv += ["--refit", "off"]
    return argv


def _run(task: str, argv: list[str], log_path: Path) -> dict:
    """Run the reference training with its output in ``log_path``; returns its summary (or the
    ``interrupted_after_epoch`` marker of a stop at a rung)."""
    import yaml

    module = _train_module(task)
    with open(log_path, "a") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        args = module.get_args_parser().parse_args(argv)
        result = module.main(args)
    if isinstance(result, dict) and "interrupted_after_epoch" in result:
        return dict(result)
    summary_path = Path(argv[argv.index("--output-dir") + 1]) / "summary.yaml"
    return yaml.safe_load(summary_path.read_text()) or {}


def read_scores(log_csv: Path, metric: str) -> list[tuple[int, float]]:
    """``(epoch, val metric)`` of each training epoch in ``training_log.csv`` (refit rows left out)."""
    if not log_csv.is_file():
        return []
    with open(log_csv, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("phase", "train") in ("", "train")]
    return [
        (int(r["epoch"]), float(r[f"val_{metric}"])) for r in rows if r.get(f"val_{metric}") not in (None, "")
    ]


def final_score(summary: dict, metric: str, quantized: bool) -> tuple[float, float | None]:
    """``(value, float value)``: the quantized model's val score when quantized, else the float one."""
    float_value = (summary.get("val") or {}).get(metric)
    if quantized:
        value = ((summary.get("quantization") or {}).get("val") or {}).get(metric)
    else:
        value = float_value
    value = float("nan") if value is None else float(value)
    return value, None if float_value is None else float(float_value)


def _best_so_far(scores: list[tuple[int, float]], maximize: bool) -> list[tuple[int, float]]:
    out, best = [], None
    for epoch, value in scores:
        if math.isfinite(value) and (best is None or (value > best if maximize else value < best)):
            best = value
        out.append((epoch, value if best is None else best))
    return out


def _with(argv: list[str], flag: str, value: str) -> list[str]:
    out = list(argv)
    out[out.index(flag) + 1] = value
    return out


def run_trial(trial: Any, ctx: TrialContext) -> float:
    """The objective: see the module doc. Raises ``optuna.TrialPruned`` when the pruner stops it.

    A trial trains one model (and preset) in float once; each bit width of the candidate that fits the
    budget is then quantized from that training (``--resume`` of the finished run, with its own
    quantization folder). The value is the best of them (ties: the least flash)."""
    import optuna
    from optuna.trial import TrialState

    settings = ctx.settings
    groups = {g["key"]: g for g in settings["candidates"]}
    key = trial.suggest_categorical("candidate", list(groups))
    group = groups[key]
    variants = sorted(group["variants"], key=lambda v: (v["flash_bytes"], v["bits"]))
    candidate = Candidate(group["model"], group["preset"], variants[0]["bits"])
    trial.set_user_attr("worker", ctx.label)
    trial.set_user_attr("seed", settings["training"]["seed"])
    earlier = [
        t.number for t in trial.study.get_trials(deepcopy=False)
        if t.number < trial.number and t.params.get("candidate") == key and not t.user_attrs.get("duplicate_of")
        and t.state in (TrialState.RUNNING, TrialState.COMPLETE, TrialState.PRUNED)
    ]  # fmt: skip
    if earlier:  # two workers raced for the last queued trial: the earlier trial trains it
        trial.set_user_attr("duplicate_of", earlier[0])
        raise optuna.TrialPruned(f"{candidate.label()} is trial {earlier[0]}'s")

    t0 = time.perf_counter()
    root = ctx.trials_dir / f"trial_{trial.number:04d}"
    shutil.rmtree(root, ignore_errors=True)
    (root / "training").mkdir(parents=True)
    trial.set_user_attr("folder", str(root))
    task, metric, maximize = settings["task"], settings["metric"], settings["direction"] == "maximize"
    quantized = bool(settings["training"]["quantization"])
    argv = trial_argv(ctx, candidate, root)
    log_csv = RunPaths(root).training_base / "training_log.csv"
    reported = 0
    summary: dict | None = None
    try:
        for stop in rung_epochs(
            settings["min_epochs"], settings["reduction_factor"], settings["trial_epochs"]
        ):
            last = stop >= settings["trial_epochs"]
            extra = ([] if last else ["--stop-after-epoch", str(stop)]) + (
                ["--resume", "auto"] if reported else []
            )
            result = _run(task, argv + extra, root / "train.log")
            scores = _best_so_far(read_scores(log_csv, metric), maximize)
            for epoch, value in scores[reported:]:
                trial.report(value, epoch)
            reported = len(scores)
            trial.set_user_attr("epochs", reported)
            if "interrupted_after_epoch" not in result:  # finished: all epochs, or stopped early
                summary = result
                break
            if trial.should_prune():
                note = f"pruned after epoch {reported}: best val {metric} {scores[-1][1]:.4f}"
                trial.set_user_attr("note", note)
                raise optuna.TrialPruned(note)
        results = []
        for v in variants:  # the first width was quantized by the training itself
            if v is not variants[0]:
                qdir = root / "training" / f"quantization_{v['bits']}bit"
                summary = _run(task, _with(_with(argv, "--quantization-weight-bitwidth", str(v["bits"])),
                                           "--quantization-output-dir", str(qdir)) + ["--resume", "auto"],
                               root / "train.log")  # fmt: skip
            value, float_value = final_score(summary, metric, quantized)
            results.append(
                {"bits": v["bits"], "score": value, "float": float_value, "flash_bytes": v["flash_bytes"]}
            )
    finally:
        trial.set_user_attr("seconds", round(time.perf_counter() - t0, 1))
        if summary is None:  # pruned, failed or interrupted: keep the logs, not the weights
            for pt in RunPaths(root).training_base.glob("*.pt"):
                pt.unlink()
    trial.set_user_attr("variants", results)
    trial.set_user_attr("stop_reason", "stopped early" if summary.get("stopped_early") else "all epochs")
    finite = [r for r in results if math.isfinite(r["score"])]
    if not finite:
        raise ValueError(f"no validation {metric} in {root}/training/base/summary.yaml")
    best = min(finite, key=lambda r: ((-r["score"] if maximize else r["score"]), r["flash_bytes"]))
    trial.set_user_attr("best_bits", best["bits"])
    trial.set_user_attr("val_float", best["float"])
    return best["score"]


def describe(trial: Any, settings: dict, done: int) -> str:
    """One line of progress for a finished trial (``trial`` frozen)."""
    from optuna.trial import TrialState

    key = trial.params.get("candidate", "?|-")
    group = next((g for g in settings["candidates"] if g["key"] == key), {"variants": []})
    attrs = trial.user_attrs
    where = f"[{done}/{len(settings['candidates'])}] trial {trial.number} {Candidate.from_key(key).label().rsplit(' ', 1)[0]}"
    secs = f"{attrs.get('seconds', 0):.0f} s [{attrs.get('worker')}]"
    if attrs.get("duplicate_of") is not None:
        return f"search: {where}: skipped (trial {attrs['duplicate_of']} trains it)"
    metric = settings["metric"]
    if trial.state == TrialState.COMPLETE:
        kind = "quantized" if settings["training"]["quantization"] else "float"
        parts = []
        for r in attrs.get("variants", []):
            v = next(v for v in group["variants"] if v["bits"] == r["bits"])
            bits = "float" if r["bits"] == 32 else f"{r['bits']}-bit"
            latency = f", ~{v['latency_us']:.0f} us" if v.get("latency_us") is not None else ""
            parts.append(
                f"{bits} {r['score']:.4f} (flash {v['flash_bytes']} B, RAM {v['ram_bytes']} B{latency})"
            )
        return f"search: {where}: val {metric} ({kind}) after {attrs.get('epochs')} epochs: {'; '.join(parts)}; {secs}"
    if trial.state == TrialState.PRUNED:
        return f"search: {where}: {attrs.get('note', 'pruned')}; {secs}"
    return f"search: {where}: {trial.state.name.lower()}ed {attrs.get('error', '')}; {secs}"
