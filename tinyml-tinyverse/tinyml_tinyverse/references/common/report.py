"""After training (rank 0): the best epoch's metrics, the test analysis, plots, the ONNX model, the
summary and, when asked, the quantized model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import onnx_export
from .artifacts import write_model_aux_h, write_yaml
from .distributed import log
from .evaluation import evaluate
from .metrics import HEADLINE_METRICS
from .plots import plot_curves
from .tasks import Task


def plot_history(out_dir: Path, history: list[dict], task: Task, best_epoch: int) -> None:
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
) -> dict:
    """Rank 0 after training: best-epoch metrics, test analysis, plots, ONNX, summary, quantization."""
    cpu = torch.device("cpu")
    out_dir = Path(args.output_dir)
    test_dir = Path(args.test_output_dir or out_dir)
    test_dir.mkdir(parents=True, exist_ok=True)
    train, val, test = splits["train"], splits["val"], splits["test"]
    plot_history(out_dir, history, task, best_epoch)

    val_metrics, val_out = evaluate(model, val, task, loss_fn, cpu, shard=False)
    state = task.fit_state(val_out, val)
    val_metrics, _ = evaluate(model, val, task, loss_fn, cpu, state, shard=False)
    input_shape = list(train.X.shape[1:])
    summary: dict[str, Any] = {
        "task": task.name,
        "model": args.model,
        "input_shape": input_shape,
        "class_names": task.class_names(train),
        "num_train": len(train.X), "num_val": len(val.X), "num_test": len(test.X),
        "epochs_run": len(history), "best_epoch": best_epoch, "stopped_early": stopped_early,
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
        summary["test_plots"] = task.plots(test_dir, test_out, test, state, test_metrics)
        extra = task.analysis(test_dir, test_out, test, state, test_metrics)
        summary["test"].update({k: v for k, v in extra.items() if v})
    else:
        log("warning: the test split is empty; no test metrics")

    onnx_path = onnx_export.export_onnx(model, input_shape, out_dir / "model.onnx", opset=args.opset)
    check_x = (test if len(test.X) else val).X[:32]
    summary["onnx"] = {
        "path": "model.onnx",
        "opset": args.opset,
        "max_rel_diff_vs_torch": onnx_export.check_parity(onnx_path, model, check_x),
    }
    write_model_aux_h(out_dir / "model_aux.h", summary["class_names"], task.name, state.get("threshold"))

    if args.quantization:
        from .quantize import quantize_best_model

        summary["quantization"] = quantize_best_model(args, task, model, splits, loss_fn, state, summary)
    write_yaml(out_dir / "summary.yaml", summary)
    print_table(summary, task)
    return summary


def print_table(summary: dict, task: Task) -> None:
    keys = [k for k in (*HEADLINE_METRICS, "loss") if k in summary["val"]]
    rows = [(f"val (best epoch {summary['best_epoch']})", summary["val"])]
    if "test" in summary:
        rows.append(("test", summary["test"]))
    if "quantization" in summary and "test" in summary["quantization"]:
        rows.append(("test, quantized", summary["quantization"]["test"]))
    log("\n" + "split".ljust(22) + "".join(k.rjust(11) for k in keys))
    for name, m in rows:
        log(
            name.ljust(22)
            + "".join(
                (f"{m[k]:11.4f}" if isinstance(m.get(k), float) else str(m.get(k, "-")).rjust(11))
                for k in keys
            )
        )
