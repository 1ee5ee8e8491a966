"""Convolutions: ONNX Conv and ConvTranspose (1-D and 2-D; grouped, depthwise, dilated, padded).

IR ops ``conv`` and ``conv_transpose``: attributes ``strides`` (2), ``pads`` (top, left, bottom,
right), ``dilations`` (2), ``group``, ``act``; ``conv_transpose`` also ``output_padding`` and
``out_hw``. Params ``w [Cout, Cin/g, kh, kw]`` (the compiler's layout for both) and ``b``.
Quantized: int8 weights per output channel, int32 bias, ``requant`` to the output's grid.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ...errors import CompilationError
from ..c_emit import act_bounds_f, chw
from ..c_text import CText, c_function, linear
from ..constant_folding import describe_node
from ..importer import attribute_error, hw2, spatial_pads, text_attr, window_output
from ..numpy_kernels import as_nchw, conv2d, conv_transpose2d, restore_rank
from ..op import ONNX_OPS, OPS, Op
from ..rounding import requant, saturate
from ._requant import Requant
from ._shared import clip_act, qdq_act, qdq_spatial, quantize_weighted, weighted_tables


def _conv_common(imp, node, a, w: np.ndarray):
    """Rank, kernel, strides, dilations, input size and group of a Conv / ConvTranspose, checked."""
    x_shape = imp.shape(node.input[0])
    rank = len(x_shape) - 2
    if rank not in (1, 2):
        raise CompilationError(
            f"{describe_node(node)}: only 1-D and 2-D convolutions are supported (input shape {x_shape})"
        )
    if w.ndim != rank + 2:
        raise attribute_error(
            node, "the weight of shape", list(w.shape), f"{rank + 2} dimensions for a {rank}-D input"
        )
    kernel = hw2(w.shape[2:], rank, node=node, key="the weight's kernel size")
    if "kernel_shape" in a and list(a["kernel_shape"]) != list(w.shape[2:]):
        raise attribute_error(
            node, "kernel_shape", list(a["kernel_shape"]), f"the weight's kernel size {list(w.shape[2:])}"
        )
    strides = hw2(a.get("strides"), rank, node=node, key="strides")
    dilations = hw2(a.get("dilations"), rank, node=node, key="dilations")
    in_hw = (x_shape[2], 1 if rank == 1 else x_shape[3])
    group = int(a.get("group", 1))
    cin = x_shape[1]
    if group < 1 or cin % group:
        raise attribute_error(node, "group", group, f"at least 1 and a divisor of the {cin} input channels")
    return rank, kernel, strides, dilations, in_hw, group


def _bias(imp, node, n: int) -> np.ndarray:
    if len(node.input) > 2 and node.input[2]:
        b = imp.const(node.input[2], node, "bias").astype(np.float32)
        if b.shape != (n,):
            raise attribute_error(
                node, "the bias of shape", list(b.shape), f"one value per output channel ({n})"
            )
        return b
    return np.zeros(n, dtype=np.float32)


@ONNX_OPS.register("Conv")
def translate_conv(imp, node, a):
    w = imp.const(node.input[1], node, "weight").astype(np.float32)
    rank, kernel, strides, dil, in_hw, group = _conv_common(imp, node, a, w)
    cin = imp.shape(node.input[0])[1]
    if w.shape[1] * group != cin or w.shape[0] % group:
        raise attribute_error(node, "the weight of shape", list(w.shape),
                              f"[out channels (a multiple of group {group}), {cin} input channels / group, kernel...]")  # fmt: skip
    pads = spatial_pads(a, rank, in_hw, kernel, strides, dil, node)
    window_output(node, in_hw, kernel, strides, dil, pads)
    attrs = dict(strides=strides, pads=pads, dilations=dil, group=group, act=None)
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
    rank, kernel, strides, dil, in_hw, group = _conv_common(imp, node, a, w)
    cin, cout_g = w.shape[:2]
    if cin != imp.shape(node.input[0])[1]:
        raise attribute_error(node, "the weight of shape", list(w.shape),
                              f"[{imp.shape(node.input[0])[1]} input channels, out channels / group, kernel...]")  # fmt: skip
    w = w.reshape((group, cin // group, cout_g) + kernel).transpose(0, 2, 1, 3, 4)
    w = w.reshape((group * cout_g, cin // group) + kernel)
    out_pad = hw2(a.get("output_padding"), rank, 0, node=node, key="output_padding")
    if "output_shape" in a or text_attr(a, "auto_pad", "NOTSET") != "NOTSET":
        raise CompilationError(
            f"{describe_node(node)}: ConvTranspose with output_shape or auto_pad is not supported; use pads"
        )
    pads = spatial_pads({"pads": a["pads"]} if "pads" in a else {}, rank, in_hw, kernel, strides, dil, node)
    if any(out_pad[i] >= max(strides[i], dil[i]) for i in range(2)):
        raise attribute_error(
            node, "output_padding", list(out_pad), "each smaller than its stride or dilation"
        )
    out_hw = tuple(
        (in_hw[i] - 1) * strides[i] - pads[i] - pads[i + 2] + (kernel[i] - 1) * dil[i] + 1 + out_pad[i]
        for i in range(2)
    )
    if min(out_hw) < 1:
        raise CompilationError(
            f"{describe_node(node)}: its pads {list(pads)} remove the whole output (size {list(out_hw)}); fix pads"
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

    def layout_rule(self, em, node) -> str:
        return "channel_last" if em.int8 and self._specialised(em, node) else "canonical"

    def _specialised(self, em, node) -> bool:
        """int8 conv with one weight per byte: the per-layer channel-last kernel."""
        return self.name == "conv" and not _packed(em, node)

    def fuse(self, em, node, consumer) -> bool:
        """A max pool right after an int8 conv, windows not overlapping: computed in the conv's loop."""
        if not (
            em.int8 and self._specialised(em, node) and consumer.op == "maxpool" and node.attrs["group"] == 1
        ):
            return False
        return all(k <= s for k, s in zip(consumer.attrs["kernel"], consumer.attrs["strides"]))

    def emit_c(self, em, step):
        if em.int8 and self._specialised(em, step.node):
            _emit_conv_int8(em, step)
            return
        node, a = step.node, step.node.attrs
        tag = step.tag
        cin, ih, iw = chw(em.shape(node.inputs[0]))
        cout, oh, ow = chw(em.shape(node.output))
        w = node.arrays["w"] if em.int8 else node.params["w"]
        _, cin_g, kh, kw = w.shape
        dims = [cin, ih, iw, cout, oh, ow, kh, kw, a["strides"][0], a["strides"][1], a["pads"][0], a["pads"][1],
                a["dilations"][0], a["dilations"][1], a["group"]]  # fmt: skip
        bits = int(a.get("weight_bits", 8)) if em.int8 else 32
        packed = _packed(em, node) and self.name == "conv"
        kind = "conv_packed" if packed else self.name
        if packed:
            em.need_common("packed")
        if kind != "conv_transpose":
            em.need_common("taps")
        em.need(self, kind)
        if em.int8:
            q = [a["in_zp"], a["out_zp"], a["act_min"], a["act_max"]] + ([bits] if packed else [])
            tables = weighted_tables(em, tag, node, cin_g * kh * kw, packed)
            fields = ", ".join(str(int(v)) for v in dims + q) + f", {tables}"
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


def _packed(em, node) -> bool:
    return em.int8 and em.pack_bits and int(node.attrs.get("weight_bits", 8)) < 8


def _emit_conv_int8(em, step) -> None:
    node, a = step.node, step.node.attrs
    tag = f"tm_{step.tag}"
    g = ConvGeometry.of(em, node)
    w = np.ascontiguousarray(node.arrays["w"].transpose(0, 2, 3, 1))  # [Cout][kh][kw][Cin/g]
    bias, bound = fold_zero_point(w, node.arrays["bias"], a["in_zp"], node.name)
    em.array("int8_t", f"{tag}_w", w)
    em.array("int32_t", f"{tag}_b", bias)
    rq = Requant(
        em, tag, node.arrays["mult"], node.arrays["shift"], bound, a["out_zp"], a["act_min"], a["act_max"]
    )
    pool = None
    if step.fused:
        p = step.fused[0].attrs
        pool = dict(
            kernel=tuple(p["kernel"]),
            strides=tuple(p["strides"]),
            pads=tuple(p["pads"]),
            out_hw=tuple(p["out_hw"]),
        )
        if g.oh == 1 and chw(em.shape(node.output))[1] > 1:  # the conv runs as one row: so does its pool
            pool = {k: (v[1], v[0]) if k != "pads" else (v[1], v[0], v[3], v[2]) for k, v in pool.items()}
    em.need_common("dsp")
    em.define(rq.function())
    em.define(conv_int8_c(tag, g, a["in_zp"], em.layout(step.output) == "nhwc", pool))
    em.call(step.comment, f"{tag}({em.ptr(node.inputs[0])}, {em.ptr(step.output)});")


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


# -- int8 C: one function per layer, specialised to its shapes ---------------------------------------
@dataclass(frozen=True)
class ConvGeometry:
    """A conv as its int8 kernel sees it: channel-last input, weights ``[Cout][kh][kw][Cin/g]``.

    A 1-D conv (W = 1) becomes a one-row conv along W (the same memory), so every conv pairs output
    positions along a row.
    """

    cin: int
    ih: int
    iw: int
    cout: int
    oh: int
    ow: int
    kh: int = 1
    kw: int = 1
    sh: int = 1
    sw: int = 1
    pt: int = 0
    pl: int = 0
    dh: int = 1
    dw: int = 1
    groups: int = 1

    @classmethod
    def of(cls, em, node) -> ConvGeometry:
        a = node.attrs
        cin, ih, iw = chw(em.shape(node.inputs[0]))
        cout, oh, ow = chw(em.shape(node.output))
        _, _, kh, kw = node.arrays["w"].shape
        return cls(cin, ih, iw, cout, oh, ow, kh, kw, a["strides"][0], a["strides"][1], a["pads"][0], a["pads"][1],
                   a["dilations"][0], a["dilations"][1], int(a["group"])).one_row()  # fmt: skip

    def one_row(self) -> ConvGeometry:
        """The same conv with H and W swapped when it is 1-D along H (nothing changes in memory)."""
        if not (self.iw == 1 and self.kw == 1 and self.ow == 1 and self.pl == 0 and self.ih > 1):
            return self
        return replace(self, ih=1, iw=self.ih, oh=1, ow=self.oh, kh=1, kw=self.kh, sh=1, sw=self.sh, pt=0,
                       pl=self.pt, dh=1, dw=self.dh)  # fmt: skip

    @property
    def k(self) -> int:
        """Weights per output channel."""
        return self.kh * self.kw * (self.cin // self.groups)

    def interior(self) -> tuple[int, int, int, int]:
        """``(oy0, oy1, ox0, ox1)``: the output positions whose taps all lie inside the input."""

        def span(n_in, n_out, k, s, p, d):
            lo = min(-(-p // s), n_out)
            last = n_in - 1 - (k - 1) * d + p
            hi = min(last // s + 1, n_out) if last >= 0 else 0
            return lo, max(lo, hi)

        return (*span(self.ih, self.oh, self.kh, self.sh, self.pt, self.dh),
                *span(self.iw, self.ow, self.kw, self.sw, self.pl, self.dw))  # fmt: skip

    def segments(self) -> list[tuple[int, int, int]]:
        """One position's patch as ``(input offset, weight offset, length)`` runs of contiguous values."""
        runs: list[list[int]] = []
        wo = 0
        step = self.kw * self.cin if self.dw == 1 else self.cin
        for ky in range(self.kh):
            for kx in range(1 if self.dw == 1 else self.kw):
                xo = (ky * self.dh * self.iw + kx * self.dw) * self.cin
                if runs and runs[-1][0] + runs[-1][2] == xo:
                    runs[-1][2] += step
                else:
                    runs.append([xo, wo, step])
                wo += step
        return [(r[0], r[1], r[2]) for r in runs]


def fold_zero_point(w: np.ndarray, bias: np.ndarray, in_zp: int, name: str) -> tuple[np.ndarray, np.ndarray]:
    """``bias - in_zp * sum(w)`` per output (the input zero point folded in) and each accumulator's bound."""
    w64 = w.reshape(w.shape[0], -1).astype(np.int64)
    folded = bias.astype(np.int64) - int(in_zp) * w64.sum(axis=1)
    bound = np.abs(folded) + 128 * np.abs(w64).sum(axis=1)
    if np.any(bound >= 2**31):
        raise CompilationError(
            f"layer {name!r} may overflow its int32 accumulator ({w64.shape[1]} products per output); "
            "split the layer or reduce its input size"
        )
    return folded.astype(np.int32), bound


UNROLL = 16  # runs of at most this many values are unrolled in the plain C path


def _ints(items) -> str:
    return "const int32_t " + ", ".join(items) + ";"


def _mac(t: CText, npos: int, nch: int, d: int, k_total: int, segs) -> None:
    """``s<p><c> += patch(a + p * d) . weights(w + c * K)`` over the runs of the patch.

    Plain C: the long loop innermost over contiguous values, in a part of a multiple of 16 (which
    compilers vectorize) and the rest; short runs unrolled; with the DSP extension, SMLAD on pairs
    of sign-extended bytes.
    """
    xoff = [f"{p * d} + " if p else "" for p in range(npos)]  # position p's patch: a + p * d
    woff = [f"{c * k_total} + " if c else "" for c in range(nch)]  # channel c's weights: w + c * K
    for xo, wo, length in segs:
        t.block()
        t(
            f"const int8_t *pa = a{f' + {xo}' if xo else ''};",
            f"const int8_t *pw = w{f' + {wo}' if wo else ''};",
        )

        def loop(start: int, end: int) -> None:
            if end > start:
                t.block(f"for (k = {start}; k < {end}; ++k)")
                t(
                    _ints(f"x{p} = pa[{xoff[p]}k]" for p in range(npos)),
                    _ints(f"v{c} = pw[{woff[c]}k]" for c in range(nch)),
                )
                t(" ".join(f"s{p}{c} += x{p} * v{c};" for p in range(npos) for c in range(nch))).end()

        dsp = length >= 4
        if dsp:
            t("#if TM_DSP", "int32_t k;").block(f"for (k = 0; k < {length & ~3}; k += 4)")
            t(_ints(f"x{p} = tm_read4(pa + {xoff[p]}k)" for p in range(npos)))
            t(_ints(f"v{c} = tm_read4(pw + {woff[c]}k)" for c in range(nch)))
            t(_ints(f"x{p}l = tm_sxtb16(x{p}), x{p}h = tm_sxtb16_ror8(x{p})" for p in range(npos)))
            t(_ints(f"v{c}l = tm_sxtb16(v{c}), v{c}h = tm_sxtb16_ror8(v{c})" for c in range(nch)))
            for p in range(npos):
                for c in range(nch):
                    t(f"s{p}{c} = tm_smlad(x{p}h, v{c}h, tm_smlad(x{p}l, v{c}l, s{p}{c}));")
            t.end()
            loop(length & ~3, length)
            t("#else")
        if length <= UNROLL:  # short runs (the first conv's few taps): straight-line code, no loop
            for k in range(length):
                t(
                    " ".join(
                        f"s{p}{c} += pa[{p * d + k}] * pw[{c * k_total + k}];"
                        for p in range(npos)
                        for c in range(nch)
                    )
                )
        else:
            t("int32_t k;")
            loop(0, length & ~15)
            loop(length & ~15, length)
        if dsp:
            t("#endif")
        t.end()


def _accumulate(t: CText, tag: str, g: ConvGeometry, npos: int, nch: int, d: int) -> None:
    """Declare ``s<p><c>`` (from the folded bias) and accumulate ``npos`` positions x ``nch`` channels."""
    for c in range(nch):
        oc = f"oc + {c}" if c else "oc"
        t("int32_t " + ", ".join(f"s{p}{c} = {tag}_b[{oc}]" for p in range(npos)) + ";")
    _mac(t, npos, nch, d, g.k, g.segments())


def _grid(
    t: CText, rows: int, cols: int, inner: tuple[int, int, int, int], step: int, edge: str, fast
) -> None:
    """Visit ``rows x cols`` outputs ``(r, q)``: ``edge`` (a call) outside ``inner`` = (r0, r1, q0, q1),
    ``fast(t, n)`` for ``n`` consecutive columns at a time inside (``step``, then what is left)."""
    r0, r1, q0, q1 = inner
    t.block(f"for (r = 0; r < {rows}; ++r)")
    if r1 <= r0 or q1 <= q0:  # no output reads only inside the input (a layer smaller than its kernel)
        t.block(f"for (q = 0; q < {cols}; ++q)")(edge).end()
        t.end()
        return
    edge_rows = ([f"r < {r0}"] if r0 > 0 else []) + ([f"r >= {r1}"] if r1 < rows else [])
    if edge_rows:
        t.block(f"if ({' || '.join(edge_rows)})").block(f"for (q = 0; q < {cols}; ++q)")(edge).end()
        t("continue;").end()
    if q0 > 0:
        t.block(f"for (q = 0; q < {q0}; ++q)")(edge).end()
    full = (q1 - q0) // step * step
    if full:
        t.block(f"for (q = {q0}; q < {q0 + full}; q += {step})")
        fast(t, step)
        t.end()
    if q1 - q0 - full:
        t.block()(f"q = {q0 + full};")
        fast(t, q1 - q0 - full)
        t.end()
    if q1 < cols:
        t.block(f"for (q = {q1}; q < {cols}; ++q)")(edge).end()
    t.end()


def conv_int8_c(tag: str, g: ConvGeometry, in_zp: int, out_nhwc: bool, pool: dict | None = None) -> str:
    """The C of a conv layer ``<tag>(x, y)``: channel-last ``x``, ``y`` channel-last or NCHW.

    Tables ``<tag>_w`` (weights ``[Cout][kh][kw][Cin/g]``), ``<tag>_b`` (bias with the input zero point
    folded in) and the requantization ``<tag>_out`` are emitted by the caller. Inside the input,
    2 positions x 2 output channels per step (four accumulators, each input and weight value read
    once per step); at the padded edges one position and channel at a time (padding reads as the
    zero point). ``pool`` (``kernel``, ``strides``, ``pads``, ``out_hw``, one-row order like ``g``):
    a max pool in the same loop; max commutes with the monotonic requantization, so each window
    takes the max of its accumulators and requantizes once.
    """
    cg, cout_g = g.cin // g.groups, g.cout // g.groups
    n_out = (pool["out_hw"][0] * pool["out_hw"][1]) if pool else g.oh * g.ow

    def y_at(pos: str, oc: str) -> str:
        if out_nhwc:
            return f"y[({pos}) * {g.cout} + {oc}]" if g.cout > 1 else f"y[{pos} + {oc}]"
        return f"y[({oc}) * {n_out} + {pos}]" if n_out > 1 else f"y[{oc} + {pos}]"

    at = CText()
    at(f"const int8_t *w = {tag}_w + oc * {g.k};")
    if g.groups > 1:
        at(f"const int8_t *xg = x + (oc / {cout_g}) * {cg};")
    at(f"int32_t acc = {tag}_b[oc];", "int32_t ky, kx, c;")
    at.block(f"for (ky = 0; ky < {g.kh}; ++ky)")(
        f"const int32_t iy = {linear((g.sh, 'oy'), (g.dh, 'ky'), const=-g.pt)};"
    )
    at.block(f"for (kx = 0; kx < {g.kw}; ++kx, w += {cg})")
    at(f"const int32_t ix = {linear((g.sw, 'ox'), (g.dw, 'kx'), const=-g.pl)};")
    at.block(f"if (iy >= 0 && iy < {g.ih} && ix >= 0 && ix < {g.iw})")
    at(f"const int8_t *xk = {'xg' if g.groups > 1 else 'x'} + {linear((g.iw * g.cin, 'iy'), (g.cin, 'ix'))};")
    at.block(f"for (c = 0; c < {cg}; ++c)")("acc += (int32_t)xk[c] * w[c];").end()
    at.otherwise().block(f"for (c = 0; c < {cg}; ++c)")(f"acc += {int(in_zp)} * (int32_t)w[c];").end().end()
    at.end().end()("return acc;")
    parts = [c_function(f"static int32_t {tag}_at(const int8_t *x, int32_t oy, int32_t ox, int32_t oc)", at,
                        f"{tag}: the accumulator of channel oc at (oy, ox); taps outside the input read as the zero point")]  # fmt: skip
    body = CText()
    blocked = g.groups == 1
    if pool is None:
        edge = CText()("int32_t oc;").block(f"for (oc = 0; oc < {g.cout}; ++oc)")
        edge(f"{y_at(linear((g.ow, 'oy'), (1, 'ox')), 'oc')} = {tag}_out({tag}_at(x, oy, ox, oc), oc);").end()
        parts.append(
            c_function(f"static void {tag}_edge(const int8_t *x, int8_t *y, int32_t oy, int32_t ox)", edge)
        )
        inner = g.interior() if blocked else (0, 0, 0, 0)
        body("int32_t r, q;" + (" int32_t oc;" if inner[3] > inner[2] else ""))  # oc: the inside loops only

        def fast(t: CText, npos: int) -> None:
            base = linear(
                (g.sh * g.iw * g.cin, "r"), (g.sw * g.cin, "q"), const=-(g.pt * g.iw + g.pl) * g.cin
            )
            t(f"const int8_t *a = x + {base};")
            for nch, lo, hi in ((2, 0, g.cout & ~1), (1, g.cout & ~1, g.cout)):
                if hi <= lo:
                    continue
                t.block(f"for (oc = {lo}; oc < {hi}; oc += {nch})")(
                    f"const int8_t *w = {tag}_w + oc * {g.k};"
                )
                _accumulate(t, tag, g, npos, nch, g.sw * g.cin)
                for p in range(npos):
                    for c in range(nch):
                        oc = f"oc + {c}" if c else "oc"
                        t(f"{y_at(linear((g.ow, 'r'), (1, 'q'), const=p), oc)} = {tag}_out(s{p}{c}, {oc});")
                t.end()

        _grid(body, g.oh, g.ow, inner, 2, f"{tag}_edge(x, y, r, q);", fast)
    else:
        (pkh, pkw), (psh, psw), pp, (poh, pow_) = (
            pool["kernel"],
            pool["strides"],
            pool["pads"],
            pool["out_hw"],
        )
        win = CText()("int32_t oc, i, j;").block(f"for (oc = 0; oc < {g.cout}; ++oc)")(
            "int32_t best = -2147483647 - 1;"
        )
        win.block(f"for (i = 0; i < {pkh}; ++i)")(
            f"const int32_t oy = {linear((psh, 'qy'), (1, 'i'), const=-pp[0])};"
        )
        win.block(f"for (j = 0; j < {pkw}; ++j)")(
            f"const int32_t ox = {linear((psw, 'qx'), (1, 'j'), const=-pp[1])};"
        )
        win.block(f"if (oy >= 0 && oy < {g.oh} && ox >= 0 && ox < {g.ow})")
        win(
            f"const int32_t acc = {tag}_at(x, oy, ox, oc);", "best = acc > best ? acc : best;"
        ).end().end().end()
        win(f"{y_at(linear((pow_, 'qy'), (1, 'qx')), 'oc')} = {tag}_out(best, oc);").end()
        parts.append(
            c_function(f"static void {tag}_window(const int8_t *x, int8_t *y, int32_t qy, int32_t qx)", win)
        )
        oy0, oy1, ox0, ox1 = g.interior()

        def span(lo, hi, k, s, p, n):  # windows whose positions are all interior
            first = min(-(-(lo + p) // s), n)
            last = hi - k + p
            return first, max(first, min(last // s + 1, n) if last >= 0 else 0)

        inner = (*span(oy0, oy1, pkh, psh, pp[0], poh), *span(ox0, ox1, pkw, psw, pp[1], pow_))
        positions = [(i, j) for i in range(pkh) for j in range(pkw)]
        body("int32_t r, q" + (", oc;" if inner[3] > inner[2] else ";"))  # oc: the inside loops only

        def fast(t: CText, _n: int) -> None:
            row, col = (
                g.iw * g.cin,
                g.cin,
            )  # the window's first position: row r * psh - pp[0], column q * psw - pp[1]
            const = -(pp[0] * g.sh + g.pt) * row - (pp[1] * g.sw + g.pl) * col
            t(
                f"const int8_t *a0 = x + {linear((psh * g.sh * row, 'r'), (psw * g.sw * col, 'q'), const=const)};"
            )
            for nch, lo, hi in ((2, 0, g.cout & ~1), (1, g.cout & ~1, g.cout)):
                if hi <= lo:
                    continue
                t.block(f"for (oc = {lo}; oc < {hi}; oc += {nch})")(
                    f"const int8_t *w = {tag}_w + oc * {g.k};"
                )
                t("int32_t " + ", ".join(f"m{c}" for c in range(nch)) + ";")
                for n, first in enumerate(range(0, len(positions), 2)):
                    pair = positions[first : first + 2]
                    offs = [(i * g.sh * g.iw + j * g.sw) * g.cin for i, j in pair]
                    t.block()(f"const int8_t *a = a0{f' + {offs[0]}' if offs[0] else ''};")
                    _accumulate(t, tag, g, len(pair), nch, offs[-1] - offs[0])
                    for c in range(nch):
                        vals = [f"s{p}{c}" for p in range(len(pair))]
                        if not n:
                            t(f"m{c} = {vals.pop(0)};")
                        for v in vals:
                            t(f"m{c} = {v} > m{c} ? {v} : m{c};")
                    t.end()
                for c in range(nch):
                    oc = f"oc + {c}" if c else "oc"
                    t(f"{y_at(linear((pow_, 'r'), (1, 'q')), oc)} = {tag}_out(m{c}, {oc});")
                t.end()

        _grid(body, poh, pow_, inner, 1, f"{tag}_window(x, y, r, q);", fast)
    main = c_function(f"static void {tag}(const int8_t *restrict x, int8_t *restrict y)", body)
    used = [
        f for f in parts[1:] if f.split("(")[0].split()[-1] + "(" in main
    ]  # the edge paths this layer has
    return "\n".join(([parts[0]] if used else []) + used + [main])
