"""After training (rank 0): the best epoch's metrics, the test analysis, plots, the ONNX model, the
summary and, when asked, the quantized model.

Inside ``with deferred_report():`` the plots and the onnxruntime check of the ONNX export are left in
the output folder for :func:`report_pending.finish_pending`, which a process without torch runs after
this one (the modelmaker's stage processes): matplotlib and onnxruntime (about 110 MiB) are then never
resident next to torch."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tinyml_tinyverse.common import run_files

from . import onnx_export, plots, report_pending
from .artifacts import write_model_aux_h, write_yaml
from .distributed import log
from .evaluation import evaluate, predict
from .metrics import HEADLINE_METRICS
from .plots import plot_curves
from .tasks import Task

_deferring = False


@contextlib.contextmanager
def deferred_report() -> Iterator[None]:
    """Within the block :func:`finish_run` records its plots and the torch outputs of its ONNX check in
    the output folder (``report_pending``) instead of drawing and checking them."""
    global _deferring
    outer, _deferring = _deferring, True
    try:
        yield
    finally:
        _deferring = outer


@contextlib.contextmanager
def _plots_into(calls: list) -> Iterator[None]:
    """The plots of the block drawn now, or recorded into ``calls`` inside :func:`deferred_report`."""
    if not _deferring:
        yield
        return
    with plots.deferred() as recorded:
        yield
    calls.extend(recorded)


def plot_history(out_dir: Path, history: list[dict], task: Task, best_epoch: int) -> None:
    history = [r for r in history if r.get("phase", "train") == "train"]  # the epochs with a val figure
    epochs = [r["epoch"] for r in history]
    plot_curves(
        out_dir / "loss_curve.png",
        epochs,
        {"train": [r["train_loss"] for r in history], "val": [r["val_loss"] for r in history]},
        "loss",
        best_epoch,
    )
    curves = {f"val {task.primary_metric}": [r[f"val_{task.primary_metric}"] for r in history]}
    if "train_accuracy" in history[0] and task.primary_metric == "accuracy":
        curves = {"train accuracy": [r["train_accuracy"] for r in history], **curves}
    plot_curves(out_dir / "metric_curve.png", epochs, curves, task.primary_metric, best_epoch)


def record_reference_outputs(best_model: Path, test, device: torch.device) -> None:
    """``best_model.pt``'s outputs on the test split, as the testing stage would compute them, recorded
    beside it (``reference_outputs``): the testing stage then checks the ONNX model without torch."""
    if not len(test.X) or not best_model.is_file():
        return
    from . import checkpoint as ckpt
    from . import reference_outputs

    reference, _ = ckpt.load_best_model(best_model)
    reference_outputs.record(best_model, test.X, predict(reference, test.X, device))


def finish_run(
    args,
    task: Task,
    model: nn.Module,
    splits: dict,
    data_config: dict,
    loss_fn,
    history,
    best_epoch,
    stopped_early,
    batch_size,
    selection: dict | None = None,
) -> dict:
    """Rank 0 after training: best-epoch metrics, test analysis, plots, ONNX, summary, quantization.

    ``selection``: how the epoch was chosen (``best_epoch_by``, ``stop_reason``, ``min_epochs``) and, when
    the model was refit on train + val, ``refit`` and the ``val`` metrics of the chosen epoch before it."""
    selection = dict(selection or {})
    cpu = torch.device("cpu")
    out_dir = Path(args.output_dir)
    test_dir = Path(args.test_output_dir or out_dir)
    test_dir.mkdir(parents=True, exist_ok=True)
    train, val, test = splits["train"], splits["val"], splits["test"]
    plot_calls: list = []
    with _plots_into(plot_calls):
        plot_history(out_dir, history, task, best_epoch)

    val_metrics, val_out = evaluate(model, val, task, loss_fn, cpu, shard=False)
    state = task.fit_state(val_out, val)
    val_metrics, _ = evaluate(model, val, task, loss_fn, cpu, state, shard=False)
    if "val" in selection:  # refit on train + val: its val figures would be training figures
        val_metrics = selection.pop("val")
    input_shape = list(train.X.shape[1:])
    summary: dict[str, Any] = {
        "task": task.name,
        "model": args.model,
        "input_shape": input_shape,
        "class_names": task.class_names(train),
        "num_train": len(train.X), "num_val": len(val.X), "num_test": len(test.X),
        "epochs_run": sum(r.get("phase", "train") == "train" for r in history), "best_epoch": best_epoch,
        "stopped_early": stopped_early, **selection,
        "primary_metric": task.primary_metric, "primary_metric_mode": task.mode,
        "batch_size": batch_size, "optimizer": args.optimizer, "lr": args.lr, "lr_scheduler": args.lr_scheduler,
        "seed": args.seed, "world_size": args.world_size,
        "val": val_metrics,
    }  # fmt: skip
    if state:
        summary["anomaly_threshold"] = state
    warning = task.baseline_warning(val_metrics, val)
    if warning:
        log(f"warning: on the validation split, {warning}")
        summary["warnings"] = [f"validation split: {warning}"]
    if len(test.X):
        test_metrics, test_out = evaluate(model, test, task, loss_fn, cpu, state, shard=False)
        summary["test"] = test_metrics
        with _plots_into(plot_calls):
            summary["test_plots"] = task.plots(test_dir, test_out, test, state, test_metrics)
        extra = task.analysis(test_dir, test_out, test, state, test_metrics)
        summary["test"].update({k: v for k, v in extra.items() if v})
    elif not getattr(args, "skip_test", False):
        log("warning: the test split is empty; no test metrics")

    onnx_path = onnx_export.export_onnx(model, input_shape, out_dir / run_files.MODEL_ONNX, opset=args.opset)
    record_reference_outputs(out_dir / run_files.BEST_MODEL, test, cpu)
    check_x = (test if len(test.X) else val).X[:32]
    if _deferring:  # checked and filled in by report_pending.finish_pending
        parity = None
        report_pending.save_pending(out_dir, plot_calls, check_x, onnx_export.torch_outputs(model, check_x))
    else:
        parity = onnx_export.check_parity(onnx_path, model, check_x)
    summary["onnx"] = {"path": run_files.MODEL_ONNX, "opset": args.opset, "max_rel_diff_vs_torch": parity}
    write_model_aux_h(out_dir / "model_aux.h", summary["class_names"], task.name, state.get("threshold"))

    if args.quantization:
        from .quantize import quantize_best_model

        summary["quantization"] = quantize_best_model(args, task, model, splits, loss_fn, state, summary)
    write_yaml(out_dir / run_files.SUMMARY, summary)
    print_table(summary, task)
    return summary


def print_table(summary: dict, task: Task) -> None:
    keys = [k for k in (*HEADLINE_METRICS, "loss") if k in summary["val"]]
    before = ", before the refit" if "refit" in summary else ""
    rows = [(f"val (best epoch {summary['best_epoch']}{before})", summary["val"])]
    if "test" in summary:
        rows.append(("test", summary["test"]))
    if "quantization" in summary and "test" in summary["quantization"]:
        rows.append(("test, int8 (integer reference = the C)", summary["quantization"]["test"]))
    width = max(22, *(len(name) + 2 for name, _ in rows))
    log("\n" + "split".ljust(width) + "".join(k.rjust(11) for k in keys))
    for name, m in rows:
        log(
            name.ljust(width)
            + "".join(
                (f"{m[k]:11.4f}" if isinstance(m.get(k), float) else str(m.get(k, "-")).rjust(11))
                for k in keys
            )
        )
