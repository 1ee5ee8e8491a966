"""Pooling: ONNX MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool and ReduceMean.

IR ops ``maxpool`` / ``avgpool``: ``kernel`` (2), ``strides`` (2), ``pads`` (4), ``out_hw``;
``avgpool`` also ``count_include_pad``. A global pool is a pool over the whole plane; a ReduceMean
over the spatial axes is an average pool, one over trailing axes a dense layer of weights 1/K.
Quantized: integer copies with the input's scale; averages are ``round_div(sum(x - zp), count) + zp``.
"""

from __future__ import annotations

import numpy as np

from ...errors import CompilationError
from ..c_emit import chw
from ..c_text import CText, c_function
from ..constant_folding import describe_node, int_list
from ..importer import attribute_error, hw2, spatial_pads, window_output
from ..numpy_kernels import as_nchw, pool2d, pool_counts, restore_rank
from ..op import ONNX_OPS, OPS, Op
from ..rounding import round_div, saturate
from ._shared import qdq_spatial, qnode


def _pool(imp, node, a, kind, global_pool=False):
    x_shape = imp.shape(node.input[0])
    rank = len(x_shape) - 2
    if rank not in (1, 2):
        raise CompilationError(
            f"{describe_node(node)}: only 1-D and 2-D pooling is supported (input shape {x_shape})"
        )
    in_hw = (x_shape[2], 1 if rank == 1 else x_shape[3])
    if global_pool:
        kernel, strides, pads, ceil = in_hw, (1, 1), (0, 0, 0, 0), 0
    else:
        kernel = hw2(a["kernel_shape"], rank, node=node, key="kernel_shape")
        strides = hw2(a.get("strides"), rank, node=node, key="strides")
        if any(d != 1 for d in a.get("dilations", [1])):
            raise CompilationError(f"{describe_node(node)}: pooling with dilation is not supported")
        pads = spatial_pads(a, rank, in_hw, kernel, strides, (1, 1), node)
        if any(pads[i] >= kernel[i % 2] for i in range(4)):
            raise attribute_error(node, "pads", list(pads), f"each smaller than the window {list(kernel)}")
        ceil = int(a.get("ceil_mode", 0))
        if ceil not in (0, 1):
            raise attribute_error(node, "ceil_mode", ceil, "0 or 1")
        window_output(node, in_hw, kernel, strides, (1, 1), pads)
    out_hw = []
    for i in range(2):
        span = in_hw[i] + pads[i] + pads[i + 2] - kernel[i]
        o = (-(-span // strides[i]) if ceil else span // strides[i]) + 1
        if ceil and (o - 1) * strides[i] >= in_hw[i] + pads[i]:
            o -= 1
        out_hw.append(o)
    op = "maxpool" if kind == "max" else "avgpool"
    attrs = dict(kernel=tuple(kernel), strides=tuple(strides), pads=tuple(pads), out_hw=tuple(out_hw))
    if op == "avgpool":
        attrs["count_include_pad"] = int(a.get("count_include_pad", 0))
    imp.add(op, node, [node.input[0]], attrs)


@ONNX_OPS.register("MaxPool")
def translate_maxpool(imp, node, a):
    if len(node.output) > 1 and node.output[1]:
        raise CompilationError(f"{describe_node(node)}: MaxPool with indices output is not supported")
    if int(a.get("storage_order", 0)) not in (0, 1):
        raise attribute_error(node, "storage_order", a["storage_order"], "0 (row major) or 1 (column major)")
    _pool(imp, node, a, "max")


@ONNX_OPS.register("AveragePool")
def translate_avgpool(imp, node, a):
    _pool(imp, node, a, "avg")


@ONNX_OPS.register("GlobalAveragePool")
def translate_global_avgpool(imp, node, a):
    _pool(imp, node, a, "avg", global_pool=True)


@ONNX_OPS.register("GlobalMaxPool")
def translate_global_maxpool(imp, node, a):
    _pool(imp, node, a, "max", global_pool=True)


@ONNX_OPS.register("ReduceMean")
def translate_reduce_mean(imp, node, a):
    x_shape = imp.shape(node.input[0])
    rank = len(x_shape)
    if "axes" in a:
        axes = a["axes"]
    elif len(node.input) > 1 and node.input[1]:
        axes = int_list(imp.const(node.input[1], node, "axes"))
    else:
        axes = list(range(rank))
    axes = sorted({int(i) % rank for i in axes})
    keep = int(a.get("keepdims", 1))
    if axes and 0 not in axes and axes == list(range(axes[0], rank)) and (rank not in (3, 4) or axes[0] < 2):
        _mean_by_dense(imp, node, x_shape, axes, keep)
        return
    if rank not in (3, 4) or not axes or any(ax < 2 for ax in axes):
        raise CompilationError(
            f"{describe_node(node)}: ReduceMean is supported over the spatial axes (2, 3) of a 3-D or 4-D tensor, "
            f"got axes {axes} of shape {x_shape}"
        )
    in_hw = (x_shape[2], x_shape[3] if rank == 4 else 1)
    kernel = (in_hw[0] if 2 in axes else 1, in_hw[1] if 3 in axes else 1)
    out_hw = (in_hw[0] // kernel[0], in_hw[1] // kernel[1])
    attrs = dict(kernel=kernel, strides=kernel, pads=(0, 0, 0, 0), out_hw=out_hw, count_include_pad=0)
    if keep:
        imp.add("avgpool", node, [node.input[0]], attrs)
        return
    mid = imp.add("avgpool", node, [node.input[0]], attrs, out=node.output[0] + "__keepdims")
    target = tuple(d for i, d in enumerate(x_shape) if i not in axes)
    imp.reshape_to(mid, node.output[0], f"{node.name}_squeeze", target)


def _mean_by_dense(imp, node, x_shape, axes, keep) -> None:
    """Mean over trailing axes: reshape to (1, rows, K), a dense layer of weights 1/K, reshape back."""
    k = int(np.prod([x_shape[i] for i in axes]))
    rows = int(np.prod(x_shape[1 : axes[0]]))
    flat, mean = node.output[0] + "__rows", node.output[0] + "__mean"
    base = node.name or "ReduceMean"
    imp.reshape_to(node.input[0], flat, f"{base}_rows", (1, rows, k))
    w = np.full((1, k), 1.0 / k, dtype=np.float32)
    imp.add("dense", node, [flat], dict(act=None), dict(w=w, b=np.zeros(1, np.float32)), out=mean)
    target = (
        tuple(1 if i in axes else d for i, d in enumerate(x_shape))
        if keep
        else tuple(d for i, d in enumerate(x_shape) if i not in axes)
    )
    imp.reshape_to(mean, node.output[0], f"{base}_out", target)


class _Pool(Op):
    output_qparams = "input"

    def export_qdq(self, b, node, xs):
        a = node.attrs
        x_rank = len(b.q.tensors[node.inputs[0]]["shape"])
        attrs = dict(kernel_shape=list(a["kernel"])[: x_rank - 2], strides=list(a["strides"])[: x_rank - 2],
                     pads=qdq_spatial(x_rank, a["pads"], pairs=True))  # fmt: skip
        if node.op == "avgpool":
            attrs["count_include_pad"] = int(a["count_include_pad"])
            return b.node("AveragePool", [xs[0]], **attrs)
        return b.node("MaxPool", [xs[0]], **attrs)

    def layout_rule(self, em, node) -> str:
        return "follow" if em.int8 else "canonical"

    def in_place(self, em, node) -> bool:
        """Whether the int8 kernel's loop order never overwrites an input value it still has to read."""
        if not em.int8:
            return False
        reads, writes = _access(em, node)
        last_read = np.full(int(max(reads.max(initial=0), writes.max(initial=0))) + 1, -1)
        order = np.repeat(np.arange(len(writes)), reads.shape[1])
        valid = reads.ravel() >= 0
        np.maximum.at(last_read, reads.ravel()[valid], order[valid])
        return bool(np.all(last_read[writes] <= np.arange(len(writes))))

    def emit_c(self, em, step):
        if em.int8:
            _emit_pool_int8(em, step, self.name)
            return
        node, a, tag = step.node, step.node.attrs, step.tag
        em.need(self, "pool")
        em.need(self, self.name)
        c, ih, iw = chw(em.shape(node.inputs[0]))
        _, oh, ow = chw(em.shape(node.output))
        p = a["pads"]
        vals = [c, ih, iw, oh, ow, a["kernel"][0], a["kernel"][1], a["strides"][0], a["strides"][1], p[0], p[1], p[2], p[3],
                int(a.get("zp", 0)), int(a.get("count_include_pad", 0))]  # fmt: skip
        em.define(f"static const tm_pool_t {tag} = {{{', '.join(str(int(v)) for v in vals)}}};")
        em.call(step.comment, f"tm_{self.name}(&{tag}, {em.ptr(node.inputs[0])}, {em.ptr(node.output)});")


class MaxPool(_Pool):
    name = "maxpool"

    def run_float(self, node, xs):
        a = node.attrs
        y = pool2d(
            as_nchw(xs[0]), "max", a["kernel"], a["strides"], a["pads"], a["out_hw"], pad_value=-np.inf
        )
        return restore_rank(y, xs[0]).astype(np.float32)

    def quantize(self, node, ins, out_q, bits, mode):
        return qnode(node, attrs=dict(node.attrs))

    def run_int(self, node, xs):
        a = node.attrs
        y = pool2d(as_nchw(xs[0]).astype(np.int64), "max", a["kernel"], a["strides"], a["pads"], a["out_hw"],
                   pad_value=-(1 << 20))  # fmt: skip
        return restore_rank(y.astype(np.int8), xs[0])


class AvgPool(_Pool):
    name = "avgpool"

    def run_float(self, node, xs):
        a = node.attrs
        x4 = as_nchw(xs[0])
        total = pool2d(x4, "sum", a["kernel"], a["strides"], a["pads"], a["out_hw"])
        cnt = pool_counts(
            x4.shape[2:], a["kernel"], a["strides"], a["pads"], a["out_hw"], a["count_include_pad"]
        )
        return restore_rank(total / cnt, xs[0]).astype(np.float32)

    def quantize(self, node, ins, out_q, bits, mode):
        return qnode(node, attrs=dict(node.attrs, zp=ins[0]["zero_point"]))

    def run_int(self, node, xs):
        a = node.attrs
        x4 = as_nchw(xs[0]).astype(np.int64) - a["zp"]
        total = pool2d(x4, "sum", a["kernel"], a["strides"], a["pads"], a["out_hw"])
        count = pool_counts(
            x4.shape[2:], a["kernel"], a["strides"], a["pads"], a["out_hw"], a["count_include_pad"]
        )
        return restore_rank(saturate(round_div(total, count) + a["zp"]), xs[0])


def _geometry(em, node):
    a = node.attrs
    c, ih, iw = chw(em.shape(node.inputs[0]))
    _, oh, ow = chw(em.shape(node.output))
    return c, ih, iw, oh, ow, a["kernel"], a["strides"], a["pads"]


def _loop_order(em, node):
    """Output elements ``(ch, oy, ox)`` in the kernel's order: channels innermost when channel-last."""
    c, _, _, oh, ow, _, _, _ = _geometry(em, node)
    ch, oy, ox = np.meshgrid(np.arange(c), np.arange(oh), np.arange(ow), indexing="ij")
    if em.layout(node.inputs[0]) == "nhwc":
        return ch.transpose(1, 2, 0).ravel(), oy.transpose(1, 2, 0).ravel(), ox.transpose(1, 2, 0).ravel()
    return ch.ravel(), oy.ravel(), ox.ravel()


def _access(em, node) -> tuple[np.ndarray, np.ndarray]:
    """Per output element in loop order: the input indices it reads (-1: padding) and the index it writes."""
    c, ih, iw, oh, ow, (kh, kw), (sh, sw), pads = _geometry(em, node)
    ch, oy, ox = _loop_order(em, node)
    iy = oy[:, None, None] * sh - pads[0] + np.arange(kh)[None, :, None]
    ix = ox[:, None, None] * sw - pads[1] + np.arange(kw)[None, None, :]
    iy, ix = np.broadcast_to(iy, (len(ch), kh, kw)), np.broadcast_to(ix, (len(ch), kh, kw))
    inside = (iy >= 0) & (iy < ih) & (ix >= 0) & (ix < iw)
    chb = ch[:, None, None]
    if em.layout(node.inputs[0]) == "nhwc":
        reads, writes = (iy * iw + ix) * c + chb, (oy * ow + ox) * c + ch
    else:
        reads, writes = (chb * ih + iy) * iw + ix, (ch * oh + oy) * ow + ox
    return np.where(inside, reads, -1).reshape(len(ch), -1), writes


def _emit_pool_int8(em, step, kind: str) -> None:
    """One function per layer: channels innermost for channel-last tensors; may run in place."""
    node, a = step.node, step.node.attrs
    tag = f"tm_{step.tag}"
    c, ih, iw, oh, ow, (kh, kw), (sh, sw), pads = _geometry(em, node)
    nhwc = em.layout(node.inputs[0]) == "nhwc"
    reads, _ = _access(em, node)
    checks = bool(np.any(reads < 0))

    def x_at(iy: str, ix: str) -> str:
        return f"x[(({iy}) * {iw} + {ix}) * {c} + ch]" if nhwc else f"x[(ch * {ih} + {iy}) * {iw} + {ix}]"

    y_at = f"y[(oy * {ow} + ox) * {c} + ch]" if nhwc else f"y[(ch * {oh} + oy) * {ow} + ox]"
    t = CText()("int32_t ch, oy, ox, i, j;")
    loops = ["oy", "ox", "ch"] if nhwc else ["ch", "oy", "ox"]
    bounds = dict(ch=c, oy=oh, ox=ow)
    for v in loops:
        t.block(f"for ({v} = 0; {v} < {bounds[v]}; ++{v})")
    if kind == "maxpool":
        t("int32_t m = -128;")
    else:
        t("int32_t sum = 0;")
    t.block(f"for (i = 0; i < {kh}; ++i)")(f"const int32_t iy = oy * {sh} - {pads[0]} + i;")
    t.block(f"for (j = 0; j < {kw}; ++j)")(f"const int32_t ix = ox * {sw} - {pads[1]} + j;")
    if checks:
        t.block(f"if (iy >= 0 && iy < {ih} && ix >= 0 && ix < {iw})")
    if kind == "maxpool":
        t(f"const int32_t v = {x_at('iy', 'ix')};", "m = v > m ? v : m;")
    else:
        t(f"sum += {x_at('iy', 'ix')} - {int(a['zp'])};")
    if checks:
        t.end()
    t.end().end()
    if kind == "maxpool":
        t(f"{y_at} = (int8_t)m;")
    else:
        counts = pool_counts(
            (ih, iw), a["kernel"], a["strides"], a["pads"], a["out_hw"], a["count_include_pad"]
        )
        if np.all(counts == counts.flat[0]):
            count = str(int(counts.flat[0]))
        else:
            ctype = "int16_t" if counts.max() < 2**15 else "int32_t"
            count = f"{em.array(ctype, f'{tag}_count', counts.ravel())}[oy * {ow} + ox]"
        em.need_common("common")
        t(f"const int32_t v = tm_round_div32(sum, {count}) + {int(a['zp'])};")
        t(f"{y_at} = (int8_t)(v < -128 ? -128 : (v > 127 ? 127 : v));")
    for _ in loops:
        t.end()
    restrict = "" if step.in_place else "restrict "
    comment = f"{tag}: {'in place, ' if step.in_place else ''}{'channel-last' if nhwc else 'NCHW'}"
    em.define(c_function(f"static void {tag}(const int8_t *{restrict}x, int8_t *{restrict}y)", t, comment))
    em.call(step.comment, f"{tag}({em.ptr(node.inputs[0])}, {em.ptr(node.output)});")


OPS.register("maxpool", MaxPool())
OPS.register("avgpool", AvgPool())
