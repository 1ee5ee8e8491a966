"""Element-wise arithmetic: ONNX Relu, Clip, Add, Sub, Mul, Div (by a constant), BatchNormalization.

IR ops ``clamp`` (``lo``, ``hi``), ``add`` / ``sub`` / ``mul`` (two inputs, tensors or constants,
numpy broadcasting; ``act`` on add and sub) and ``batchnorm`` (params ``scale``, ``shift``; folded
into the producer or rewritten by the graph passes, never quantized).
Quantized Add / Sub: both inputs rescaled with one shared shift and rounded once; Mul: ``requant``
of the product of the zero-point-free inputs.
"""

from __future__ import annotations

import numpy as np

from ...errors import CompilationError
from ..c_emit import act_bounds_f, fmt_float
from ..constant_folding import check_broadcast, describe_node
from ..importer import attribute_error
from ..op import ONNX_OPS, OPS, Op
from ..qparams import act_range
from ..rounding import common_shift_multipliers, quantize_multiplier, requant, saturate
from ._shared import clip_act, qdq_act, qnode


@ONNX_OPS.register("Relu")
def translate_relu(imp, node, a):
    imp.add("clamp", node, [node.input[0]], dict(lo=0.0, hi=float("inf")))


@ONNX_OPS.register("Clip")
def translate_clip(imp, node, a):
    lo, hi = a.get("min", -np.inf), a.get("max", np.inf)
    if len(node.input) > 1 and node.input[1]:
        lo = float(imp.const(node.input[1], node, "min"))
    if len(node.input) > 2 and node.input[2]:
        hi = float(imp.const(node.input[2], node, "max"))
    imp.add("clamp", node, [node.input[0]], dict(lo=float(lo), hi=float(hi)))


@ONNX_OPS.register("BatchNormalization")
def translate_batchnorm(imp, node, a):
    gamma, beta, mean, var = (
        imp.const(node.input[i], node, n).astype(np.float64)
        for i, n in zip(range(1, 5), ("scale", "B", "mean", "var"))
    )
    eps = float(a.get("epsilon", 1e-5))
    if gamma.shape != beta.shape or gamma.shape != mean.shape or gamma.shape != var.shape or gamma.ndim != 1:
        raise attribute_error(node, "the shapes of scale, B, mean and var", [gamma.shape, beta.shape, mean.shape, var.shape],
                              "one value per channel each")  # fmt: skip
    if not (var + eps > 0).all():
        raise attribute_error(
            node, "var + epsilon", f"(min {float((var + eps).min()):g})", "positive (a variance)"
        )
    scale = gamma / np.sqrt(var + eps)
    shift = beta - mean * scale
    imp.add(
        "batchnorm",
        node,
        [node.input[0]],
        {},
        dict(scale=scale.astype(np.float32), shift=shift.astype(np.float32)),
    )


def _binary(imp, node, op):
    x0, x1 = imp.real(node.input[0]), imp.real(node.input[1])
    if op == "div":
        if x1 not in imp.consts:
            raise CompilationError(
                f"{describe_node(node)}: division by a run-time tensor is not supported; only division by a constant"
            )
        if not np.all(imp.consts[x1]):
            raise CompilationError(
                f"{describe_node(node)}: it divides by a constant that holds 0; fix the divisor"
            )
        name = f"{x1}__reciprocal"
        imp.consts[name] = (1.0 / imp.consts[x1].astype(np.float64)).astype(np.float32)
        x1, op = name, "mul"
    if x0 in imp.consts and x1 in imp.consts:
        raise CompilationError(f"{describe_node(node)}: both inputs are constants")
    shapes = [imp.shape(x0), tuple(imp.consts[x1].shape) if x1 in imp.consts else imp.shape(x1)]
    check_broadcast(node, shapes)
    for x in (x0, x1):
        if x in imp.consts:
            imp.consts[x] = imp.consts[x].astype(np.float32)
    imp.add(op, node, [x0, x1], dict(act=None) if op != "mul" else {})


for _onnx, _ir in (("Add", "add"), ("Sub", "sub"), ("Mul", "mul"), ("Div", "div")):
    ONNX_OPS.register(_onnx, lambda imp, node, a, _op=_ir: _binary(imp, node, _op))


class Clamp(Op):
    name = "clamp"
    output_qparams = "input"
    layout = "follow"

    def run_float(self, node, xs):
        return np.clip(xs[0], node.attrs["lo"], node.attrs["hi"]).astype(np.float32)

    def quantize(self, node, ins, out_q, bits, mode):
        lo, hi = act_range((node.attrs["lo"], node.attrs["hi"]), ins[0]["scale"], ins[0]["zero_point"])
        return qnode(node, attrs=dict(lo=lo, hi=hi))

    def run_int(self, node, xs):
        return np.clip(xs[0], node.attrs["lo"], node.attrs["hi"]).astype(np.int8)

    def export_qdq(self, b, node, xs):
        in_t = b.q.tensors[node.inputs[0]]
        s, zp = in_t["scale"], in_t["zero_point"]
        lo = b.init("clip_min", np.array((node.attrs["lo"] - zp) * s, np.float32))
        hi = b.init("clip_max", np.array((node.attrs["hi"] - zp) * s, np.float32))
        return b.node("Clip", [xs[0], lo, hi])

    def in_place(self, em, node):
        return True

    def emit_c(self, em, step):
        node, a = step.node, step.node.attrs
        em.need(self, "clamp")
        lo, hi = (str(a["lo"]), str(a["hi"])) if em.int8 else (fmt_float(a["lo"]), fmt_float(a["hi"]))
        n = em.size(node.output)
        em.call(step.comment, f"tm_clamp({em.ptr(node.inputs[0])}, {em.ptr(node.output)}, {n}, {lo}, {hi});")


_NUMPY = {"add": np.add, "sub": np.subtract, "mul": np.multiply}
_ONNX = {"add": "Add", "sub": "Sub", "mul": "Mul"}


class Binary(Op):
    layout = "follow"

    def __init__(self, name: str):
        self.name = name

    def run_float(self, node, xs):
        return clip_act(_NUMPY[self.name](xs[0], xs[1]), node.attrs.get("act")).astype(np.float32)

    def quantize(self, node, ins, out_q, bits, mode):
        s_out, zp_out = out_q["scale"], out_q["zero_point"]
        zps = dict(zp_a=ins[0]["zero_point"], zp_b=ins[1]["zero_point"])
        if self.name == "mul":
            m, s = quantize_multiplier(ins[0]["scale"] * ins[1]["scale"] / s_out)
            return qnode(node, attrs=dict(**zps, mult=m, shift=s, out_zp=zp_out, act_min=-128, act_max=127))
        (ma, mb), shift = common_shift_multipliers([ins[0]["scale"] / s_out, ins[1]["scale"] / s_out])
        act_min, act_max = act_range(node.attrs.get("act"), s_out, zp_out)
        return qnode(node, attrs=dict(**zps, mult_a=ma, mult_b=mb, shift=shift, out_zp=zp_out,
                                      act_min=act_min, act_max=act_max))  # fmt: skip

    def run_int(self, node, xs):
        a = node.attrs
        if self.name == "mul":
            acc = (xs[0].astype(np.int64) - a["zp_a"]) * (xs[1].astype(np.int64) - a["zp_b"])
            return saturate(requant(acc, a["mult"], a["shift"]) + a["out_zp"], a["act_min"], a["act_max"])
        ta = (xs[0].astype(np.int64) - a["zp_a"]) * a["mult_a"]
        tb = (xs[1].astype(np.int64) - a["zp_b"]) * a["mult_b"]
        acc = ta + tb if self.name == "add" else ta - tb
        y = ((acc + (np.int64(1) << (a["shift"] - 1))) >> a["shift"]) + a["out_zp"]
        return saturate(y, a["act_min"], a["act_max"])

    def export_qdq(self, b, node, xs):
        return qdq_act(b, b.node(_ONNX[self.name], xs[:2]), node, b.q.tensors[node.output])

    def in_place(self, em, node) -> bool:
        """When the first input is read at the output's own index (same shape and layout)."""
        dims, sa, _ = broadcast_strides(em, node)
        natural = [int(np.prod(dims[i + 1 :])) if d > 1 else sa[i] for i, d in enumerate(dims)]
        return em.shape(node.inputs[0]) == em.shape(node.output) and sa == natural

    def emit_c(self, em, step):
        node, a, tag = step.node, step.node.attrs, step.tag
        em.need(self, "binary")
        dims, sa, sb = broadcast_strides(em, node)
        kind = {"add": 0, "sub": 1, "mul": 2}[self.name]
        shape_fields = ", ".join("{" + ", ".join(str(int(v)) for v in arr) + "}" for arr in (dims, sa, sb))
        if em.int8:
            mult_a, mult_b = (a["mult"], 0) if self.name == "mul" else (a["mult_a"], a["mult_b"])
            q = [a["zp_a"], a["zp_b"], mult_a, mult_b, a["shift"], a["out_zp"], a["act_min"], a["act_max"]]
            fields = f"{kind}, {shape_fields}, " + ", ".join(str(int(v)) for v in q)
        else:
            lo, hi = act_bounds_f(a.get("act"))
            fields = f"{kind}, {shape_fields}, {lo}, {hi}"
        em.define(f"static const tm_binary_t {tag} = {{{fields}}};")
        x, y, b = em.ptr(node.inputs[0]), em.ptr(node.output), em.ptr(node.inputs[1])
        em.call(step.comment, f"tm_binary(&{tag}, {x}, {b}, {y});")


def broadcast_strides(em, node) -> tuple[list[int], list[int], list[int]]:
    """Output dims in memory order (padded to 4) and each input's element strides along them (0 repeats)."""
    out_shape = em.shape(node.output)
    rank = len(out_shape)
    order = em.memory_order(node.output)
    if len(order) > 4:
        raise CompilationError(
            f"node {node.name!r}: broadcasting over more than 4 dimensions is not supported"
        )
    pad = 4 - len(order)

    def strides(name: str) -> list[int]:
        shape = [1] * (rank - len(em.shape(name))) + list(em.shape(name))
        own = em.memory_order(name) if len(em.shape(name)) == rank else list(range(1, rank))
        stride, acc = {}, 1
        for ax in reversed(own):
            stride[ax] = acc
            acc *= shape[ax]
        return [0] * pad + [0 if shape[ax] == 1 and out_shape[ax] != 1 else stride[ax] for ax in order]

    return [1] * pad + [out_shape[ax] for ax in order], strides(node.inputs[0]), strides(node.inputs[1])


class BatchNorm(Op):
    name = "batchnorm"

    def run_float(self, node, xs):
        x = xs[0]
        shape = (1, -1) + (1,) * (x.ndim - 2)
        return (x * node.params["scale"].reshape(shape) + node.params["shift"].reshape(shape)).astype(
            np.float32
        )


for _name in ("add", "sub", "mul"):
    OPS.register(_name, Binary(_name))
OPS.register("clamp", Clamp())
OPS.register("batchnorm", BatchNorm())
