"""Per-layer weight bit widths: how sensitive each layer is, and a choice of 8 or 4 bits within a budget.

``LayerQuantizer`` calibrates a float graph once and then quantizes it with any per-layer widths (the
activation ranges do not depend on the weight widths, so each result equals a fresh
``quantize_graph`` with the same widths). ``layer_sensitivity`` quantizes one layer at a time to the
low width, every other at 8 bits, and measures the task score and the output error against the
all-8-bit model. ``choose_layer_bits`` lowers layers to the low width from the least sensitive up,
keeping each step whose score stays within the budget of the float score.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from ..ir.graph import Graph
from .quantize import observed_tensors, quantize_graph, weighted_layers
from .quantized_graph import QuantizedGraph

Score = Callable[[np.ndarray], float]  # the task's validation score of a model's (float) outputs


class LayerQuantizer:
    """Quantize one float graph with different per-layer weight widths on one calibration."""

    def __init__(self, graph: Graph, calib_x: np.ndarray, *, mode: int = 2, observer: str = "minmax"):
        base = quantize_graph(graph, calib_x, mode=mode, weight_bitwidth=8, observer=observer)
        self.graph, self.mode = graph, mode
        self.forced = {
            t: (base.tensors[t]["scale"], base.tensors[t]["zero_point"]) for t in observed_tensors(graph)
        }
        self.layers = weighted_layers(graph)

    def quantize(self, bits: Mapping[str, int]) -> QuantizedGraph:
        """The graph with ``bits[layer]`` weights (8 for layers not named)."""
        return quantize_graph(
            self.graph, None, mode=self.mode, weight_bitwidth=dict(bits), forced_qparams=self.forced
        )


def outputs(q: QuantizedGraph, x: np.ndarray, batch: int = 512) -> np.ndarray:
    """The quantized model's first output, dequantized, for every row of ``x``."""
    return np.concatenate([q.run_dequantized(x[i : i + batch])[0] for i in range(0, len(x), batch)])


def relative_error(y: np.ndarray, ref: np.ndarray) -> float:
    """RMS of ``y - ref`` over the RMS of ``ref``."""
    return float(np.sqrt(np.mean((y - ref) ** 2)) / max(np.sqrt(np.mean(ref**2)), 1e-12))


@dataclass
class LayerSensitivity:
    layer: str
    op: str
    bits: int  # the width tried
    score: float  # the task score with this layer at ``bits``, the others at 8
    output_error: float  # relative to the all-8-bit model's outputs


def layer_sensitivity(
    lq: LayerQuantizer, x: np.ndarray, score: Score, bits: int = 4
) -> list[LayerSensitivity]:
    """Each weighted layer at ``bits`` alone (every other at 8): the score and the output error."""
    ref = outputs(lq.quantize({}), x)
    ops = {n.name: n.op for n in lq.graph.nodes}
    rows = []
    for name in lq.layers:
        y = outputs(lq.quantize({name: bits}), x)
        rows.append(LayerSensitivity(name, ops[name], bits, float(score(y)), relative_error(y, ref)))
    return rows


def drop(float_score: float, score: float, maximize: bool) -> float:
    """How much worse ``score`` is than ``float_score`` (negative: better)."""
    return float_score - score if maximize else score - float_score


def choose_layer_bits(
    lq: LayerQuantizer,
    x: np.ndarray,
    score: Score,
    float_score: float,
    budget: float,
    *,
    maximize: bool,
    low: int = 4,
) -> tuple[dict[str, int], list[LayerSensitivity]]:
    """Lower layers to ``low`` bits, least sensitive first, while the score stays within ``budget`` of
    ``float_score``; returns ``({layer: bits}, sensitivity of each layer)``."""
    sens = layer_sensitivity(lq, x, score, low)
    order = sorted(sens, key=lambda s: (drop(float_score, s.score, maximize), s.output_error))
    bits = dict.fromkeys(lq.layers, 8)
    for s in order:
        trial = {**bits, s.layer: low}
        if drop(float_score, score(outputs(lq.quantize(trial), x)), maximize) <= budget:
            bits = trial
    return bits, sens


@dataclass
class ProbeRow:
    tensor: str  # a layer name, or the model input
    op: str
    weight_bits: int | None
    weights_score: float | None  # the float model with only this layer's weights quantized
    output_score: float  # the float model with only this tensor quantized to int8


def probe_sensitivity(
    lq: LayerQuantizer, x: np.ndarray, score: Score, bits: Mapping[str, int]
) -> list[ProbeRow]:
    """Where the quantized model loses: the float model with one thing quantized at a time (a layer's
    weights at its width, or one activation tensor at its int8 grid), scored by the task."""
    from ..ir.graph import run_float_node
    from ..ir.qparams import weight_qparams

    graph = lq.graph

    def run(weights_of: str | None = None, quantized: str | None = None) -> np.ndarray:
        values: dict[str, np.ndarray] = dict(graph.constants)
        values[graph.input_name] = _fake_quant(
            np.asarray(x, np.float32), lq.forced.get(quantized) if quantized == graph.input_name else None
        )
        for node in graph.nodes:
            if node.name == weights_of:
                wq, ws = weight_qparams(node.params["w"], int(bits.get(node.name, 8)), lq.mode)
                node = type(node)(node.op, node.name, node.inputs, node.outputs, node.attrs,
                                  {**node.params, "w": (wq * ws.reshape((-1,) + (1,) * (wq.ndim - 1))).astype(np.float32)})  # fmt: skip
            y = run_float_node(node, [values[i] for i in node.inputs])
            values[node.output] = _fake_quant(
                y, lq.forced.get(node.output) if node.output == quantized else None
            )
        return values[graph.output_names[0]]

    ops = {n.output: n for n in graph.nodes}
    rows = [ProbeRow("input", "input", None, None, float(score(run(quantized=graph.input_name))))]
    for tensor in list(lq.forced)[1:]:
        node = ops[tensor]
        weighted = node.name in lq.layers
        rows.append(ProbeRow(
            node.name, node.op, int(bits.get(node.name, 8)) if weighted else None,
            float(score(run(weights_of=node.name))) if weighted else None, float(score(run(quantized=tensor))),
        ))  # fmt: skip
    return rows


def _fake_quant(y: np.ndarray, qparams: tuple[float, int] | None) -> np.ndarray:
    if qparams is None:
        return y
    scale, zp = qparams
    return ((np.clip(np.round(y / scale) + zp, -128, 127) - zp) * scale).astype(np.float32)
