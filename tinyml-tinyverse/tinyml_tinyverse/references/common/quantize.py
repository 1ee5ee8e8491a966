"""The quantized model after float training: QAT fine-tuning or PTQ, the quantized graph, its files
and its test metrics (``--quantization 1|2``)."""

from __future__ import annotations

import argparse
import copy
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from . import onnx_export
from .artifacts import atomic_path
from .optim import build_optimizer, build_scheduler
from .tasks import Task

CALIBRATION_SAMPLES = 256
GOLDEN_SAMPLES = 8


def quantization_dir(args: argparse.Namespace) -> Path:
    """``--quantization-output-dir``, default ``OUTPUT_DIR/../quantization`` (the run's training/quantization)."""
    return Path(args.quantization_output_dir or Path(args.output_dir).parent / "quantization")


def qat_finetune(
    args: argparse.Namespace, task: Task, model: nn.Module, splits: dict, loss_fn: nn.Module
) -> tuple[nn.Module, dict]:
    """Fake-quantized fine-tuning from the best float model; returns the finalized model and its log."""
    from tinyml_tinyverse.common.quantization.qat import (
        finalize_qat,
        prepare_qat,
        qat_default_epochs,
        qat_default_lr,
    )

    from .data_setup import auto_batch_size, make_train_loader
    from .distributed import log
    from .evaluation import evaluate
    from .train_base import train_one_epoch

    device = torch.device(args.device if not str(args.device).startswith("cuda") else "cuda")
    train, val = splits["train"], splits["val"]
    qmodel = prepare_qat(
        copy.deepcopy(model), mode=args.quantization, weight_bitwidth=args.quantization_weight_bitwidth
    ).to(device)
    epochs = args.qat_epochs or qat_default_epochs(args.epochs)
    lr = qat_default_lr(args.lr)
    targets = None if task.reconstructs_input else np.asarray(task.targets(train))
    batch_size = args.batch_size or auto_batch_size(len(train.X))
    loader, sampler = make_train_loader(train.X, targets, batch_size, args.seed + 1, 0, device)
    optimizer = build_optimizer(args.optimizer, qmodel, lr, args.weight_decay, args.momentum)
    scheduler = build_scheduler(optimizer, "cosine", epochs=epochs, steps_per_epoch=len(loader))
    loss_fn = loss_fn.to(device)
    best, best_state, history = None, None, []
    for epoch in range(1, epochs + 1):
        sampler.set_epoch(epoch)
        stats = train_one_epoch(
            qmodel, loader, loss_fn, optimizer, scheduler, device, task, epoch, None, not args.no_progress
        )
        val_stats, _ = evaluate(qmodel, val, task, loss_fn, device, shard=False)
        value = val_stats[task.primary_metric]
        history.append(
            {
                "epoch": epoch,
                "train_loss": stats["loss"],
                "val_loss": val_stats["loss"],
                f"val_{task.primary_metric}": value,
            }
        )
        if task.is_better(value, best):
            best, best_state = value, copy.deepcopy(qmodel.state_dict())
        log(
            f"QAT epoch {epoch}/{epochs}  train loss {stats['loss']:.4f}  val {task.primary_metric} {value:.4f}"
        )
    if best_state is not None:
        qmodel.load_state_dict(best_state)
    final = finalize_qat(qmodel.cpu()).eval()
    return final, {
        "qat_epochs": epochs,
        "qat_lr": lr,
        "qat_history": history,
        f"qat_best_val_{task.primary_metric}": best,
    }


def quantize_best_model(
    args: argparse.Namespace,
    task: Task,
    model: nn.Module,
    splits: dict,
    loss_fn: nn.Module,
    state: dict,
    summary: dict,
) -> dict:
    """Quantize the best float model and write the quantized artifacts; returns the summary section.

    With ``--quantization-accuracy-budget`` the int8 model is held to the budget and with
    ``--quantization-weight-bitwidth auto`` each layer gets 8 or 4-bit weights (``quantization_budget``).
    """
    from tinyml_tinyverse.common.ir.graph import run_float

    from . import quantization_budget as QB
    from .distributed import log

    qdir = quantization_dir(args)
    qdir.mkdir(parents=True, exist_ok=True)
    train, val, test = splits["train"], splits["val"], splits["test"]
    check = val if len(val.X) else train  # the split the int8 model is compared with float on
    input_shape = summary["input_shape"]
    info: dict[str, Any] = {
        "mode": args.quantization, "method": args.quantization_method,
        "weight_bitwidth": args.quantization_weight_bitwidth, "observer": args.calibration_observer,
        "output_dir": str(qdir),
    }  # fmt: skip
    float_onnx = Path(args.output_dir) / "model.onnx"
    rng = np.random.default_rng(args.seed)
    calib_idx = np.sort(rng.choice(len(train.X), size=min(CALIBRATION_SAMPLES, len(train.X)), replace=False))
    graph = QB.float_graph(float_onnx)
    float_out = np.concatenate(
        [run_float(graph, check.X[i : i + 512])[graph.output_names[0]] for i in range(0, len(check.X), 512)]
    )
    budget = getattr(args, "quantization_accuracy_budget", None)
    b = QB.Budget(task, check, state, 0.0, budget, train.X[calib_idx], args.quantization)
    b.float_score = b.score(float_out)
    bits = args.quantization_weight_bitwidth
    if bits == QB.AUTO:
        bits, _ = QB.choose_bits(b, float_onnx, args.calibration_observer)

    def attempt(what: str, method: str, qat_epochs: int, observer: str, bits: Any) -> QB.Attempt:
        onnx_src, qat_info = float_onnx, {}
        if method == "QAT":
            qat_bits = bits
            if isinstance(bits, dict):
                from tinyml_tinyverse.common.quantization.qat import module_paths_of_layers

                qat_bits = {module_paths_of_layers(model, list(bits))[k]: v for k, v in bits.items()}
            qat_args = argparse.Namespace(
                **{**vars(args), "qat_epochs": qat_epochs, "quantization_weight_bitwidth": qat_bits}
            )
            qat_model, qat_info = qat_finetune(qat_args, task, model, splits, loss_fn)
            name = "model_qat.onnx" if what == "as configured" else "model_qat_remedy.onnx"
            onnx_src = onnx_export.export_onnx(qat_model, input_shape, qdir / name, opset=args.opset)
        log(f"quantizing {onnx_src.name} (mode {args.quantization}, {_bits_text(bits)} weights, {observer} observer, "
            f"{len(calib_idx)} calibration windows)")  # fmt: skip
        base = QB.Attempt(what, None, onnx_src, method, observer, bits, info=qat_info)
        return QB.requantize(b, onnx_src, observer, bits, what, base)

    def retrain(what: str, qat_epochs: int, observer: str, bits: Any) -> QB.Attempt:
        return attempt(what, "QAT", qat_epochs, observer, bits)

    first = attempt(
        "as configured", args.quantization_method, args.qat_epochs, args.calibration_observer, bits
    )
    best, attempts = QB.within_budget(b, first, retrain, args) if budget is not None else (first, [])
    if not b.ok(best):
        QB.fail(b, best, attempts, float_out, qdir)
    if best.onnx_src.name == "model_qat_remedy.onnx":  # the remedy's QAT model is the one kept
        os.replace(best.onnx_src, qdir / "model_qat.onnx")
    qg = best.qg
    info.update(best.info)
    info.update(method=best.method, observer=best.observer)
    if best.bits == QB.AUTO or isinstance(best.bits, dict) or args.quantization_weight_bitwidth == QB.AUTO:
        info["layer_bits"] = qg.layer_bits
    if budget is not None:
        info["accuracy_budget"] = {
            "budget": budget,
            "float": b.float_score,
            "int8": best.score,
            "attempts": attempts,
        }
    qg.save_qdq_onnx(qdir / "model_qdq.onnx")
    qg.save(qdir / "quantized_graph.npz")

    golden_split = test if len(test.X) else val
    x = golden_split.X[:GOLDEN_SAMPLES]
    x_int = qg.quantize_input(x)
    with atomic_path(qdir / "golden_vectors.npz") as tmp, open(tmp, "wb") as f:
        np.savez(
            f, input=x, input_int=x_int, output_int=qg.run_int(x_int)[0], output=qg.run_dequantized(x)[0]
        )

    q_val = run_quantized(qg, val.X) if len(val.X) else None
    info["val"] = task.metrics(q_val, val, state) if q_val is not None else {}
    if len(test.X):
        info["test"] = task.metrics(run_quantized(qg, test.X), test, state)
    rows = QB.per_class_rows(task, check, float_out, run_quantized(qg, check.X))
    if rows:
        what = "recall" if task.name == "classification" else "rmse"
        log(
            f"float against int8 on the {'validation' if check is val else 'training'} split:\n"
            + QB.per_class_table(rows, what)
        )
        info["per_class"] = rows
    info["files"] = ["model_qdq.onnx", "quantized_graph.npz", "golden_vectors.npz"]
    if best.method == "QAT":
        info["files"].append("model_qat.onnx")
    return info


def _bits_text(bits: Any) -> str:
    if isinstance(bits, dict):
        return "mixed " + "/".join(str(b) for b in sorted(set(bits.values()), reverse=True)) + "-bit"
    return f"{bits}-bit"


def run_quantized(qg: Any, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """The quantized model's dequantized outputs for ``x``, in batches."""
    outs = [np.asarray(qg.run_dequantized(x[i : i + batch_size])[0]) for i in range(0, len(x), batch_size)]
    return np.concatenate(outs)
