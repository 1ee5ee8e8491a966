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
from ..constant_folding import describe_node, int_list
from ..importer import hw2, spatial_pads
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
        kernel = hw2(a["kernel_shape"], rank)
        strides = hw2(a.get("strides"), rank)
        if any(d != 1 for d in a.get("dilations", [1])):
            raise CompilationError(f"{describe_node(node)}: pooling with dilation is not supported")
        pads = spatial_pads(a, rank, in_hw, kernel, strides, (1, 1))
        ceil = int(a.get("ceil_mode", 0))
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

    def emit_c(self, em, step):
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


OPS.register("maxpool", MaxPool())
OPS.register("avgpool", AvgPool())
