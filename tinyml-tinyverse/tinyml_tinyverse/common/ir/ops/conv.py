"""Convolutions: ONNX Conv and ConvTranspose (1-D and 2-D; grouped, depthwise, dilated, padded).

IR ops ``conv`` and ``conv_transpose``: attributes ``strides`` (2), ``pads`` (top, left, bottom,
right), ``dilations`` (2), ``group``, ``act``; ``conv_transpose`` also ``output_padding`` and
``out_hw``. Params ``w [Cout, Cin/g, kh, kw]`` (the compiler's layout for both) and ``b``.
Quantized: int8 weights per output channel, int32 bias, ``requant`` to the output's grid.
"""

from __future__ import annotations

import numpy as np

from ...errors import CompilationError
from ..c_emit import act_bounds_f, chw, pack_weights
from ..constant_folding import describe_node
from ..importer import hw2, spatial_pads, text_attr
from ..numpy_kernels import as_nchw, conv2d, conv_transpose2d, restore_rank
from ..op import ONNX_OPS, OPS, Op
from ..rounding import requant, saturate
from ._shared import check_acc_range, clip_act, qdq_act, qdq_spatial, quantize_weighted


def _conv_common(imp, node, a, kernel_shape):
    x_shape = imp.shape(node.input[0])
    rank = len(x_shape) - 2
    if rank not in (1, 2):
        raise CompilationError(
            f"{describe_node(node)}: only 1-D and 2-D convolutions are supported (input shape {x_shape})"
        )
    kernel = hw2(kernel_shape, rank)
    in_hw = (x_shape[2], 1 if rank == 1 else x_shape[3])
    return rank, kernel, hw2(a.get("strides"), rank), hw2(a.get("dilations"), rank), in_hw


def _bias(imp, node, n: int) -> np.ndarray:
    if len(node.input) > 2 and node.input[2]:
        return imp.const(node.input[2], node, "bias").astype(np.float32)
    return np.zeros(n, dtype=np.float32)


@ONNX_OPS.register("Conv")
def translate_conv(imp, node, a):
    w = imp.const(node.input[1], node, "weight").astype(np.float32)
    rank, kernel, strides, dil, in_hw = _conv_common(imp, node, a, w.shape[2:])
    pads = spatial_pads(a, rank, in_hw, kernel, strides, dil)
    attrs = dict(strides=strides, pads=pads, dilations=dil, group=int(a.get("group", 1)), act=None)
    imp.add(
        "conv",
        node,
        [node.input[0]],
        attrs,
        dict(w=w.reshape(w.shape[:2] + kernel), b=_bias(imp, node, w.shape[0])),
    )


@ONNX_OPS.register("ConvTranspose")
def translate_conv_transpose(imp, node, a):
    w = imp.const(node.input[1], node, "weight").astype(np.float32)  # [Cin, Cout/g, k...]
    rank, kernel, strides, dil, in_hw = _conv_common(imp, node, a, w.shape[2:])
    group = int(a.get("group", 1))
    cin, cout_g = w.shape[:2]
    w = w.reshape((group, cin // group, cout_g) + kernel).transpose(0, 2, 1, 3, 4)
    w = w.reshape((group * cout_g, cin // group) + kernel)
    out_pad = hw2(a.get("output_padding"), rank, 0)
    if "output_shape" in a or text_attr(a, "auto_pad", "NOTSET") != "NOTSET":
        raise CompilationError(
            f"{describe_node(node)}: ConvTranspose with output_shape or auto_pad is not supported; use pads"
        )
    p = list(a.get("pads", [0] * (2 * rank)))
    pads = (p[0], 0, p[1], 0) if rank == 1 else tuple(p)
    out_hw = tuple(
        (in_hw[i] - 1) * strides[i] - pads[i] - pads[i + 2] + (kernel[i] - 1) * dil[i] + 1 + out_pad[i]
        for i in range(2)
    )
    attrs = dict(
        strides=strides,
        pads=pads,
        dilations=dil,
        group=group,
        output_padding=out_pad,
        act=None,
        out_hw=out_hw,
    )
    imp.add("conv_transpose", node, [node.input[0]], attrs, dict(w=w, b=_bias(imp, node, group * cout_g)))


class _ConvBase(Op):
    def run_float(self, node, xs):
        x = xs[0]
        y = self._accumulate(as_nchw(x), node.params["w"], node.attrs) + node.params["b"].reshape(1, -1, 1, 1)
        return restore_rank(clip_act(y, node.attrs.get("act")), x).astype(np.float32)

    def quantize(self, node, ins, out_q, bits, mode):
        return quantize_weighted(node, ins, out_q, bits, mode)

    def run_int(self, node, xs):
        a, p = node.attrs, node.arrays
        x = xs[0]
        acc = self._accumulate(as_nchw(x).astype(np.int64) - a["in_zp"], p["w"].astype(np.int64), a)
        acc = acc + p["bias"].astype(np.int64).reshape(1, -1, 1, 1)
        y = requant(acc, p["mult"].reshape(1, -1, 1, 1), p["shift"].reshape(1, -1, 1, 1)) + a["out_zp"]
        return restore_rank(saturate(y, a["act_min"], a["act_max"]), x)

    def macs(self, em, node):
        cin, ih, iw = chw(em.shape(node.inputs[0]))
        cout, oh, ow = chw(em.shape(node.output))
        _, cin_g, kh, kw = (node.arrays if em.int8 else node.params)["w"].shape
        if self.name == "conv":
            return cout * oh * ow * cin_g * kh * kw
        return cin * ih * iw * (cout // node.attrs["group"]) * kh * kw

    def emit_c(self, em, step):
        node, a = step.node, step.node.attrs
        tag = step.tag
        cin, ih, iw = chw(em.shape(node.inputs[0]))
        cout, oh, ow = chw(em.shape(node.output))
        w = node.arrays["w"] if em.int8 else node.params["w"]
        _, cin_g, kh, kw = w.shape
        dims = [cin, ih, iw, cout, oh, ow, kh, kw, a["strides"][0], a["strides"][1], a["pads"][0], a["pads"][1],
                a["dilations"][0], a["dilations"][1], a["group"]]  # fmt: skip
        bits = int(a.get("weight_bits", 8)) if em.int8 else 32
        packed = em.int8 and em.pack_bits and bits < 8 and self.name == "conv"
        kind = "conv_packed" if packed else self.name
        if packed:
            em.need_common("packed")
        em.need(self, kind)
        if em.int8:
            check_acc_range(node, w, node.arrays["bias"], cin_g * kh * kw)
            wname = (
                em.array("uint8_t", f"{tag}_w", pack_weights(w, bits))
                if packed
                else em.array("int8_t", f"{tag}_w", w)
            )
            bname = em.array("int32_t", f"{tag}_bias", node.arrays["bias"])
            mname = em.array("int32_t", f"{tag}_mult", node.arrays["mult"])
            sname = em.array("int32_t", f"{tag}_shift", node.arrays["shift"])
            q = [a["in_zp"], a["out_zp"], a["act_min"], a["act_max"]] + ([bits] if packed else [])
            fields = ", ".join(str(int(v)) for v in dims + q) + f", {wname}, {bname}, {mname}, {sname}"
        else:
            wname = em.array("float", f"{tag}_w", w)
            bname = em.array("float", f"{tag}_b", node.params["b"])
            lo, hi = act_bounds_f(a.get("act"))
            fields = ", ".join(str(int(v)) for v in dims) + f", {lo}, {hi}, {wname}, {bname}"
        em.define(f"static const tm_{kind}_t {tag} = {{{fields}}};")
        em.call(step.comment, f"tm_{kind}(&{tag}, {em.ptr(node.inputs[0])}, {em.ptr(node.output)});")


class Conv(_ConvBase):
    name = "conv"

    def _accumulate(self, x, w, a):
        return conv2d(x, w, a["strides"], a["pads"], a["dilations"], a["group"])

    def export_qdq(self, b, node, xs):
        return _export_conv(b, node, xs)


class ConvTranspose(_ConvBase):
    name = "conv_transpose"

    def _accumulate(self, x, w, a):
        return conv_transpose2d(
            x, w, a["strides"], a["pads"], a["dilations"], a["group"], a["output_padding"], a["out_hw"]
        )

    def export_qdq(self, b, node, xs):
        return _export_conv(b, node, xs)


def _export_conv(b, node, xs):
    a = node.attrs
    in_t, out_t = b.q.tensors[node.inputs[0]], b.q.tensors[node.output]
    x_rank = len(in_t["shape"])
    w, ws = node.arrays["w"], node.arrays["w_scale"]
    kernel = w.shape[2:] if x_rank == 4 else w.shape[2:3]
    attrs = dict(
        strides=[int(s) for s in a["strides"]][: len(kernel)],
        dilations=[int(d) for d in a["dilations"]][: len(kernel)],
        pads=qdq_spatial(x_rank, a["pads"], pairs=True),
        group=int(a["group"]),
    )
    wk = w.reshape(w.shape[:2] + tuple(kernel))
    bias = b.dq_const(f"{node.name}_bias", node.arrays["bias"].astype(np.int32), in_t["scale"] * ws, axis=0)
    if node.op == "conv":
        y = b.node(
            "Conv", [xs[0], b.dq_const(f"{node.name}_w", wk.astype(np.int8), ws, axis=0), bias], **attrs
        )
    else:
        g = int(a["group"])
        cout, cin_g = wk.shape[:2]
        wf = (wk.astype(np.float64) * ws.reshape((-1,) + (1,) * (wk.ndim - 1))).astype(np.float32)
        wf = wf.reshape((g, cout // g, cin_g) + tuple(kernel)).transpose(0, 2, 1, *range(3, 3 + len(kernel)))
        wf = wf.reshape((g * cin_g, cout // g) + tuple(kernel))
        attrs["output_padding"] = [int(p) for p in a["output_padding"]][: len(kernel)]
        y = b.node("ConvTranspose", [xs[0], b.init(f"{node.name}_w", wf), bias], **attrs)
    return qdq_act(b, y, node, out_t)


OPS.register("conv", Conv())
OPS.register("conv_transpose", ConvTranspose())
