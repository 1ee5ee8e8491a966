"""Quantization held to an accuracy budget, per-layer weight widths, and the float vs int8 tables.

``--quantization-accuracy-budget B`` (the task's validation metric, absolute: 0.01 is one point of
accuracy): after quantization the int8 model's validation score is compared with the float model's.
Over the budget, the remedies run in this order, each kept only if it does better, until one is
within it:

1. more QAT epochs: QAT again with twice the epochs (QAT with its default epochs after PTQ);
2. another observer: the best model so far calibrated with each other observer (minmax, percentile, mse);
3. 8-bit weights for the most sensitive layers: the float model quantized (PTQ) with its layers below 8
   bits raised to 8 one at a time, the most sensitive first (sensitivity measured on the float model).

Still over the budget, the run stops with :class:`QuantizationBudgetError`: a table of float against
int8 per class and a per-layer sensitivity table (the float model with one layer's weights, or one
tensor, quantized at a time; the float model before QAT), also written to ``quantization_budget.yaml``.

``--quantization-weight-bitwidth auto`` (NPU style, mode 2) gives each conv / dense layer 8 or 4-bit
weights: from the least sensitive layer up, a layer goes to 4 bits when the model stays within the
budget (0.01 when none is given); QAT then trains with those widths.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinyml_tinyverse.common.errors import ModelError

from .artifacts import write_yaml
from .distributed import log
from .tasks import Task

AUTO = "auto"
AUTO_DEFAULT_BUDGET = 0.01
OBSERVERS = ("minmax", "percentile", "mse")


class QuantizationBudgetError(ModelError):
    """The quantized model stays over the accuracy budget after every remedy."""


@dataclass
class Attempt:
    """One quantized model: how it was made and its validation score."""

    what: str
    qg: Any  # QuantizedGraph
    onnx_src: Path  # the float (or QAT-finalized) ONNX model it was quantized from
    method: str
    observer: str
    bits: int | dict[str, int]
    score: float = float("nan")
    info: dict = field(default_factory=dict)  # the QAT log


@dataclass
class Budget:
    """The float model's validation score and what the quantized one may lose."""

    task: Task
    val: Any  # the validation split
    state: dict
    float_score: float
    budget: float | None
    calib_x: np.ndarray
    mode: int
    float_onnx: Path  # the trained float model (sensitivities and remedy 3 start from it)

    @property
    def maximize(self) -> bool:
        return self.task.mode == "max"

    def score(self, outputs: np.ndarray) -> float:
        return float(self.task.metrics(outputs, self.val, self.state)[self.task.primary_metric])

    def drop(self, score: float) -> float:
        return self.float_score - score if self.maximize else score - self.float_score

    def ok(self, attempt: Attempt) -> bool:
        return self.budget is None or self.drop(attempt.score) <= self.budget + 1e-12

    def better(self, a: Attempt, b: Attempt) -> bool:
        return self.drop(a.score) < self.drop(b.score)


def bitwidth_arg(value: str) -> int | str:
    """``--quantization-weight-bitwidth``: 8, 4, 2 or auto."""
    return AUTO if value == AUTO else int(value)


def quantized_outputs(qg: Any, x: np.ndarray, batch: int = 512) -> np.ndarray:
    return np.concatenate(
        [np.asarray(qg.run_dequantized(x[i : i + batch])[0]) for i in range(0, len(x), batch)]
    )


def float_graph(onnx_path: Path) -> Any:
    from tinyml_tinyverse.common.ir.importer import import_onnx
    from tinyml_tinyverse.common.ir.onnx_loader import load_onnx_model

    return import_onnx(load_onnx_model(onnx_path))


def choose_bits(b: Budget, onnx_path: Path, observer: str) -> tuple[dict[str, int], list]:
    """``auto`` widths on the float model (PTQ scores): see the module doc."""
    from tinyml_tinyverse.common.quantization.mixed_precision import LayerQuantizer, choose_layer_bits

    lq = LayerQuantizer(float_graph(onnx_path), b.calib_x, mode=b.mode, observer=observer)
    budget = AUTO_DEFAULT_BUDGET if b.budget is None else b.budget
    bits, sens = choose_layer_bits(lq, b.val.X, b.score, b.float_score, budget, maximize=b.maximize)
    low = [k for k, v in bits.items() if v < 8]
    log(f"quantization: weight widths chosen by sensitivity (budget {budget:g}): {len(low)} of {len(bits)} layers "
        f"at 4 bits, {len(bits) - len(low)} at 8 ({', '.join(f'{k} {v}' for k, v in bits.items())})")  # fmt: skip
    return bits, sens


def requantize(
    b: Budget, onnx_src: Path, observer: str, bits: int | dict[str, int], what: str, base: Attempt
) -> Attempt:
    """The same (float or QAT) model calibrated and quantized again, no training."""
    from tinyml_tinyverse.common.quantization import quantize_onnx

    qg = quantize_onnx(onnx_src, b.calib_x, mode=b.mode, weight_bitwidth=bits, observer=observer)
    a = Attempt(what, qg, onnx_src, base.method, observer, bits, info=base.info)
    a.score = b.score(quantized_outputs(qg, b.val.X))
    return a


def within_budget(
    b: Budget, first: Attempt, retrain: Callable[..., Attempt], args: argparse.Namespace
) -> tuple[Attempt, list[dict]]:
    """Apply the remedies of the module doc until an attempt is within the budget; returns it and the log
    of every attempt. Raises :class:`QuantizationBudgetError` when none is."""
    from tinyml_tinyverse.common.quantization.qat import qat_default_epochs

    tried = [first]
    best = first
    if b.ok(first):
        return first, _log(b, tried)
    log(f"quantization: val {b.task.primary_metric} {b.float_score:.4f} float, {first.score:.4f} int8: "
        f"{b.drop(first.score):.4f} worse, over the budget {b.budget:g}; trying the remedies")  # fmt: skip

    def consider(a: Attempt) -> bool:
        nonlocal best
        tried.append(a)
        log(
            f"quantization: {a.what}: val {b.task.primary_metric} {a.score:.4f} ({b.drop(a.score):+.4f} vs float)"
        )
        if b.better(a, best):
            best = a
        return b.ok(a)

    configured_qat = (
        args.quantization_method == "QAT"
    )  # its QAT ran, also when PTQ was kept (closer to float)
    epochs = 2 * (args.qat_epochs or qat_default_epochs(args.epochs)) if configured_qat else 0
    what = f"remedy 1, more QAT epochs ({epochs or qat_default_epochs(args.epochs)})"
    if consider(retrain(what=what, qat_epochs=epochs, observer=best.observer, bits=best.bits)):
        return best, _log(b, tried)
    for observer in (o for o in OBSERVERS if o != best.observer):
        if consider(
            requantize(b, best.onnx_src, observer, best.bits, f"remedy 2, {observer} observer", best)
        ):
            return best, _log(b, tried)
    # remedy 3 quantizes the float model (PTQ): a QAT model's weights already sit on the narrow grid
    bits = layer_widths(b, best.bits)
    if any(v < 8 for v in bits.values()):
        from tinyml_tinyverse.common.quantization.mixed_precision import (
            LayerQuantizer,
            drop,
            layer_sensitivity,
        )

        lq = LayerQuantizer(float_graph(b.float_onnx), b.calib_x, mode=b.mode, observer=best.observer)
        low = min(bits.values())
        sens = {s.layer: s for s in layer_sensitivity(lq, b.val.X, b.score, low)}
        order = sorted((k for k, v in bits.items() if v < 8),
                       key=lambda k: (-drop(b.float_score, sens[k].score, b.maximize), -sens[k].output_error))  # fmt: skip
        base = Attempt("float model", None, b.float_onnx, "PTQ", best.observer, bits)
        for layer in order:
            bits[layer] = 8
            if consider(
                requantize(b, b.float_onnx, best.observer, dict(bits), f"remedy 3, {layer} at 8 bits", base)
            ):
                return best, _log(b, tried)
    return best, _log(b, tried)


def layer_widths(b: Budget, bits: int | dict[str, int]) -> dict[str, int]:
    """``{layer of the float model: weight bits}`` of a uniform or per-layer width."""
    return (
        dict(bits) if isinstance(bits, dict) else dict.fromkeys(float_graph_layers(b.float_onnx), int(bits))
    )


def float_graph_layers(onnx_path: Path) -> list[str]:
    from tinyml_tinyverse.common.quantization.quantize import weighted_layers

    return weighted_layers(float_graph(onnx_path))


def _log(b: Budget, tried: list[Attempt]) -> list[dict]:
    return [{"what": a.what, "method": a.method, "observer": a.observer,
             "bits": a.bits if isinstance(a.bits, int) else dict(a.bits),
             f"val_{b.task.primary_metric}": a.score, "drop": b.drop(a.score)} for a in tried]  # fmt: skip


# -- tables ------------------------------------------------------------------------------------------
def per_class_rows(task: Task, split: Any, float_out: np.ndarray, q_out: np.ndarray) -> list[dict]:
    """Float against int8 per class (classification: recall of each class) or per output (RMSE)."""
    y = np.asarray(split.y)
    if task.name == "classification":
        names = task.class_names(split) or [str(i) for i in range(float_out.shape[1])]
        pf, pq = float_out.argmax(1), q_out.argmax(1)
        rows = []
        for k, name in enumerate(names):
            mask = y == k
            if mask.any():
                rows.append({"class": name, "windows": int(mask.sum()), "float": float((pf[mask] == k).mean()),
                             "int8": float((pq[mask] == k).mean())})  # fmt: skip
        return rows
    if task.name in ("regression", "forecasting"):
        t = task.targets(split)
        f, q = float_out.reshape(t.shape), q_out.reshape(t.shape)
        axis = tuple(range(t.ndim - 1))
        rmse_f, rmse_q = np.sqrt(((f - t) ** 2).mean(axis)), np.sqrt(((q - t) ** 2).mean(axis))
        return [{"output": str(i), "windows": len(t), "float": float(a), "int8": float(c)}
                for i, (a, c) in enumerate(zip(np.ravel(rmse_f), np.ravel(rmse_q)))]  # fmt: skip
    return []


def per_class_table(rows: list[dict], what: str) -> str:
    if not rows:
        return ""
    key = "class" if "class" in rows[0] else "output"
    width = max(12, *(len(str(r[key])) + 2 for r in rows))
    lines = [f"{key.ljust(width)}{'windows':>9}{'float ' + what:>16}{'int8 ' + what:>16}{'change':>9}"]
    for r in rows:
        lines.append(
            f"{str(r[key]).ljust(width)}{r['windows']:>9}{r['float']:>16.4f}{r['int8']:>16.4f}{r['int8'] - r['float']:>+9.4f}"
        )
    return "\n".join(lines)


def sensitivity_table(rows: list, metric: str) -> str:
    lines = [f"{'layer or tensor':36}{'op':>10}{'bits':>6}{'weights only':>14}{'output only':>13}   (val {metric} of the float "
             f"model with one thing quantized)"]  # fmt: skip
    for r in rows:
        w = "-" if r.weights_score is None else f"{r.weights_score:.4f}"
        bits = "-" if r.weight_bits is None else str(r.weight_bits)
        lines.append(f"{r.tensor[:36]:36}{r.op:>10}{bits:>6}{w:>14}{r.output_score:>13.4f}")
    return "\n".join(lines)


def fail(b: Budget, best: Attempt, attempts: list[dict], float_out: np.ndarray, qdir: Path) -> None:
    """Write ``quantization_budget.yaml`` and raise :class:`QuantizationBudgetError` with both tables."""
    from tinyml_tinyverse.common.quantization.mixed_precision import LayerQuantizer, probe_sensitivity

    metric = b.task.primary_metric
    rows = per_class_rows(b.task, b.val, float_out, quantized_outputs(best.qg, b.val.X))
    bits = layer_widths(b, best.bits)
    lq = LayerQuantizer(float_graph(b.float_onnx), b.calib_x, mode=b.mode, observer=best.observer)
    probes = probe_sensitivity(lq, b.val.X, b.score, bits)
    write_yaml(qdir / "quantization_budget.yaml", {
        "budget": b.budget, "metric": metric, "float": b.float_score, "best_int8": best.score, "attempts": attempts,
        "per_class": rows, "sensitivity": [vars(p) for p in probes],
    })  # fmt: skip
    raise QuantizationBudgetError(
        f"the quantized model stays over the accuracy budget: val {metric} {b.float_score:.4f} float, "
        f"{best.score:.4f} int8 at best ({best.what}), {b.drop(best.score):.4f} worse than float, budget "
        f"{b.budget:g}, after {len(attempts) - 1} remedies (more QAT epochs, other observers, 8-bit sensitive layers).\n"
        f"Float against int8 on the validation split:\n{per_class_table(rows, 'recall' if b.task.name == 'classification' else 'rmse')}\n"
        f"Per-layer sensitivity:\n{sensitivity_table(probes, metric)}\n"
        f"{_hint(b, probes)} Or raise training.quantization_accuracy_budget; details in "
        f"{qdir / 'quantization_budget.yaml'}"
    )


def _hint(b: Budget, probes: list) -> str:
    """Where the loss comes from: the probe that alone loses the most."""
    scored = [(b.drop(p.output_score), "output", p) for p in probes]
    scored += [(b.drop(p.weights_score), "weights", p) for p in probes if p.weights_score is not None]
    worst, kind, probe = max(scored, key=lambda t: t[0])
    if worst <= 0:
        return "No single tensor or layer explains the loss: it adds up over layers; try a larger model or 8-bit weights."
    if probe.tensor == "input":
        return (
            f"Quantizing the model input alone loses {worst:.4f}: its channels span very different ranges "
            f"(one int8 scale for all); standardize the input channels so they share a range."
        )
    if kind == "weights":
        return (
            f"The weights of {probe.tensor} lose {worst:.4f} alone: give it 8-bit weights or more channels."
        )
    return (
        f"The output of {probe.tensor} ({probe.op}) loses {worst:.4f} alone: its range is wide for its detail; "
        f"try the percentile observer or a model with normalisation before it."
    )
