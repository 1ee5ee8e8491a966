"""Data movement: ONNX Identity, Dropout, Reshape, Flatten, Squeeze, Unsqueeze, Transpose, Pad, Slice, Gather.

IR ops ``reshape`` (``shape`` per sample; in C a view of its input's memory), ``transpose``
(``perm``), ``pad`` (``pads`` (t, l, b, r), ``value``: constant padding of H and W) and ``slice``
(``begin``, ``step``, ``count`` per axis: a strided view; the batch axis whole). A Gather of
constant indices becomes a slice (evenly spaced indices) or a nearest-neighbour ``resize``.
Quantized: integer copies with the input's scale (a Pad value is quantized to that scale).
"""

from __future__ import annotations

import numpy as np

from ...errors import CompilationError
from ..c_emit import chw, fmt_float
from ..c_text import CText, c_function
from ..constant_folding import describe_node, int_list, reshape_target
from ..importer import attribute_error, text_attr
from ..numpy_kernels import as_nchw, pad2d, restore_rank, slice_nd
from ..op import ONNX_OPS, OPS, Op
from ._shared import qnode


@ONNX_OPS.register("Identity")
def translate_identity(imp, node, a):
    imp.alias(node.output[0], node.input[0])


ONNX_OPS.register("Dropout", translate_identity)


def _reshape(imp, node, target: tuple[int, ...]) -> None:
    x_shape = imp.shape(node.input[0])
    if int(np.prod(target)) != int(np.prod(x_shape)) or target[0] != 1:
        raise CompilationError(
            f"{describe_node(node)}: reshape of {x_shape} to {target} is not supported (the batch dimension must stay first)"
        )
    imp.add("reshape", node, [node.input[0]], dict(shape=tuple(int(t) for t in target)))


@ONNX_OPS.register("Reshape")
def translate_reshape(imp, node, a):
    target = int_list(imp.const(node.input[1], node, "target shape"))
    target = reshape_target(node, imp.shape(node.input[0]), target, a.get("allowzero", 0))
    _reshape(imp, node, target)


@ONNX_OPS.register("Flatten")
def translate_flatten(imp, node, a):
    x_shape = imp.shape(node.input[0])
    ax = int(a.get("axis", 1)) % len(x_shape) if a.get("axis", 1) != len(x_shape) else len(x_shape)
    _reshape(imp, node, (int(np.prod(x_shape[:ax])), int(np.prod(x_shape[ax:]))))


@ONNX_OPS.register("Squeeze")
def translate_squeeze(imp, node, a):
    x_shape = imp.shape(node.input[0])
    if "axes" in a:
        axes = a["axes"]
    elif len(node.input) > 1 and node.input[1]:
        axes = int_list(imp.const(node.input[1], node, "axes"))
    else:
        axes = None
    axes = (
        [i for i, d in enumerate(x_shape) if d == 1 and i > 0]
        if axes is None
        else [int(i) % len(x_shape) for i in axes]
    )
    _reshape(imp, node, tuple(d for i, d in enumerate(x_shape) if i not in axes) or (1,))


@ONNX_OPS.register("Unsqueeze")
def translate_unsqueeze(imp, node, a):
    x_shape = list(imp.shape(node.input[0]))
    axes = a["axes"] if "axes" in a else int_list(imp.const(node.input[1], node, "axes"))
    out_rank = len(x_shape) + len(axes)
    for ax in sorted(int(i) % out_rank for i in axes):
        x_shape.insert(ax, 1)
    _reshape(imp, node, tuple(x_shape))


@ONNX_OPS.register("Transpose")
def translate_transpose(imp, node, a):
    rank = len(imp.shape(node.input[0]))
    perm = [int(p) for p in a.get("perm", list(range(rank))[::-1])]
    if sorted(perm) != list(range(rank)):
        raise attribute_error(node, "perm", perm, f"a permutation of the {rank} axes 0..{rank - 1}")
    if perm[0] != 0:
        raise CompilationError(f"{describe_node(node)}: Transpose may not move the batch axis (perm {perm})")
    if rank > 5:
        raise CompilationError(
            f"{describe_node(node)}: Transpose of more than 4 dimensions per sample is not supported"
        )
    imp.add("transpose", node, [node.input[0]], dict(perm=perm))


@ONNX_OPS.register("Pad")
def translate_pad(imp, node, a):
    mode = text_attr(a, "mode", "constant")
    if mode != "constant":
        raise CompilationError(f"{describe_node(node)}: Pad mode {mode!r} is not supported; only 'constant'")
    x_shape = imp.shape(node.input[0])
    rank = len(x_shape)
    if len(node.input) > 1 and node.input[1]:
        pads = int_list(imp.const(node.input[1], node, "pads"))
    else:
        pads = [int(p) for p in a.get("pads", [])]
    if len(node.input) > 3 and node.input[3]:
        raise CompilationError(f"{describe_node(node)}: Pad with an axes input is not supported")
    value = (
        float(np.asarray(imp.const(node.input[2], node, "value")).ravel()[0])
        if len(node.input) > 2 and node.input[2]
        else float(a.get("value", 0.0))
    )
    begin, end = pads[:rank], pads[rank:]
    if (
        rank not in (3, 4)
        or len(pads) != 2 * rank
        or any(begin[i] or end[i] for i in range(2))
        or min(pads) < 0
    ):
        raise CompilationError(
            f"{describe_node(node)}: Pad is supported on the spatial axes of a 3-D/4-D tensor with pads >= 0, got {pads}"
        )
    spatial = (begin[2], begin[3] if rank == 4 else 0, end[2], end[3] if rank == 4 else 0)
    imp.add("pad", node, [node.input[0]], dict(pads=spatial, value=value))


@ONNX_OPS.register("Slice")
def translate_slice(imp, node, a):
    """A strided slice of a run-time tensor with constant starts / ends / axes / steps."""
    x_shape = imp.shape(node.input[0])
    rank = len(x_shape)
    ins = list(node.input) + [""] * 5
    if "starts" in a:  # opset < 10
        starts, ends = list(a["starts"]), list(a["ends"])
        axes = list(a.get("axes", range(len(starts))))
        steps = [1] * len(starts)
    else:
        starts = int_list(imp.const(ins[1], node, "starts"))
        ends = int_list(imp.const(ins[2], node, "ends"))
        axes = int_list(imp.const(ins[3], node, "axes")) if ins[3] else list(range(len(starts)))
        steps = int_list(imp.const(ins[4], node, "steps")) if ins[4] else [1] * len(starts)
    begin, step, count = [0] * rank, [1] * rank, list(x_shape)
    for st, en, ax, sp in zip(starts, ends, axes, steps):
        ax = int(ax) % rank
        if sp == 0:
            raise CompilationError(f"{describe_node(node)}: Slice step 0 on axis {ax} is not valid")
        idx = range(x_shape[ax])[slice(st, en, sp)]
        if ax == 0 and len(idx) != x_shape[0]:
            raise CompilationError(f"{describe_node(node)}: Slice may not cut the batch axis")
        if ax and len(idx) == 0:
            raise CompilationError(f"{describe_node(node)}: Slice gives an empty tensor on axis {ax}")
        if ax:
            begin[ax], step[ax], count[ax] = idx.start, idx.step, len(idx)
    if rank > 5:
        raise CompilationError(
            f"{describe_node(node)}: Slice of more than 4 dimensions per sample is not supported"
        )
    imp.add("slice", node, [node.input[0]], dict(begin=begin, step=step, count=count))


@ONNX_OPS.register("Gather")
def translate_gather(imp, node, a):
    """Gather of constant indices: a strided slice (scalar or evenly spaced indices on any
    non-batch axis) or a nearest-neighbour index map (any indices along axis 2 or 3)."""
    x_shape = imp.shape(node.input[0])
    rank = len(x_shape)
    axis = int(a.get("axis", 0)) % rank
    idx = imp.consts.get(imp.real(node.input[1]))
    if idx is None or idx.ndim > 1 or axis == 0:
        raise CompilationError(
            f"{describe_node(node)}: Gather needs constant scalar or 1-D indices on a non-batch axis"
        )
    raw = [int(i) for i in np.asarray(idx).ravel()]
    if not raw or not all(-x_shape[axis] <= i < x_shape[axis] for i in raw):
        raise attribute_error(
            node, "indices", raw, f"at least one, each in [-{x_shape[axis]}, {x_shape[axis]}) (axis {axis})"
        )
    flat = [i % x_shape[axis] for i in raw]
    steps = {b - a_ for a_, b in zip(flat, flat[1:])}
    if len(steps) <= 1 and (not steps or min(steps) > 0):
        begin, step, count = [0] * rank, [1] * rank, list(x_shape)
        begin[axis], step[axis], count[axis] = flat[0], (steps.pop() if steps else 1), len(flat)
        if idx.ndim == 1:
            imp.add("slice", node, [node.input[0]], dict(begin=begin, step=step, count=count))
            return
        mid = imp.add(
            "slice",
            node,
            [node.input[0]],
            dict(begin=begin, step=step, count=count),
            out=node.output[0] + "__slice",
        )
        imp.reshape_to(
            mid, node.output[0], f"{node.name}_squeeze", tuple(d for k, d in enumerate(x_shape) if k != axis)
        )
        return
    if idx.ndim != 1 or rank not in (3, 4) or axis < 2:
        raise CompilationError(
            f"{describe_node(node)}: Gather of arbitrary indices is supported only along axis 2 or 3 of a 3-D/4-D tensor"
        )
    index_h = flat if axis == 2 else list(range(x_shape[2]))
    index_w = flat if axis == 3 else list(range(x_shape[3] if rank == 4 else 1))
    imp.add("resize", node, [node.input[0]], dict(index_h=index_h, index_w=index_w))


class _Move(Op):
    output_qparams = "input"

    def quantize(self, node, ins, out_q, bits, mode):
        return qnode(node, attrs=dict(node.attrs))

    def run_int(self, node, xs):
        return self.run_float(node, xs)


class Reshape(_Move):
    name = "reshape"

    def run_float(self, node, xs):
        return xs[0].reshape((xs[0].shape[0],) + tuple(node.attrs["shape"][1:]))

    def export_qdq(self, b, node, xs):
        shape = b.init("shape", np.array([-1] + list(node.attrs["shape"][1:]), dtype=np.int64))
        return b.node("Reshape", [xs[0], shape])

    def emit_c(self, em, step):
        em.call(step.comment, "/* shares its input's memory */")


def _strided_copy(em, op, step, x: str, dims: list[int], strides: list[int]) -> None:
    em.need(op, "transpose")
    td = em.array("int32_t", f"{step.tag}_dims", np.array(dims))
    ts = em.array("int32_t", f"{step.tag}_strides", np.array(strides))
    em.call(step.comment, f"tm_transpose({x}, {em.ptr(step.node.output)}, {td}, {ts});")


class Transpose(_Move):
    name = "transpose"

    def run_float(self, node, xs):
        return np.ascontiguousarray(np.transpose(xs[0], node.attrs["perm"]))

    def export_qdq(self, b, node, xs):
        return b.node("Transpose", [xs[0]], perm=[int(i) for i in node.attrs["perm"]])

    def emit_c(self, em, step):
        node = step.node
        x_shape, y_shape = em.shape(node.inputs[0]), em.shape(node.output)
        perm = [int(i) for i in node.attrs["perm"]]
        in_strides = [int(np.prod(x_shape[i + 1 :])) for i in range(len(x_shape))]
        dims = [1] * (5 - len(perm)) + [int(y_shape[i]) for i in perm[1:]]
        strides = [0] * (5 - len(perm)) + [in_strides[i] for i in perm[1:]]
        _strided_copy(em, self, step, em.ptr(node.inputs[0]), dims, strides)


class Slice(_Move):
    name = "slice"

    def run_float(self, node, xs):
        return slice_nd(xs[0], node.attrs)

    def export_qdq(self, b, node, xs):
        a = node.attrs
        x_rank = len(b.q.tensors[node.inputs[0]]["shape"])
        axes = list(range(1, x_rank))
        begin = [int(a["begin"][i]) for i in axes]
        step = [int(a["step"][i]) for i in axes]
        end = [bg + (int(a["count"][i]) - 1) * st + 1 for bg, st, i in zip(begin, step, axes)]
        ins = [xs[0]] + [
            b.init(k, np.array(v, np.int64))
            for k, v in (("starts", begin), ("ends", end), ("axes", axes), ("steps", step))
        ]
        return b.node("Slice", ins)

    def emit_c(self, em, step):
        node, a = step.node, step.node.attrs
        x_shape = em.shape(node.inputs[0])
        in_strides = [int(np.prod(x_shape[i + 1 :])) for i in range(len(x_shape))]
        offset = sum(int(b) * st for b, st in zip(a["begin"], in_strides))
        pad = 5 - len(x_shape)
        dims = [1] * pad + [int(c) for c in a["count"][1:]]
        strides = [0] * pad + [int(st) * int(s) for st, s in zip(in_strides[1:], a["step"][1:])]
        _strided_copy(em, self, step, f"{em.ptr(node.inputs[0])} + {offset}", dims, strides)


class Pad(_Move):
    name = "pad"

    def run_float(self, node, xs):
        return restore_rank(pad2d(as_nchw(xs[0]), node.attrs["pads"], node.attrs["value"]), xs[0]).astype(
            np.float32
        )

    def quantize(self, node, ins, out_q, bits, mode):
        value_q = int(np.clip(ins[0]["zero_point"] + round(node.attrs["value"] / ins[0]["scale"]), -128, 127))
        return qnode(node, attrs=dict(node.attrs, value_q=value_q))

    def run_int(self, node, xs):
        return restore_rank(
            pad2d(as_nchw(xs[0]), node.attrs["pads"], node.attrs["value_q"]).astype(np.int8), xs[0]
        )

    def export_qdq(self, b, node, xs):
        in_t = b.q.tensors[node.inputs[0]]
        t, lft, btm, r = (int(v) for v in node.attrs["pads"])
        pads = [0, 0, t, lft, 0, 0, btm, r] if len(in_t["shape"]) == 4 else [0, 0, t, 0, 0, btm]
        value = (node.attrs["value_q"] - in_t["zero_point"]) * in_t["scale"]
        return b.node(
            "Pad",
            [
                xs[0],
                b.init("pads", np.array(pads, np.int64)),
                b.init("pad_value", np.array(value, np.float32)),
            ],
        )

    def emit_c(self, em, step):
        node, a = step.node, step.node.attrs
        em.need(self, "pad")
        c, ih, iw = chw(em.shape(node.inputs[0]))
        _, oh, ow = chw(em.shape(node.output))
        value = str(int(a["value_q"])) if em.int8 else fmt_float(a["value"])
        args = f"{em.ptr(node.inputs[0])}, {em.ptr(node.output)}, {c}, {ih}, {iw}, {oh}, {ow}, {a['pads'][0]}, {a['pads'][1]}, {value}"
        em.call(step.comment, f"tm_pad({args});")


class Relayout(Op):
    """A copy of a tensor into the other memory layout (NCHW <-> channel-last); the C generator adds
    these where a layer needs the layout its producer did not write. Not an ONNX op."""

    name = "relayout"
    output_qparams = "input"

    def run_float(self, node, xs):
        return xs[0]

    def run_int(self, node, xs):
        return xs[0]

    def emit_c(self, em, step):
        node = step.node
        src, dst = node.inputs[0], node.output
        c, h, w = chw(em.shape(src))
        p = h * w
        to_nhwc = em.layout(dst) == "nhwc"
        fn = f"tm_{step.tag}_to_{'nhwc' if to_nhwc else 'nchw'}"
        t = (
            CText()("int32_t p, ch;")
            .block(f"for (p = 0; p < {p}; ++p)")
            .block(f"for (ch = 0; ch < {c}; ++ch)")
        )
        t(
            f"y[p * {c} + ch] = x[ch * {p} + p];" if to_nhwc else f"y[ch * {p} + p] = x[p * {c} + ch];"
        ).end().end()
        em.define(c_function(f"static void {fn}(const int8_t *restrict x, int8_t *restrict y)", t))
        em.call(step.comment, f"{fn}({em.ptr(src)}, {em.ptr(dst)});")


OPS.register("relayout", Relayout())
OPS.register("reshape", Reshape())
OPS.register("transpose", Transpose())
OPS.register("slice", Slice())
OPS.register("pad", Pad())
