"""The compiler's flat graph: :class:`Node` (float op), :class:`QNode` (int8 op) and :class:`Graph`.

The ONNX importer turns a supported ONNX model into a :class:`Graph`: one input, static shapes
(batch fixed to 1 for the C code; numpy runs any batch), nodes in execution order, each with one
output and its weights as float arrays. What an op means (its attributes, float run, quantization,
integer run, QDQ export, C) is defined once, in its family file under ``ir/ops/`` (see
:mod:`.op`); ``OPS.names()`` lists them. Common attributes: ``act`` is ``None`` or ``(lo, hi)``, a
Relu/Clip fused into the producing node; 2-D ops store ``strides``, ``pads`` (top, left, bottom,
right) and ``dilations`` for H and W, and 1-D ops (tensors ``N x C x L``) are stored as 2-D ops
with ``W = 1``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .op import op_of


@dataclass
class Node:
    """One float operation: ``outputs[0] = op(inputs...)``; ``params`` are float arrays."""

    op: str
    name: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)

    @property
    def output(self) -> str:
        return self.outputs[0]


@dataclass
class QNode:
    """One quantized op; ``attrs`` are JSON values, ``arrays`` integer numpy arrays."""

    op: str
    name: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict = field(default_factory=dict)
    arrays: dict = field(default_factory=dict)

    @property
    def output(self) -> str:
        return self.outputs[0]


@dataclass
class Graph:
    """A flat graph with one input and static per-sample shapes (batch dimension 1)."""

    nodes: list[Node]
    input_name: str
    output_names: list[str]
    shapes: dict[str, tuple[int, ...]]
    constants: dict[str, np.ndarray] = field(default_factory=dict)
    name: str = "model"

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.shapes[self.input_name]

    def producer(self, tensor: str) -> Node | None:
        for n in self.nodes:
            if tensor in n.outputs:
                return n
        return None

    def consumers(self, tensor: str) -> list[Node]:
        return [n for n in self.nodes if tensor in n.inputs]

    def use_count(self, tensor: str) -> int:
        """Number of node inputs plus graph outputs reading ``tensor``."""
        return sum(n.inputs.count(tensor) for n in self.nodes) + self.output_names.count(tensor)

    def op_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for n in self.nodes:
            counts[n.op] = counts.get(n.op, 0) + 1
        return counts


def run_float_node(node: Node, xs: list[np.ndarray]) -> np.ndarray:
    """Evaluate one float node on batch inputs ``xs`` (float32 out)."""
    return op_of(node).run_float(node, xs)


def run_float(graph: Graph, x: np.ndarray, keep_all: bool = False) -> dict[str, np.ndarray]:
    """Run the float graph on a batch ``x``; returns the outputs (or every tensor with ``keep_all``)."""
    values: dict[str, np.ndarray] = dict(graph.constants)
    values[graph.input_name] = np.asarray(x, dtype=np.float32)
    remaining = {t: graph.use_count(t) for t in graph.shapes}
    for node in graph.nodes:
        xs = [values[i] for i in node.inputs]
        values[node.output] = run_float_node(node, xs)
        if not keep_all:
            for i in node.inputs:
                remaining[i] = remaining.get(i, 1) - 1
                if remaining[i] <= 0 and i not in graph.constants and i not in graph.output_names:
                    values.pop(i, None)
    if keep_all:
        return values
    return {name: values[name] for name in graph.output_names}


def non_finite_message(graph: Graph, x: np.ndarray) -> str:
    """Why the float ``graph`` gives NaN or infinite outputs on ``x``: the first node that overflows float32."""
    values = run_float(graph, x, keep_all=True)
    for node in graph.nodes:
        if not np.isfinite(values[node.output]).all():
            peak = max((float(np.abs(p).max(initial=0.0)) for p in node.params.values()), default=0.0)
            return (
                f"the model gives NaN or infinite outputs on the test inputs: node {node.name!r} ({node.op}) is the "
                f"first to overflow float32 (its largest weight is {peak:g}); check the model's weights"
            )
    return "the model gives NaN or infinite outputs on the test inputs; check the model's weights"
