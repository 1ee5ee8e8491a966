"""Softmax over one non-batch axis (ONNX Softmax; opset < 13 only on the last axis).

IR op ``softmax`` (``axis``). Quantized: an int32 table ``round(exp(d * scale_in) * 2^16)`` for
``d = x - max`` in ``[-255, 0]``, ``y = round_div(e * 256, sum(e)) - 128`` (scale 1/256, zp -128).
"""

from __future__ import annotations

import numpy as np

from ...errors import CompilationError
from ..constant_folding import describe_node
from ..op import ONNX_OPS, OPS, Op
from ..rounding import round_div, saturate
from ._shared import qnode


@ONNX_OPS.register("Softmax")
def translate_softmax(imp, node, a):
    rank = len(imp.shape(node.input[0]))
    default = -1 if imp.proto.opset_import and imp.opset() >= 13 else 1
    axis = int(a.get("axis", default)) % rank
    if default == 1 and axis != rank - 1:
        raise CompilationError(
            f"{describe_node(node)}: opset<13 Softmax over axes {axis}.. is only supported on the last axis"
        )
    if axis == 0:
        raise CompilationError(f"{describe_node(node)}: Softmax over the batch axis is not supported")
    imp.add("softmax", node, [node.input[0]], dict(axis=axis))


class Softmax(Op):
    name = "softmax"
    output_qparams = (1.0 / 256, -128)
    layout = "follow"

    def run_float(self, node, xs):
        ax = node.attrs["axis"]
        z = xs[0].astype(np.float64)
        e = np.exp(z - z.max(axis=ax, keepdims=True))
        return (e / e.sum(axis=ax, keepdims=True)).astype(np.float32)

    def quantize(self, node, ins, out_q, bits, mode):
        d = np.arange(-255, 1)
        table = np.round(np.exp(d * ins[0]["scale"]) * 65536.0).astype(np.int32)
        return qnode(node, attrs=dict(axis=node.attrs["axis"]), arrays=dict(table=table))

    def run_int(self, node, xs):
        ax = node.attrs["axis"]
        xi = xs[0].astype(np.int64)
        d = xi - xi.max(axis=ax, keepdims=True)
        e = node.arrays["table"].astype(np.int64)[d + 255]
        return saturate(round_div(e * 256, e.sum(axis=ax, keepdims=True)) - 128)

    def export_qdq(self, b, node, xs):
        return b.node("Softmax", [xs[0]], axis=int(node.attrs["axis"]))

    def emit_c(self, em, step):
        node = step.node
        em.need(self, "softmax")
        ax = node.attrs["axis"]
        shape, order = em.shape(node.inputs[0]), em.memory_order(node.inputs[0])
        pos = order.index(ax)
        outer = int(np.prod([shape[i] for i in order[:pos]]))
        n, inner = shape[ax], int(np.prod([shape[i] for i in order[pos + 1 :]]))
        x, y = em.ptr(node.inputs[0]), em.ptr(node.output)
        if em.int8:
            t = em.array("int32_t", f"{step.tag}_exp", node.arrays["table"])
            em.call(step.comment, f"tm_softmax({x}, {y}, {outer}, {n}, {inner}, {t});")
        else:
            em.uses_math = True
            em.call(step.comment, f"tm_softmax({x}, {y}, {outer}, {n}, {inner});")


OPS.register("softmax", Softmax())
