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

from tinyml_tinyverse.common import run_files
from tinyml_tinyverse.common.utils.memory import release_free_memory

from . import onnx_export
from .artifacts import atomic_path
from .optim import build_optimizer, build_scheduler
from .tasks import Task

CALIBRATION_SAMPLES = 256
FIDELITY_SAMPLES = 512  # training windows on which QAT and PTQ are compared with the float model
GOLDEN_SAMPLES = 8


def quantization_dir(args: argparse.Namespace) -> Path:
    """``--quantization-output-dir``, default ``OUTPUT_DIR/../quantization`` (the run's training/quantization)."""
    return Path(args.quantization_output_dir or Path(args.output_dir).parent / "quantization")


def qat_finetune(
    args: argparse.Namespace,
    task: Task,
    model: nn.Module,
    splits: dict,
    loss_fn: nn.Module,
    refit: bool = False,
) -> tuple[nn.Module, dict]:
    """Fake-quantized fine-tuning from the final float model; returns the finalized model and its log.

    On the data the float model was trained on: train, or train + val after a refit (then the last QAT
    epoch is kept, as val is training data); else the best QAT epoch by the float run's criterion."""
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
    parts = [train, val] if refit else [train]
    x = np.concatenate([p.X for p in parts])
    targets = (
        None if task.reconstructs_input else np.concatenate([np.asarray(task.targets(p)) for p in parts])
    )
    batch_size = args.batch_size or auto_batch_size(len(train.X))
    loader, sampler = make_train_loader(x, targets, batch_size, args.seed + 1, 0, device)
    by_loss = getattr(args, "best_epoch_by", "metric") == "loss" and not task.loss_is_metric
    optimizer = build_optimizer(args.optimizer, qmodel, lr, args.weight_decay, args.momentum)
    scheduler = build_scheduler(optimizer, "cosine", epochs=epochs, steps_per_epoch=len(loader))
    loss_fn = loss_fn.to(device)
    best, best_state, history = None, None, []
    for epoch in range(1, epochs + 1):
        sampler.set_epoch(epoch)
        stats = train_one_epoch(
            qmodel, loader, loss_fn, optimizer, scheduler, device, task, epoch, None, not args.no_progress
        )
        if epoch == 1:  # what only QAT's set-up and first steps ran
            release_free_memory()
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
        if by_loss:
            better = np.isfinite(val_stats["loss"]) and (best is None or val_stats["loss"] < best[0])
        else:
            better = task.is_better(value, None if best is None else best[1])
        if better and not refit:
            best, best_state = (val_stats["loss"], value), copy.deepcopy(qmodel.state_dict())
        log(
            f"QAT epoch {epoch}/{epochs}  train loss {stats['loss']:.4f}  val {task.primary_metric} {value:.4f}"
            + ("" if refit else f"  val loss {val_stats['loss']:.4f}")
        )
    if best_state is not None:
        qmodel.load_state_dict(best_state)
    final = finalize_qat(qmodel.cpu()).eval()
    return final, {
        "qat_epochs": epochs,
        "qat_lr": lr,
        "qat_history": history,
        "qat_data": "train + val (refit)" if refit else "train",
        "qat_epoch_kept": "last"
        if refit or best is None
        else 1 + [h["val_loss"] for h in history].index(best[0]),
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

    release_free_memory()  # the report's and the float export's code and buffers
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
    float_onnx = Path(args.output_dir) / run_files.MODEL_ONNX
    refit = "refit" in summary
    calib_idx = calibration_indices(len(train.X), args.seed)
    graph = QB.float_graph(float_onnx)
    float_out = np.concatenate(
        [run_float(graph, check.X[i : i + 512])[graph.output_names[0]] for i in range(0, len(check.X), 512)]
    )
    budget = getattr(args, "quantization_accuracy_budget", None)
    b = QB.Budget(task, check, state, 0.0, budget, train.X[calib_idx], args.quantization, float_onnx)
    b.float_score = b.score(float_out)
    bits = args.quantization_weight_bitwidth
    if bits == QB.AUTO:
        bits, _ = QB.choose_bits(b, float_onnx, args.calibration_observer)

    def quantized(
        what: str, onnx_src: Path, method: str, observer: str, bits: Any, qat_info: dict
    ) -> QB.Attempt:
        log(f"quantizing {onnx_src.name} (mode {args.quantization}, {_bits_text(bits)} weights, {observer} observer, "
            f"{len(calib_idx)} calibration windows)")  # fmt: skip
        base = QB.Attempt(what, None, onnx_src, method, observer, bits, info=qat_info)
        return QB.requantize(b, onnx_src, observer, bits, what, base)

    def qat(what: str, qat_epochs: int, bits: Any) -> tuple[Path, dict]:
        qat_bits = bits
        if isinstance(bits, dict):
            from tinyml_tinyverse.common.quantization.qat import module_paths_of_layers

            qat_bits = {module_paths_of_layers(model, list(bits))[k]: v for k, v in bits.items()}
        qat_args = argparse.Namespace(
            **{**vars(args), "qat_epochs": qat_epochs, "quantization_weight_bitwidth": qat_bits}
        )
        release_free_memory()  # the float model's export and the integer reference's code, before QAT's
        qat_model, qat_info = qat_finetune(qat_args, task, model, splits, loss_fn, refit=refit)
        release_free_memory()  # the QAT epochs' code and buffers, before the export's
        name = run_files.MODEL_QAT if what == "as configured" else "model_qat_remedy.onnx"
        return onnx_export.export_onnx(qat_model, input_shape, qdir / name, opset=args.opset), qat_info

    def retrain(what: str, qat_epochs: int, observer: str, bits: Any) -> QB.Attempt:
        onnx_src, qat_info = qat(what, qat_epochs, bits)
        return quantized(what, onnx_src, "QAT", observer, bits, qat_info)

    observer = args.calibration_observer
    first = quantized("as configured", float_onnx, "PTQ", observer, bits, {})
    if args.quantization_method == "QAT":  # QAT must not lose what the float model won: keep the closer
        with_qat = retrain("as configured", args.qat_epochs, observer, bits)
        info.update(with_qat.info)  # the QAT log, also when PTQ is kept
        release_free_memory()  # QAT's epochs' code and buffers
        graphs = {"QAT": with_qat.qg, "PTQ": first.qg}
        kept, info["fidelity_to_float"] = closest_to_float(args, task, model, splits, graphs, refit)
        log(
            f"int8: {kept} kept, the closer to the float model on the training windows ({info['fidelity_to_float']})"
        )
        first = with_qat if kept == "QAT" else first
    best, attempts = QB.within_budget(b, first, retrain, args) if budget is not None else (first, [])
    if not b.ok(best):
        QB.fail(b, best, attempts, float_out, qdir)
    remedy = qdir / "model_qat_remedy.onnx"
    if best.onnx_src == remedy:  # the remedy's QAT model is the one kept
        os.replace(remedy, qdir / run_files.MODEL_QAT)
    remedy.unlink(missing_ok=True)
    qg = best.qg
    info.update(best.info)
    info.update(observer=best.observer, kept=best.method)  # method: the configured one
    if best.bits == QB.AUTO or isinstance(best.bits, dict) or args.quantization_weight_bitwidth == QB.AUTO:
        info["layer_bits"] = qg.layer_bits
    if budget is not None:
        info["accuracy_budget"] = {
            "budget": budget,
            "float": b.float_score,
            "int8": best.score,
            "attempts": attempts,
        }
    qg.save_qdq_onnx(qdir / run_files.MODEL_QDQ)
    qg.save(qdir / run_files.QUANTIZED_GRAPH)

    golden_split = test if len(test.X) else val
    x = golden_split.X[:GOLDEN_SAMPLES]
    x_int = qg.quantize_input(x)
    with atomic_path(qdir / run_files.GOLDEN_VECTORS) as tmp, open(tmp, "wb") as f:
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
    info["files"] = [run_files.MODEL_QDQ, run_files.QUANTIZED_GRAPH, run_files.GOLDEN_VECTORS]
    if best.method == "QAT" or args.quantization_method == "QAT":
        info["files"].append(run_files.MODEL_QAT)
    return info


def _bits_text(bits: Any) -> str:
    if isinstance(bits, dict):
        return "mixed " + "/".join(str(b) for b in sorted(set(bits.values()), reverse=True)) + "-bit"
    return f"{bits}-bit"


def fidelity(task: Task, float_out: np.ndarray, int8_out: np.ndarray) -> float:
    """How closely int8 outputs reproduce the float model's: the share of windows with the same class
    (classification), else 1 - mean squared difference / variance of the float outputs."""
    a, b = np.asarray(float_out).reshape(len(float_out), -1), np.asarray(int8_out).reshape(len(int8_out), -1)
    if task.record.scores_classes:
        return float(np.mean(a.argmax(1) == b.argmax(1)))
    return float(1.0 - np.mean((a - b) ** 2) / max(float(np.var(a)), 1e-12))


def closest_to_float(
    args, task: Task, model: nn.Module, splits: dict, graphs: dict, refit: bool
) -> tuple[str, dict]:
    """The method (QAT or PTQ) whose int8 model reproduces the float model best on up to FIDELITY_SAMPLES
    windows of its training data (no labels used: quantization damage, not fit); ties keep QAT."""
    from .evaluation import predict

    x = np.concatenate([splits["train"].X, splits["val"].X] if refit else [splits["train"].X])
    rng = np.random.default_rng(args.seed + 2)
    x = x[np.sort(rng.choice(len(x), size=min(FIDELITY_SAMPLES, len(x)), replace=False))]
    reference = predict(model, x, torch.device("cpu"))
    scores = {
        method: round(fidelity(task, reference, run_quantized(qg, x)), 4) for method, qg in graphs.items()
    }
    return max(scores, key=lambda m: (scores[m], m == "QAT")), scores


def calibration_indices(windows: int, seed: int) -> np.ndarray:
    """The training windows PTQ calibrates on: ``CALIBRATION_SAMPLES`` of them, drawn with ``seed``, in order."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(windows, size=min(CALIBRATION_SAMPLES, windows), replace=False))


def quantized_val_scores(
    args: argparse.Namespace, task: Task, model: nn.Module, splits: dict, loss_fn: nn.Module, bits: list[int]
) -> dict[int, float]:
    """The val score (the task's primary metric) of the float ``model`` quantized after training (PTQ,
    calibrated as :func:`quantize_best_model` calibrates: the same windows and observer) at each weight
    width of ``bits``: what a model search ranks its candidates on before their last rung, as the chip
    will run them (``--rung-quantized-bits``)."""
    import tempfile

    from . import quantization_budget as QB
    from .evaluation import evaluate

    train, val = splits["train"], splits["val"]
    _, val_out = evaluate(model, val, task, loss_fn, torch.device("cpu"), shard=False)
    calib = train.X[calibration_indices(len(train.X), args.seed)]
    observer = args.calibration_observer
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = onnx_export.export_onnx(
            model, list(train.X.shape[1:]), Path(tmp) / "model.onnx", opset=args.opset
        )
        b = QB.Budget(task, val, task.fit_state(val_out, val), 0.0, None, calib, args.quantization, onnx_path)
        base = QB.Attempt("rung", None, onnx_path, "PTQ", observer, 8)
        return {w: QB.requantize(b, onnx_path, observer, w, "rung", base).score for w in bits}


def run_quantized(qg: Any, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """The quantized model's dequantized outputs for ``x``, in batches."""
    outs = [np.asarray(qg.run_dequantized(x[i : i + batch_size])[0]) for i in range(0, len(x), batch_size)]
    return np.concatenate(outs)
