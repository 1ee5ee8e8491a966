"""The stages of a run: dataset -> training -> testing -> compilation.

Time series own this machinery; the vision and audio modalities run it as it is (their ``runner``
is this one): what differs per modality is read from the config's modality (``ai_modules.registry``)
and the tinyverse data modality it names (``constants.DATA_MODALITY``).

``run(config)`` opens the run folder, writes ``config_resolved.yaml``, checks the model against the
task and target before any data work, runs each enabled stage (a disabled one is skipped and later
stages use what an earlier run left in the run folder), writes ``run_summary.yaml`` after every
stage and prints a short table of results at the end.

The ``stage_*`` functions below run in the run's process and hand their heavy part (the model
check and the ``*_work`` functions) to ``tinyml_modelmaker.stage_process``: by default the work
without torch in a process of its own and the torch work (model check, training) in this one, so
that torch, the data's parser, onnxruntime and matplotlib are never resident together and torch is
imported once (``TINYML_STAGE_PROCESSES=1``: every stage's work in a process of its own; ``=0``: all
in this process).
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import yaml
from tinyml_tinyverse.common import run_files
from tinyml_tinyverse.common.errors import ConfigError
from tinyml_tinyverse.common.utils.memory import PeakRss, release_free_memory, rss_mib
from tinyml_tinyverse.references.common.metrics import HEADLINE_METRICS

from ... import stage_process
from ...config import dump_yaml, plain
from ...run_folder import RunPaths, open_run_folder, project_dir
from ..registry import config_task
from . import compilation, datasets
from .model_check import check_model, check_model_name, import_model_modules, input_channels_known
from .params import DATA_SECTION
from .training import get_trainer

STAGES = ("dataset", "search", "training", "testing", "compilation")
DONE, SKIPPED, FAILED, INTERRUPTED = "done", "skipped", "failed", "interrupted"
STARTED = "started"  # written when a stage begins: a run killed outright (SIGKILL, power loss) keeps it


class Run:
    """One run: its config, folder, summary, and the dataset folder once known."""

    def __init__(self, config: dict, paths: RunPaths, summary: dict, resume: bool):
        self.config = config
        self.paths = paths
        self.summary = summary
        self.resume = resume
        # the stage statuses of the run being resumed, before this run writes its own
        self.before = {k: dict(v) for k, v in summary.get("stages", {}).items()} if resume else {}
        self.task = config_task(config)
        self.prepared_dataset: Path | None = None
        self.work_peak_mib: float | None = None  # the peak resident memory of the last stage's process

    def work(self, function: str, *args: Any, torch_work: bool = False) -> Any:
        """``function`` (a name in this module) in a process of its own where the layout says so
        (``stage_process``); the largest peak memory of the stage's processes is kept (they run one after
        the other)."""
        value, peak = stage_process.call_measured(f"{__name__}:{function}", *args, torch_work=torch_work)
        if peak is not None:  # this process waited meanwhile, holding about what it holds now
            self.work_peak_mib = max((rss_mib() or 0.0) + peak, self.work_peak_mib or 0.0)
        return value

    def stage_done_before(self, stage: str) -> bool:
        return self.before.get(stage, {}).get("status") == DONE

    def dataset_dir(self) -> Path:
        """The prepared data of this run (from this run's dataset stage, or left by an earlier one)."""
        if self.prepared_dataset is None:
            self.use_dataset(datasets.prepared_dir(self.config, self.paths))
        return self.prepared_dataset

    def use_dataset(self, dataset_dir: Path) -> None:
        """Take ``dataset_dir`` as the run's data; data keys left to the data (frame_size, normalisation)
        are filled from it and the run folder's config files rewritten (later stages and the compiler
        read them)."""
        self.prepared_dataset = dataset_dir
        inferred = datasets.resolve_data_keys(self.config, dataset_dir)
        if "frame_size" in inferred:
            n = inferred["frame_size"]
            print(f"data: every recording has {n} samples: frame_size {n}, one window per recording "
                  f"(set data_processing_feature_extraction.frame_size to choose another)")  # fmt: skip
        if "feat_ext_transform" in inferred:
            print("data: the input channels have very different ranges: feat_ext_transform [STANDARDIZE], each "
                  "channel standardised with the train statistics, so that one int8 input scale serves them all "
                  "(set feat_ext_transform to choose another)")  # fmt: skip
        if inferred:
            self.summary.pop("model_check", None)  # checked again on the real input shape
        dump_yaml(self.config, self.paths.config)
        dump_yaml(self.config[DATA_SECTION], self.paths.data_config)

    def record(self, stage: str, status: str, seconds: float, **extra: Any) -> None:
        self.summary.setdefault("stages", {})[stage] = {
            "status": status,
            "seconds": round(seconds, 1),
            **extra,
        }
        dump_yaml(self.summary, self.paths.summary)


# -- stages ----------------------------------------------------------------------------------------
def stage_dataset(run: Run) -> str:
    if not run.config["dataset"]["enable"]:
        return SKIPPED
    if run.stage_done_before("dataset") and run.paths.dataset_info.is_file():
        print("dataset: done in the run being resumed; reusing it (start a new run to prepare it again)")
        return DONE
    run.summary["dataset"], config = run.work("dataset_work", run.config, run.paths)
    run.config.update(config)
    run.use_dataset(run.paths.dataset)
    return DONE


def dataset_work(config: dict, paths: RunPaths) -> tuple[dict, dict]:
    """The dataset stage's work (in its own process): its summary, and the config as it left it."""
    return datasets.run(config, paths), config


def _import_user_models(config: dict) -> None:
    """``training.model_module`` imported again in a stage's process (reported once, by the check)."""
    from tinyml_tinyverse.common.models import import_model_module

    for spec in config["training"].get("model_module") or []:
        import_model_module(spec, where="training.model_module")


def stage_search(run: Run) -> str:
    """``training.model_name: auto``: find the model (tinyml_modelmaker.search), then train it as named."""
    if not run.config["search"]["enable"]:
        return SKIPPED
    from ...search.stage import apply_winner, read_winner, run_search

    winner = read_winner(run.paths) if run.stage_done_before("search") else None
    if winner is not None:
        print(f"search: done in the run being resumed; its winner is {winner['model']} (search/winner.yaml)")
    else:
        winner = run_search(run.config, run.paths, run.dataset_dir())
    apply_winner(run.config, winner)
    dump_yaml(run.config[DATA_SECTION], run.paths.data_config)  # the winner's feature extraction
    run.summary["search"] = winner
    run.summary["model_name"] = winner["model"]
    run.summary["model_check"] = check_model(run.config, run.dataset_dir())
    return DONE


def stage_training(run: Run) -> str:
    if not run.config["training"]["enable"]:
        return SKIPPED
    if run.stage_done_before("training") and (run.paths.training_base / run_files.SUMMARY).is_file():
        print("training: done in the run being resumed; reusing it (start a new run to train again)")
        return DONE
    dataset_dir = run.dataset_dir()
    model_check, result = run.work(
        "training_work",
        run.config,
        run.paths,
        dataset_dir,
        run.task,
        "model_check" not in run.summary,
        torch_work=True,
    )
    if model_check is not None:  # the input channels were only known from the data
        run.summary["model_check"] = model_check
    if "interrupted_after_epoch" in result:
        run.summary["training"] = {"interrupted_after_epoch": result["interrupted_after_epoch"]}
        return INTERRUPTED
    checked = run.work("training_report_work", run.paths) if stage_process.isolates() else None
    if checked is not None:  # the plots and the ONNX check the training process left
        result.setdefault("onnx", {}).update(checked)
    keep = ("model", "input_shape", "class_names", "num_train", "num_val", "num_test", "epochs_run", "best_epoch",
            "stopped_early", "stop_reason", "best_epoch_by", "min_epochs", "refit", "augmentation_probe", "primary_metric", "batch_size", "val",
            "test", "onnx", "anomaly_threshold", "quantization", "warnings")  # fmt: skip
    run.summary["training"] = {k: result[k] for k in keep if k in result}
    quantized = run.summary["training"].get("quantization")
    if isinstance(quantized, dict):  # the epoch-by-epoch QAT log stays in training/base/summary.yaml
        run.summary["training"]["quantization"] = {k: v for k, v in quantized.items() if k != "qat_history"}
    return DONE


def training_work(config: dict, paths: RunPaths, dataset_dir: Path, task: str, check: bool) -> tuple:
    """The training stage's work (in its own process): ``(model check or None, training summary)``."""
    import torch

    _import_user_models(config)
    model_check = check_model(config, dataset_dir) if check else None
    trainer = get_trainer(task)
    if config["search"]["enable"]:  # the winner's search trial may already have trained what comes first
        from ...search.reuse import continue_from_trial

        config = continue_from_trial(config, paths, dataset_dir, task, cuda=torch.cuda.is_available())
    if not stage_process.isolates():  # the report in this process
        return model_check, trainer.train(config, paths, dataset_dir, cuda=torch.cuda.is_available())
    from tinyml_tinyverse.references.common.report import deferred_report

    with deferred_report():  # plots and onnxruntime: in training_report_work's process, without torch
        return model_check, trainer.train(config, paths, dataset_dir, cuda=torch.cuda.is_available())


def training_report_work(paths: RunPaths) -> dict | None:
    """The training report's plots and its onnxruntime check of the ONNX export, in a process without torch
    after the training's (``report_pending``); the check's figure, or None when nothing was left."""
    from tinyml_tinyverse.references.common.report_pending import finish_pending

    return finish_pending(paths.training_base)


def stage_testing(run: Run) -> str:
    if not run.config["testing"]["enable"]:
        return SKIPPED
    dataset_dir = run.dataset_dir()
    float_model = run.paths.training_base / run_files.MODEL_ONNX
    if not float_model.is_file():
        raise ConfigError(
            f"testing: {float_model} is missing; run the training stage (training.enable: true) or resume a run "
            f"whose training finished (--resume --run-name NAME)"
        )
    results = run.work("testing_work", run.config, run.paths, dataset_dir, run.task)
    run.summary["testing"] = {
        name: {k: r.get(k) for k in ("metrics", "max_rel_diff_vs_reference", "num_samples") if k in r}
        for name, r in results.items()
    }
    return DONE


def testing_work(config: dict, paths: RunPaths, dataset_dir: Path, task: str) -> dict:
    """The testing stage's work (in its own process): the float model's and the quantized model's results."""
    trainer = get_trainer(task)
    float_model = paths.training_base / run_files.MODEL_ONNX
    best = paths.training_base / run_files.BEST_MODEL
    reference = best if best.is_file() else None
    results = {
        "float": trainer.test(config, paths, dataset_dir, float_model, paths.testing / "float", reference)
    }
    qdq = paths.training_quantization / run_files.MODEL_QDQ
    if config["training"]["quantization"] and qdq.is_file():
        print(f"testing: {INT8_ONNX_LABEL}")
        results["quantized"] = trainer.test(config, paths, dataset_dir, qdq, paths.testing / "quantized")
    elif config["training"]["quantization"]:
        print(f"testing: no {qdq}; only the float model is tested")
    return results


def stage_compilation(run: Run) -> str:
    if not run.config["compilation"]["enable"]:
        return SKIPPED
    dataset_dir = None if run.config["compilation"]["model_path"] else run.dataset_dir()
    run.summary["compilation"] = run.work("compilation_work", run.config, run.paths, dataset_dir)
    if isinstance(run.summary.get("search"), dict) and run.config["compilation"]["model_path"] is None:
        from ...search.stage import check_compiled

        run.summary["search"]["compiled"] = check_compiled(run.summary["search"], run.summary["compilation"])
    return DONE


def compilation_work(config: dict, paths: RunPaths, dataset_dir: Path | None) -> dict:
    """The compilation stage's work (in its own process)."""
    return compilation.run(config, paths, dataset_dir)


STAGE_FUNCTIONS = {
    "dataset": stage_dataset,
    "search": stage_search,
    "training": stage_training,
    "testing": stage_testing,
    "compilation": stage_compilation,
}


# -- the run ---------------------------------------------------------------------------------------
def _previous_summary(paths: RunPaths) -> dict:
    if paths.summary.is_file():
        return yaml.safe_load(paths.summary.read_text()) or {}
    return {}


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for k, v in data.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix.rstrip("."): data}


# keys that may change when a run is resumed: they affect only stages that run again from scratch
RESUME_FREE_KEYS = ("common.run_name", "common.projects_path", "common.target_device", "training.resume",
                    "training.num_gpus", "dataset.max_extract_mb", "dataset.max_compression_ratio",
                    "dataset.allow_outside_links", "search.workers")  # fmt: skip
RESUME_FREE_SECTIONS = ("testing.", "compilation.")


def _config_changes(paths: RunPaths, config: dict) -> list[tuple[str, Any, Any]]:
    """``(key, value the run started with, value now)`` for every key that differs."""
    if not paths.config.is_file():
        return []
    before = _flatten(yaml.safe_load(paths.config.read_text()) or {})
    now = _flatten(yaml.safe_load(yaml.safe_dump(plain(config))))
    return [
        (k, before.get(k), now.get(k))
        for k in sorted(set(before) | set(now))
        if before.get(k) != now.get(k)
        and k not in ("training.resume", "common.run_name")  # set by --resume, --run-name
    ]


def _locked_changes(paths: RunPaths, summary: dict, changes: list[tuple[str, Any, Any]]) -> list[str]:
    """The changed keys a resumed run cannot take: those of the data and the training once they are on disk
    (a finished dataset stage; a finished training or its checkpoint). Changing them would reuse results
    made with the old values while config_resolved.yaml claims the new ones."""
    stages = summary.get("stages", {})
    data_made = stages.get("dataset", {}).get("status") == DONE
    trained = (
        stages.get("training", {}).get("status") == DONE
        or (paths.training_base / run_files.CHECKPOINT).is_file()
    )
    locked = []
    for key, old, new in changes:
        if key in RESUME_FREE_KEYS or key.startswith(RESUME_FREE_SECTIONS) or key.endswith(".enable"):
            continue
        section = key.split(".", 1)[0]
        if (section == "training" and trained) or (section != "training" and (data_made or trained)):
            locked.append(f"{key}: {old!r} -> {new!r}")
    return locked


def _report_config_changes(paths: RunPaths, config: dict) -> None:
    """On resume, say which keys differ from the config the run started with."""
    changed = [f"{k}: {old!r} -> {new!r}" for k, old, new in _config_changes(paths, config)]
    if changed:
        print("resume: the config differs from the one this run started with: " + "; ".join(changed))


def _check_resume_config(paths: RunPaths, summary: dict, config: dict) -> None:
    """A resumed run keeps the data and training settings it was started with; testing, compilation and
    target_device may change (they run again)."""
    locked = _locked_changes(paths, summary, _config_changes(paths, config))
    if locked:
        raise ConfigError(
            f"--resume: {paths.root} was started with another config ({paths.config.name}); these keys differ "
            f"and would not apply to the data or model already made: {'; '.join(locked)}. Set them back (as "
            f"in {paths.config}), or start a new run with them (a new --run-name, without --resume); a resumed "
            f"run may change only testing.*, compilation.* and common.target_device"
        )


def _check_trained_model_reachable(config: dict, resume: bool) -> None:
    """A new run without training has no model for testing / compilation: say so before the dataset stage
    spends its time and leaves a run folder behind."""
    if resume or config["training"]["enable"] or not config["dataset"]["enable"]:
        return
    needs = ["testing"] if config["testing"]["enable"] else []
    if config["compilation"]["enable"] and not config["compilation"]["model_path"]:
        needs.append("compilation")
    if needs:
        stages = " and ".join(needs)
        raise ConfigError(
            f"training.enable is false, but {stages} need(s) the model trained in this run folder, and a new run "
            f"has none; resume the run that trained it (--resume --run-name NAME), set training.enable: true, "
            f"or set {' and '.join(s + '.enable: false' for s in needs)} (compile an ONNX file alone with "
            f"compilation.model_path)"
        )


def run(config: dict, *, resume: bool = False, source: str = "") -> dict:
    """Run every enabled stage of ``config``; returns the run summary (also in ``run_summary.yaml``)."""
    # the model is checked before the run folder exists, so a rejected model leaves nothing behind
    if config["dataset"]["enable"] and not resume:  # the dataset stage's process starts during the check
        stage_process.start_ahead(__name__)
    model_modules, model_figures = check_before_data(config)
    release_free_memory()  # the check's torch initialisers, not under the dataset stage's process
    _check_trained_model_reachable(config, resume)
    paths = open_run_folder(config, resume=resume)
    print(f"run folder: {paths.root}")
    summary = _previous_summary(paths) if resume else {}
    if resume:
        if paths.dataset_info.is_file():  # the data keys left to the data were filled from it then
            datasets.resolve_data_keys(config, paths.dataset)
        _check_resume_config(paths, summary, config)
    summary.update(
        run_folder=str(paths.root),
        config_file=source,
        task_type=config["common"]["task_type"],
        target_device=config["common"]["target_device"],
        model_name=config["training"]["model_name"] or config["compilation"]["model_path"],
        started=dt.datetime.now().isoformat(timespec="seconds"),
    )
    if resume:
        _report_config_changes(paths, config)
    dump_yaml(config, paths.config)
    dump_yaml(config[DATA_SECTION], paths.data_config)
    current = Run(config, paths, summary, resume)
    summary.pop("model_check", None)
    if model_modules:
        summary["model_modules"] = model_modules
    if model_figures is not None:
        summary["model_check"] = model_figures
    run_name = paths.root.relative_to(project_dir(config) / "run").as_posix()
    try:
        for stage in STAGES:
            if stage == "search" and not config[stage]["enable"]:
                continue  # a run that names its model has no search stage
            if config[stage]["enable"]:
                print(f"\n== {stage} ==")
            t0 = time.perf_counter()
            if config[stage]["enable"]:
                current.record(stage, STARTED, 0.0)
            memory = PeakRss()
            current.work_peak_mib = None
            try:
                with memory:
                    status = STAGE_FUNCTIONS[stage](current)
            except KeyboardInterrupt as exc:
                current.record(stage, INTERRUPTED, time.perf_counter() - t0)
                print(f"\n{stage}: interrupted; the run folder {paths.root} keeps what finished")
                exc.run_name = run_name  # for the exact command to continue (run_tinyml_modelmaker.main)
                raise
            except BaseException as exc:
                current.record(stage, FAILED, time.perf_counter() - t0, error=f"{type(exc).__name__}: {exc}")
                raise
            release_free_memory()  # what the stage freed goes back to the OS, not under the next stage's peak
            if memory.mib is not None and config[stage]["enable"]:  # the stage's peak resident memory, MiB:
                # this process's alone, or with that of a process that did part of the stage's work
                peak = max(memory.mib, current.work_peak_mib or 0)
                summary.setdefault("peak_rss_mib", {})[stage] = round(peak)
            current.record(stage, status, time.perf_counter() - t0)
            if status == INTERRUPTED:
                print(f"{stage}: interrupted; continue with --resume --run-name {run_name}")
                break
    except BaseException:
        _draw_dataset_plots(paths, summary, failing=True)
        raise
    _draw_dataset_plots(paths, summary)
    summary["finished"] = dt.datetime.now().isoformat(timespec="seconds")
    dump_yaml(summary, paths.summary)
    print(results_table(summary))
    return summary


def check_before_data(config: dict) -> tuple[list[dict[str, Any]], dict | None]:
    """The user's model modules imported and the model checked (in a process of its own: torch);
    returns what the modules gave and the model's figures (None until the input channels are known)."""
    if not config["training"]["enable"] and not config["training"].get("model_module"):
        return [], None  # nothing to check
    return stage_process.call(f"{__name__}:check_work", config, torch_work=True)


def check_work(config: dict) -> tuple[list[dict[str, Any]], dict | None]:
    model_modules = import_model_modules(config)  # the user's models, before any model is looked up
    model_figures = None
    if config["training"]["enable"] and not config["search"]["enable"]:  # a search checks every candidate
        check_model_name(config)
        if input_channels_known(config):
            model_figures = check_model(config)
    return model_modules, model_figures


def _draw_dataset_plots(paths: RunPaths, summary: dict, failing: bool = False) -> None:
    """The dataset stage's plots, drawn after the last stage (also when a stage failed: they help to see why)."""
    t0 = time.perf_counter()
    try:
        datasets.draw_plots(paths)
    except Exception as exc:
        if not failing:
            raise
        print(f"dataset: the plots could not be drawn ({type(exc).__name__}: {exc})")
        return
    if isinstance(summary.get("dataset"), dict):
        summary["dataset"]["plots_seconds"] = round(time.perf_counter() - t0, 2)


# The C compiled from quantized_graph.npz reproduces the integer reference bit for bit (checked at every
# build); onnxruntime runs the QDQ export in float arithmetic, so its rounding can differ slightly.
INT8_REFERENCE_ROW = "int8 integer reference = C (test)"
INT8_ONNX_ROW = "int8 QDQ ONNX, onnxruntime (test)"
INT8_ONNX_LABEL = (
    "the int8 QDQ ONNX in onnxruntime (float arithmetic between quantize and dequantize, so its figures can "
    "differ slightly from the training stage's integer reference, which is the one the C reproduces)"
)


def _metric_row(name: str, metrics: dict | None) -> tuple[str, dict] | None:
    return (name, metrics) if isinstance(metrics, dict) and metrics else None


def compilation_line(comp: dict) -> str:
    """One line: the compile result and its memory figures."""
    memory = comp.get("memory") or {}
    ram, flash = memory.get("ram") or {}, memory.get("flash") or {}
    text = f"compilation ({comp.get('precision', '?')}, {comp.get('target_device', '?')}): "
    text += (
        f"C output {'bit-exact' if comp.get('precision') == 'int8' else 'within 1e-5 relative error'} on "
        f"{comp.get('num_vectors')} test vectors"
        if comp.get("passed")
        else "check FAILED"
    )
    if flash:
        text += f"; flash {flash.get('total_bytes')} B (weights {flash.get('weights_bytes')}, code {flash.get('code_bytes')})"
    if ram:
        text += f", RAM {ram.get('total_bytes')} B (arena {ram.get('arena_bytes')})"
    if memory.get("macs_total") is not None:
        text += f", {memory['macs_total']} MACs"
    latency = memory.get("latency") or {}
    if latency.get("estimated_us") is not None:  # memory_report.json says how it was estimated
        text += f", about {latency['estimated_us']:.0f} us per inference at {latency['clock_mhz']:g} MHz (estimate)"
    fe = memory.get("frontend")
    if isinstance(fe, dict):  # the on-chip pipeline (feature_extract.c + tinyml_pipeline.c)
        checks = fe.get("checks") or {}
        total = fe.get("pipeline_total") or {}
        text += (
            f"\n  pipeline (raw samples -> answer): {checks.get('windows')} raw windows checked, features "
            f"{'bit-exact' if checks.get('features_bit_exact') == checks.get('windows') else 'within 1e-4'}, "
            f"outputs exact {checks.get('outputs_exact')}/{checks.get('windows')}; with the front end flash "
            f"{total.get('flash_bytes')} B, RAM {total.get('ram_bytes')} B"
        )
    return text


def results_table(summary: dict) -> str:
    """A short plain-text table: metrics per model variant, ONNX parity, compile result and memory."""
    training, testing = summary.get("training", {}), summary.get("testing", {})
    rows = [
        _metric_row("float torch (test)", training.get("test")),
        _metric_row("float ONNX (test)", (testing.get("float") or {}).get("metrics")),
        _metric_row(INT8_REFERENCE_ROW, (training.get("quantization") or {}).get("test")),
        _metric_row(INT8_ONNX_ROW, (testing.get("quantized") or {}).get("metrics")),
    ]
    rows = [r for r in rows if r]
    keys = [k for k in HEADLINE_METRICS if any(isinstance(m.get(k), (int, float)) for _, m in rows)]
    lines = ["", "results: " + summary.get("run_folder", "")]
    width = max([26] + [len(name) + 2 for name, _ in rows])
    if rows:
        lines.append("  " + "".join(["".ljust(width)] + [k.rjust(10) for k in keys]))
        for name, m in rows:
            cells = [f"{m[k]:10.4f}" if isinstance(m.get(k), (int, float)) else "-".rjust(10) for k in keys]
            lines.append("  " + name.ljust(width) + "".join(cells))
    if training.get("stop_reason"):
        refit, probe = training.get("refit"), training.get("augmentation_probe")
        shift = ""
        if probe:  # what the augmentation probe found, in one clause
            kept = "with" if probe["kept"] else "without"
            shift = (f" {kept} random shifts (val loss {probe['val_loss_with']:.3g} with, "
                     f"{probe['val_loss_without']:.3g} without)")  # fmt: skip
        lines.append(f"  training: {training['stop_reason']}; best epoch {training.get('best_epoch')} by "
                     f"{training.get('best_epoch_by', 'the val metric')}"
                     + (f"; refit on train + val{shift} for {refit['epochs']} epochs" if refit else ""))  # fmt: skip
    parity = (testing.get("float") or {}).get("max_rel_diff_vs_reference")
    if parity is not None:
        lines.append(f"  ONNX vs torch: max relative difference {parity:.2e}")
    comp = summary.get("compilation")
    if comp:
        lines.append("  " + compilation_line(comp))
    lines += [f"  warning: {w}" for w in training.get("warnings") or []]
    stages = summary.get("stages", {})
    lines.append("  stages: " + ", ".join(f"{s} {stages[s]['status']}" for s in STAGES if s in stages))
    return "\n".join(lines)
