"""Fully connected layers: ONNX Gemm and MatMul (a constant second input, any leading dims).

IR op ``dense``: params ``w [Nout, K]``, ``b [Nout]``: ``y[..., n] = x[..., :] @ w[n] + b[n]``;
attribute ``act``. Quantized like a conv: int8 weights per output, int32 bias, ``requant``.
"""

from __future__ import annotations

import numpy as np

from ...errors import CompilationError
from ..c_emit import act_bounds_f
from ..constant_folding import describe_node
from ..importer import attribute_error
from ..op import ONNX_OPS, OPS, Op
from ..rounding import requant, saturate
from ._requant import Requant
from ._shared import clip_act, qdq_act, quantize_weighted, weighted_tables
from .conv import ConvGeometry, conv_int8_c, fold_zero_point


@ONNX_OPS.register("Gemm")
def translate_gemm(imp, node, a):
    if a.get("transA", 0):
        raise CompilationError(f"{describe_node(node)}: Gemm with transA=1 is not supported")
    w = imp.const(node.input[1], node, "weight (input B)").astype(np.float32)
    k = imp.shape(node.input[0])[-1]
    if w.ndim != 2 or w.shape[1 if a.get("transB", 0) else 0] != k:
        raise attribute_error(node, "the weight (input B) of shape", list(w.shape),
                              f"2-D with {k} inputs (the last dimension of its input)" + (" (transB=1)" if a.get("transB", 0) else ""))  # fmt: skip
    w = (w if a.get("transB", 0) else w.T) * float(a.get("alpha", 1.0))
    n_out = w.shape[0]
    b = np.zeros(n_out, np.float32)
    if len(node.input) > 2 and node.input[2]:
        c = imp.const(node.input[2], node, "bias (input C)").astype(np.float32) * float(a.get("beta", 1.0))
        if c.size not in (1, n_out):
            raise CompilationError(f"{describe_node(node)}: bias of shape {c.shape} is not supported")
        b = np.broadcast_to(c.ravel(), (n_out,)).astype(np.float32)
    imp.add("dense", node, [node.input[0]], dict(act=None), dict(w=np.ascontiguousarray(w), b=b))


@ONNX_OPS.register("MatMul")
def translate_matmul(imp, node, a):
    if imp.real(node.input[1]) not in imp.consts:
        raise CompilationError(
            f"{describe_node(node)}: MatMul of two run-time tensors is not supported; the second input must be a weight"
        )
    w = imp.consts[imp.real(node.input[1])].astype(np.float32)
    if w.ndim != 2:
        raise CompilationError(f"{describe_node(node)}: MatMul weight must be 2-D, got shape {w.shape}")
    k = imp.shape(node.input[0])[-1]
    if w.shape[0] != k:
        raise attribute_error(
            node, "the weight of shape", list(w.shape), f"{k} rows (the last dimension of its input)"
        )
    params = dict(w=np.ascontiguousarray(w.T), b=np.zeros(w.shape[1], np.float32))
    imp.add("dense", node, [node.input[0]], dict(act=None), params)


class Dense(Op):
    name = "dense"

    def run_float(self, node, xs):
        y = xs[0] @ node.params["w"].T + node.params["b"]
        return clip_act(y, node.attrs.get("act")).astype(np.float32)

    def quantize(self, node, ins, out_q, bits, mode):
        return quantize_weighted(node, ins, out_q, bits, mode)

    def run_int(self, node, xs):
        a, p = node.attrs, node.arrays
        acc = (xs[0].astype(np.int64) - a["in_zp"]) @ p["w"].astype(np.int64).T + p["bias"].astype(np.int64)
        y = requant(acc, p["mult"].astype(np.int64), p["shift"].astype(np.int64)) + a["out_zp"]
        return saturate(y, a["act_min"], a["act_max"])

    def export_qdq(self, b, node, xs):
        in_t, out_t = b.q.tensors[node.inputs[0]], b.q.tensors[node.output]
        w, ws = node.arrays["w"], node.arrays["w_scale"]
        wq = b.dq_const(f"{node.name}_wT", np.ascontiguousarray(w.T).astype(np.int8), ws, axis=1)
        bias = b.dq_const(
            f"{node.name}_bias", node.arrays["bias"].astype(np.int32), in_t["scale"] * ws, axis=0
        )
        return qdq_act(b, b.node("Add", [b.node("MatMul", [xs[0], wq]), bias]), node, out_t)

    def macs(self, em, node):
        n, k = (node.arrays if em.int8 else node.params)["w"].shape
        return em.size(node.inputs[0]) // k * n * k

    def emit_c(self, em, step):
        if em.int8 and not (em.pack_bits and int(step.node.attrs.get("weight_bits", 8)) < 8):
            _emit_dense_int8(em, step)
            return
        node, a, tag = step.node, step.node.attrs, step.tag
        w = node.arrays["w"] if em.int8 else node.params["w"]
        n, k = w.shape
        rows = em.size(node.inputs[0]) // k
        bits = int(a.get("weight_bits", 8)) if em.int8 else 32
        packed = em.int8 and em.pack_bits and bits < 8
        kind = "dense_packed" if packed else "dense"
        if packed:
            em.need_common("packed")
        em.need(self, kind)
        if em.int8:
            q = [rows, k, n, a["in_zp"], a["out_zp"], a["act_min"], a["act_max"]] + ([bits] if packed else [])
            fields = ", ".join(str(int(v)) for v in q) + f", {weighted_tables(em, tag, node, k, packed)}"
        else:
            wname = em.array("float", f"{tag}_w", w)
            bname = em.array("float", f"{tag}_b", node.params["b"])
            lo, hi = act_bounds_f(a.get("act"))
            fields = f"{rows}, {k}, {n}, {lo}, {hi}, {wname}, {bname}"
        em.define(f"static const tm_{kind}_t {tag} = {{{fields}}};")
        em.call(step.comment, f"tm_{kind}(&{tag}, {em.ptr(node.inputs[0])}, {em.ptr(node.output)});")


def _emit_dense_int8(em, step) -> None:
    """A dense layer is a 1 x 1 conv over its rows: the conv family's per-layer kernel."""
    node, a = step.node, step.node.attrs
    tag = f"tm_{step.tag}"
    w = node.arrays["w"]
    n, k = w.shape
    perm = em.flat_perm.get(node.inputs[0])
    if perm is not None:  # the input is a channel-last tensor read flat: weights in its memory order
        w = w[:, perm]
    rows = em.size(node.inputs[0]) // k
    bias, bound = fold_zero_point(w, node.arrays["bias"], a["in_zp"], node.name)
    em.array("int8_t", f"{tag}_w", np.ascontiguousarray(w))
    em.array("int32_t", f"{tag}_b", bias)
    rq = Requant(
        em, tag, node.arrays["mult"], node.arrays["shift"], bound, a["out_zp"], a["act_min"], a["act_max"]
    )
    em.need_common("dsp")
    em.define(rq.function())
    em.define(conv_int8_c(tag, ConvGeometry(k, 1, rows, n, 1, rows), a["in_zp"], out_nhwc=True))
    em.call(step.comment, f"{tag}({em.ptr(node.inputs[0])}, {em.ptr(node.output)});")


OPS.register("dense", Dense())
