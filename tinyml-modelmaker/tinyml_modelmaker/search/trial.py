"""One trial: train a candidate with the run's recipe, report its validation score epoch by epoch, and
stop it where the pruner says it will not win.

A trial trains through the reference script's public entry (``train.get_args_parser()`` /
``main(args)``, as the training stage does) into ``search/trials/<model>__<preset>/``, seeded with
``training.seed``, and reports the best validation score of every epoch so far. With successive
halving (the default) a trial is one phase of a candidate: it trains to the phase's rung
(``min_epochs * reduction_factor**k`` epochs) and stops; the coordinator keeps the best third (one in
``reduction_factor``) of the candidates for the next phase, which continues from ``checkpoint.pt``
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
import json
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


TRAIN_ARGS_FILE = "train_args.json"  # in a trial's folder: the train.py arguments it trains with


def save_trial_args(root: Path, argv: list[str]) -> None:
    """Record the ``train.py`` arguments of the trial in ``root`` (the winner's training stage compares
    them with its own: ``reuse.continue_from_trial``)."""
    (root / TRAIN_ARGS_FILE).write_text(json.dumps(argv))


def preset_key(preset: str | None) -> str:
    return preset or "-"


def trial_config(settings: dict, candidate: Candidate) -> dict:
    """The ``training`` section a trial trains with: the run's, for this candidate and ``trial_epochs``."""
    training = copy.deepcopy(settings["training"])
    training.update(
        model_name=candidate.model, training_epochs=settings["trial_epochs"], resume=False, model_config=None,
        num_gpus=min(1, training["num_gpus"]), refit=False,  # the search scores on val: val must stay unseen
    )  # fmt: skip
    if candidate.bits != 32:
        training["quantization_weight_bitwidth"] = candidate.bits
    return {"training": training}


def _train_module(task: str) -> Any:
    import importlib

    from tinyml_modelmaker.ai_modules.timeseries.constants import REFERENCE_PACKAGES

    return importlib.import_module(f"{REFERENCE_PACKAGES[task]}.train")


def trial_argv(ctx: TrialContext, candidate: Candidate, root: Path) -> list[str]:
    """The ``train.py`` arguments of a trial (the training stage's, with the trial's folders; the test split
    left unread: trials are scored on val, and only the winner is tested, by its own stages)."""
    from tinyml_modelmaker.ai_modules.timeseries.training.tinyml_tinyverse.reference_call import train_argv

    paths = RunPaths(root)
    shutil.copyfile(ctx.data_config_paths[preset_key(candidate.preset)], paths.data_config)
    config = trial_config(ctx.settings, candidate)
    return [*train_argv(config, paths, ctx.dataset_dir, cuda=ctx.cuda, progress=False), "--skip-test"]


def _run(task: str, argv: list[str], log_path: Path) -> dict:
    """Run the reference training with its output in ``log_path``; returns its summary (or the
    ``interrupted_after_epoch`` marker of a stop at a rung). The training's plots are not drawn (the
    search reads the scores; the winner's own training draws its plots); its ONNX export is checked."""
    import yaml
    from tinyml_tinyverse.references.common import report, report_pending

    module = _train_module(task)
    out_dir = Path(argv[argv.index("--output-dir") + 1])
    with open(log_path, "a") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        args = module.get_args_parser().parse_args(argv)
        with report.deferred_report():  # the plots and the ONNX check are left in out_dir ...
            result = module.main(args)
    if isinstance(result, dict) and "interrupted_after_epoch" in result:
        return dict(result)
    (out_dir / report_pending.PLOTS_PENDING).unlink(missing_ok=True)  # ... the plots are dropped
    report_pending.finish_pending(out_dir)  # ... and the ONNX export checked against torch
    return yaml.safe_load((out_dir / "summary.yaml").read_text()) or {}


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


def group_dir(key: str) -> str:
    return key.replace("|", "__").replace("/", "_")


def _epochs_done(root: Path) -> int:
    """Epochs trained in ``root`` so far (0 without a checkpoint to continue from)."""
    base = RunPaths(root).training_base
    if not (base / "checkpoint.pt").is_file():
        return 0
    with open(base / "training_log.csv", newline="") as f:
        return sum(1 for r in csv.DictReader(f) if r.get("phase", "train") in ("", "train"))


def run_trial(trial: Any, ctx: TrialContext) -> float:
    """The objective: train the trial's candidate to its phase's epoch (see the module doc).

    Phase ``p`` of a candidate continues its training from phase ``p - 1``'s checkpoint (or, on a
    machine that does not have it, trains from the start: seeded, the same result) up to
    ``settings["rungs"][p]`` epochs. The value of a phase that stops there is the best float
    validation score so far; a training that finishes (the last rung, or early stopping) is quantized
    at each bit width that fits, and its value is the best of those (ties: the least flash). With
    Optuna's ``median`` / ``hyperband`` pruners the trial reports at the rungs inside its one phase and
    raises ``optuna.TrialPruned`` when told."""
    import optuna
    from optuna.trial import TrialState

    settings = ctx.settings
    groups = {g["key"]: g for g in settings["candidates"]}
    key = trial.suggest_categorical("candidate", list(groups))
    phase = trial.user_attrs.get("phase")
    group = groups[key]
    variants = sorted(group["variants"], key=lambda v: (v["flash_bytes"], v["bits"]))
    candidate = Candidate(group["model"], group["preset"], variants[0]["bits"])
    trial.set_user_attr("worker", ctx.label)
    trial.set_user_attr("seed", settings["training"]["seed"])
    earlier = [
        t.number for t in trial.study.get_trials(deepcopy=False)
        if t.number < trial.number and t.params.get("candidate") == key and t.user_attrs.get("phase") == phase
        and not t.user_attrs.get("duplicate_of") and t.state in (TrialState.RUNNING, TrialState.COMPLETE, TrialState.PRUNED)
    ]  # fmt: skip
    if phase is None or earlier:  # not from the queue, or a race for the last queued trial: nothing to do
        trial.set_user_attr("duplicate_of", earlier[0] if earlier else -1)
        raise optuna.TrialPruned(f"{candidate.label()} is another trial's")

    t0 = time.perf_counter()
    rungs = settings["rungs"]
    target = rungs[phase]
    root = ctx.trials_dir / group_dir(key)
    start = _epochs_done(root)
    if start != (rungs[phase - 1] if phase else 0):  # nothing to continue from here: from the start
        shutil.rmtree(root, ignore_errors=True)
        start = 0
    (root / "training").mkdir(parents=True, exist_ok=True)
    trial.set_user_attr("folder", str(root))
    task, metric, maximize = settings["task"], settings["metric"], settings["direction"] == "maximize"
    argv = trial_argv(ctx, candidate, root)
    save_trial_args(root, argv)  # the winner's training stage may continue this training (search.reuse)
    log_csv = RunPaths(root).training_base / "training_log.csv"
    reported = 0
    summary: dict | None = None
    stops = [target]
    if settings["pruner"] in ("median", "hyperband"):  # Optuna's pruners decide inside the trial
        stops = [
            r for r in rung_epochs(settings["min_epochs"], settings["reduction_factor"], target) if r > start
        ]
    # the cut into the last rung (successive halving) ranks on what the chip runs: the quantized val score
    cut = (
        settings["pruner"] == "successive_halving"
        and phase == len(rungs) - 2
        and settings["training"]["quantization"]
    )
    widths = [str(v["bits"]) for v in variants if v["bits"] != 32]
    try:
        for stop in stops:
            extra = ([] if stop >= settings["trial_epochs"] else ["--stop-after-epoch", str(stop)]) + (
                ["--resume", "auto"] if start or reported else []
            )
            if cut and widths and "--stop-after-epoch" in extra:
                extra += ["--rung-quantized-bits", *widths]
            result = _run(task, argv + extra, root / "train.log")
            scores = _best_so_far(read_scores(log_csv, metric), maximize)
            for epoch, value in scores[reported:]:
                trial.report(value, epoch)
            reported = len(scores)
            trial.set_user_attr("epochs", reported)
            if "interrupted_after_epoch" not in result:  # finished: all epochs, or stopped early
                summary = result
                break
            if len(stops) > 1 and trial.should_prune():
                note = f"pruned after epoch {reported}: best val {metric} {scores[-1][1]:.4f}"
                trial.set_user_attr("note", note)
                raise optuna.TrialPruned(note)
        if summary is None:  # a rung of successive halving: the coordinator ranks the candidates on it
            trial.set_user_attr("final", False)
            quantized = {int(b): float(v) for b, v in (result.get("quantized_val") or {}).items()}
            if quantized:  # before the last rung: the best bit width's score, quantized as it will be
                trial.set_user_attr("rung_quantized", {str(b): v for b, v in quantized.items()})
                trial.set_user_attr("val_float", scores[-1][1])
                return max(quantized.values()) if maximize else min(quantized.values())
            return scores[-1][1]
        results = []
        for v in variants:  # the first width was quantized by the training itself
            if v is not variants[0]:
                qdir = root / "training" / f"quantization_{v['bits']}bit"
                summary = _run(task, _with(_with(argv, "--quantization-weight-bitwidth", str(v["bits"])),
                                           "--quantization-output-dir", str(qdir)) + ["--resume", "auto"],
                               root / "train.log")  # fmt: skip
            value, float_value = final_score(summary, metric, bool(settings["training"]["quantization"]))
            results.append(
                {"bits": v["bits"], "score": value, "float": float_value, "flash_bytes": v["flash_bytes"]}
            )
    finally:
        trial.set_user_attr("seconds", round(time.perf_counter() - t0, 1))
    trial.set_user_attr("final", True)
    trial.set_user_attr("variants", results)
    trial.set_user_attr("stop_reason", "stopped early" if summary.get("stopped_early") else "all epochs")
    finite = [r for r in results if math.isfinite(r["score"])]
    if not finite:
        raise ValueError(f"no validation {metric} in {root}/training/base/summary.yaml")
    best = min(finite, key=lambda r: ((-r["score"] if maximize else r["score"]), r["flash_bytes"]))
    trial.set_user_attr("best_bits", best["bits"])
    trial.set_user_attr("val_float", best["float"])
    return best["score"]


def describe(trial: Any, settings: dict) -> str:
    """One line of progress for a finished trial (``trial`` frozen)."""
    from optuna.trial import TrialState

    key = trial.params.get("candidate", "?|-")
    group = next((g for g in settings["candidates"] if g["key"] == key), {"variants": []})
    attrs = trial.user_attrs
    phase = attrs.get("phase") or 0
    where = f"trial {trial.number} {Candidate.from_key(key).label().rsplit(' ', 1)[0]}"
    if len(settings["rungs"]) > 1:
        where += f" (rung {phase + 1}/{len(settings['rungs'])})"
    secs = f"{attrs.get('seconds', 0):.0f} s [{attrs.get('worker')}]"
    if attrs.get("duplicate_of") is not None:
        return f"search: {where}: skipped (trial {attrs['duplicate_of']} trains it)"
    metric = settings["metric"]
    if trial.state == TrialState.COMPLETE and not attrs.get("final", True):
        quantized = attrs.get("rung_quantized")
        if quantized:  # the cut into the last rung: ranked on the quantized scores
            widths = ", ".join(f"{b}-bit {v:.4f}" for b, v in quantized.items())
            return (f"search: {where}: val {metric} (quantized) {widths} after {attrs.get('epochs')} epochs (float "
                    f"{attrs.get('val_float', float('nan')):.4f}); {secs}")  # fmt: skip
        return (
            f"search: {where}: best val {metric} {trial.value:.4f} after {attrs.get('epochs')} epochs; {secs}"
        )
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
