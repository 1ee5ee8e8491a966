"""Nearest-neighbour resizing: ONNX Resize (mode nearest, any coordinate mode) and Upsample.

IR op ``resize``: index maps ``index_h`` / ``index_w`` (output row / column -> input row / column).
Quantized: an integer copy with the input's scale.
"""

from __future__ import annotations

import numpy as np

from ...errors import CompilationError
from ..c_emit import chw
from ..c_text import CText, c_function
from ..constant_folding import describe_node
from ..importer import text_attr
from ..numpy_kernels import as_nchw, restore_rank
from ..op import ONNX_OPS, OPS, Op
from ._shared import qnode


@ONNX_OPS.register("Resize")
def translate_resize(imp, node, a):
    mode = text_attr(a, "mode", "nearest")
    if mode != "nearest":
        raise CompilationError(
            f"{describe_node(node)}: Resize mode {mode!r} is not supported; only 'nearest'"
        )
    x_shape = imp.shape(node.input[0])
    rank = len(x_shape)
    if rank not in (3, 4):
        raise CompilationError(f"{describe_node(node)}: Resize supports 3-D and 4-D tensors, got {x_shape}")
    ins = list(node.input) + [""] * 4
    upsample = node.op_type == "Upsample"
    if upsample:
        scales = imp.const(ins[1], node, "scales") if ins[1] else np.array(a["scales"])
        sizes = None
    else:
        scales = imp.consts.get(imp.real(ins[2])) if ins[2] else None
        sizes = imp.consts.get(imp.real(ins[3])) if ins[3] else None
        if scales is not None and scales.size == 0:
            scales = None
    if sizes is not None and sizes.size:
        out = [int(s) for s in sizes]
        scales = np.array([o / i for o, i in zip(out, x_shape)], dtype=np.float64)
    elif scales is not None:
        scales = np.asarray(scales, dtype=np.float64)
        out = [int(np.floor(i * s)) for i, s in zip(x_shape, scales)]
    else:
        raise CompilationError(f"{describe_node(node)}: Resize needs constant scales or sizes")
    if len(out) != rank or out[0] != x_shape[0] or out[1] != x_shape[1] or min(out) < 1:
        raise CompilationError(
            f"{describe_node(node)}: Resize may only scale the spatial axes, got {x_shape} -> {out}"
        )
    ctm = "asymmetric" if upsample else text_attr(a, "coordinate_transformation_mode", "half_pixel")
    nm = "floor" if upsample else text_attr(a, "nearest_mode", "round_prefer_floor")
    maps = []
    for ax in range(2, 4):
        n_in = x_shape[ax] if ax < rank else 1
        n_out = out[ax] if ax < rank else 1
        s = scales[ax] if ax < rank else 1.0
        o = np.arange(n_out, dtype=np.float64)
        if ctm == "asymmetric":
            src = o / s
        elif ctm == "half_pixel":
            src = (o + 0.5) / s - 0.5
        elif ctm == "pytorch_half_pixel":
            src = (o + 0.5) / s - 0.5 if n_out > 1 else np.zeros_like(o)
        elif ctm == "align_corners":
            src = o * (n_in - 1) / max(n_out - 1, 1)
        else:
            raise CompilationError(
                f"{describe_node(node)}: coordinate_transformation_mode {ctm!r} is not supported"
            )
        if nm == "floor":
            idx = np.floor(src)
        elif nm == "ceil":
            idx = np.ceil(src)
        elif nm == "round_prefer_ceil":
            idx = np.floor(src + 0.5)
        else:  # round_prefer_floor
            idx = np.ceil(src - 0.5)
        maps.append([int(i) for i in np.clip(idx, 0, n_in - 1)])
    imp.add("resize", node, [node.input[0]], dict(index_h=maps[0], index_w=maps[1]))


ONNX_OPS.register("Upsample", translate_resize)


class Resize(Op):
    name = "resize"
    output_qparams = "input"
    layout = "follow"

    def run_float(self, node, xs):
        y = as_nchw(xs[0])[:, :, np.asarray(node.attrs["index_h"])][
            :, :, :, np.asarray(node.attrs["index_w"])
        ]
        return restore_rank(y, xs[0])

    def quantize(self, node, ins, out_q, bits, mode):
        return qnode(node, attrs=dict(node.attrs))

    def run_int(self, node, xs):
        return self.run_float(node, xs)

    def export_qdq(self, b, node, xs):
        x_rank = len(b.q.tensors[node.inputs[0]]["shape"])
        y = b.node("Gather", [xs[0], b.init("index_h", np.array(node.attrs["index_h"], np.int64))], axis=2)
        if x_rank == 4:
            y = b.node("Gather", [y, b.init("index_w", np.array(node.attrs["index_w"], np.int64))], axis=3)
        return y

    def layout_rule(self, em, node) -> str:
        return "follow" if em.int8 else "canonical"

    def emit_c(self, em, step):
        node, a, tag = step.node, step.node.attrs, step.tag
        c, ih, iw = chw(em.shape(node.inputs[0]))
        _, oh, ow = chw(em.shape(node.output))
        th = em.array("int16_t", f"{tag}_index_h", np.asarray(a["index_h"]))
        tw = em.array("int16_t", f"{tag}_index_w", np.asarray(a["index_w"]))
        x, y = em.ptr(node.inputs[0]), em.ptr(node.output)
        if em.layout(node.inputs[0]) == "nhwc":  # one run of c channels per output position
            fn = f"tm_{tag}"
            t = (
                CText()("int32_t oy, ox, ch;")
                .block(f"for (oy = 0; oy < {oh}; ++oy)")
                .block(f"for (ox = 0; ox < {ow}; ++ox)")
            )
            t(
                f"const int8_t *s = x + ({th}[oy] * {iw} + {tw}[ox]) * {c};",
                f"int8_t *d = y + (oy * {ow} + ox) * {c};",
            )
            t.block(f"for (ch = 0; ch < {c}; ++ch)")("d[ch] = s[ch];").end().end().end()
            em.define(c_function(f"static void {fn}(const int8_t *restrict x, int8_t *restrict y)", t))
            em.call(step.comment, f"{fn}({x}, {y});")
            return
        em.need(self, "resize")
        em.call(step.comment, f"tm_resize({x}, {y}, {c}, {ih}, {iw}, {oh}, {ow}, {th}, {tw});")


OPS.register("resize", Resize())
