"""Joining tensors: ONNX Concat (any non-batch axis, run-time inputs).

IR op ``concat`` (``axis``). Quantized: each input requantized to the output's scale.
"""

from __future__ import annotations

import numpy as np

from ...errors import CompilationError
from ..constant_folding import describe_node
from ..op import ONNX_OPS, OPS, Op
from ..rounding import quantize_multiplier, requant, saturate
from ._shared import qnode


@ONNX_OPS.register("Concat")
def translate_concat(imp, node, a):
    rank = len(imp.shape(node.input[0]))
    axis = int(a["axis"]) % rank
    if axis == 0:
        raise CompilationError(f"{describe_node(node)}: Concat over the batch axis is not supported")
    for i in node.input:
        if imp.real(i) in imp.consts:
            raise CompilationError(f"{describe_node(node)}: Concat with a constant input is not supported")
    imp.add("concat", node, list(node.input), dict(axis=axis))


class Concat(Op):
    name = "concat"
    layout = "follow"

    def run_float(self, node, xs):
        return np.concatenate(xs, axis=node.attrs["axis"]).astype(np.float32)

    def quantize(self, node, ins, out_q, bits, mode):
        pairs = [quantize_multiplier(q["scale"] / out_q["scale"]) for q in ins]
        return qnode(node, attrs=dict(axis=node.attrs["axis"], in_zps=[q["zero_point"] for q in ins],
                                      mults=[p[0] for p in pairs], shifts=[p[1] for p in pairs],
                                      out_zp=out_q["zero_point"]))  # fmt: skip

    def run_int(self, node, xs):
        a = node.attrs
        parts = [
            saturate(requant(x.astype(np.int64) - zp, m, s) + a["out_zp"])
            for x, zp, m, s in zip(xs, a["in_zps"], a["mults"], a["shifts"])
        ]
        return np.concatenate(parts, axis=a["axis"])

    def export_qdq(self, b, node, xs):
        return b.node("Concat", xs, axis=int(node.attrs["axis"]))

    def emit_c(self, em, step):
        node, a = step.node, step.node.attrs
        em.need(self, "concat")
        order = em.memory_order(node.output)  # every input has the output's layout
        pos = order.index(a["axis"])
        y_shape = em.shape(node.output)
        outer = int(np.prod([y_shape[i] for i in order[:pos]]))
        out_inner = int(np.prod([y_shape[i] for i in order[pos:]]))
        offset, lines = 0, []
        for j, name in enumerate(node.inputs):
            inner = int(np.prod([em.shape(name)[i] for i in order[pos:]]))
            q = f", {a['in_zps'][j]}, {a['mults'][j]}, {a['shifts'][j]}, {a['out_zp']}" if em.int8 else ""
            lines.append(
                f"tm_concat_part({em.ptr(name)}, {em.ptr(node.output)}, {outer}, {inner}, {out_inner}, {offset}{q});"
            )
            offset += inner
        em.call(step.comment, "\n".join(lines))


OPS.register("concat", Concat())
