"""Fixed-point (Q15) feature extraction, integer-exact: what runs on a chip without an FPU.

Every step works on integer values (``int64`` arrays, or ``complex128`` spectra with integer parts)
and rounds exactly as the generated C does, so C and Python agree bit for bit. A Q15 step that
gets float samples takes them as int16 counts (ADC codes): ``sat16(round_half_even(x))``, which is
also what ``tinyml_pipeline_push`` does with the float rows it gets.

- ``TO_Q15``: ``sat16(round(x * (32768 / q15_full_scale)))`` (product in float32).
- ``FFT_Q15``: the fixed-point real FFT of :mod:`.fft` (``FFT / N``), all ``N`` bins (the upper
  half mirrored, as FFT_FE gives them); the C computes only the bins later steps use.
- ``Q15_SCALE``: shift left by ``q15_scale_factor`` bits (right when negative), saturated to int16
  (what ``arm_shift_q15`` does), real and imaginary parts alike.
- ``Q15_MAG``: ``floor(sqrt(re^2 + im^2)) >> 1``: the magnitude in 2.14 format, as
  ``arm_cmplx_mag_q15`` documents its output.
- ``BIN_Q15``: integer mean (truncated) of ``bin_size`` adjacent values per bin (the BINNING
  layout), saturated to int16.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..errors import ConfigError
from ._base import FEATURE_REGISTRY, ElementwiseTransform, FeatureTransform, is_integer
from .c_code import (
    Q15_ROUND_DECL,
    CContext,
    CSignal,
    CStep,
    NoCImplementation,
    block_loops,
    c_float,
    read_float,
)
from .fft import Q15_ONE, is_power_of_two, rfft_c, rfft_c_name, rfft_q15, sat16
from .spectral import bin_layout, c_mirror, mirror_spectrum


def _rint_sat16(x: np.ndarray) -> np.ndarray:
    return sat16(np.rint(x)).astype(np.int64)


def as_q15(x: np.ndarray, name: str) -> np.ndarray:
    """Fixed-point values of a frame batch; float samples are taken as int16 counts."""
    if is_integer(x):
        return x
    if np.iscomplexobj(x):
        return _rint_sat16(x.real.astype(np.float32)) + 1j * _rint_sat16(x.imag.astype(np.float32))
    x = np.asarray(x, np.float32)
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if 0.0 < peak < 0.5:
        warnings.warn(
            f"{name} takes float samples as int16 counts, but every value of these frames is below 0.5 "
            "in magnitude, so all round to 0; put TO_Q15 (with q15_full_scale) before it for data in "
            "[-1, 1]",
            stacklevel=3,
        )
    return _rint_sat16(x)


def isqrt(v: np.ndarray) -> np.ndarray:
    """Exact ``floor(sqrt(v))`` of non-negative int64 values."""
    v = v.astype(np.int64)
    s = np.floor(np.sqrt(v.astype(np.float64))).astype(np.int64)
    s = np.where(s * s > v, s - 1, s)
    return np.where((s + 1) * (s + 1) <= v, s + 1, s)


SAT16_DECL = """static int32_t fe_sat16(int32_t v)
{
    return v > 32767 ? 32767 : (v < -32768 ? -32768 : v);
}
"""

ISQRT_DECL = """static int32_t fe_isqrt(uint32_t v)
{
    /* exact floor(sqrt(v)) */
#if defined(__ARM_ARCH) && !defined(__ARM_FP)
    uint32_t r = 0, bit = 1u << 30; /* no FPU: digit by digit */
    while (bit > v) {
        bit >>= 2;
    }
    while (bit != 0) {
        if (v >= r + bit) {
            v -= r + bit;
            r = (r >> 1) + bit;
        } else {
            r >>= 1;
        }
        bit >>= 2;
    }
    return (int32_t)r;
#else
    /* sqrtf of the float nearest v is within 0.01 of the root (v < 2^32): one step each way */
    uint32_t r = (uint32_t)sqrtf((float)v);
    r = r > 65535u ? 65535u : r;
    r -= (uint32_t)(r * r > v);
    r += (uint32_t)(r < 65535u && (r + 1u) * (r + 1u) <= v);
    return (int32_t)r;
#endif
}
"""


def c_to_q15(sig: CSignal, count: int) -> tuple[str, CSignal, tuple[str, ...]]:
    """C converting float entries in place to int16 counts (nothing for integer signals)."""
    if sig.integer:
        return "", sig, ()
    code = block_loops(sig, count, "buf[o + n].i = fe_q15_round(buf[o + n].f);")
    return code, CSignal(sig.length, sig.complex, True, sig.avail, sig.stride), (Q15_ROUND_DECL,)


@FEATURE_REGISTRY.register("TO_Q15")
class ToQ15(ElementwiseTransform):
    """Float -> Q15 integers: ``sat16(round(x * (32768 / q15_full_scale)))``."""

    def scale(self) -> np.float32:
        return np.float32(Q15_ONE / float(self.cfg["q15_full_scale"]))

    def __call__(self, x, ctx):
        if np.iscomplexobj(x):
            raise ConfigError("TO_Q15 works on real samples; put it before FFT_FE / FFT_Q15")
        if is_integer(x):
            x = x.astype(np.float32)
        return _rint_sat16(np.asarray(x, np.float32) * self.scale())

    def c_config(self):
        return {"FE_Q15_FULL_SCALE": float(self.cfg["q15_full_scale"])}

    def c_step(self, ctx: CContext) -> CStep:
        sig = ctx.signal
        line = f"buf[n].i = fe_q15_round({read_float(sig, 'buf[n]')} * {c_float(self.scale())});"
        body = f"for (n = 0; n < {ctx.demand}; ++n) {{\n    {line}\n}}"
        return CStep(
            CSignal(sig.length, integer=True, avail=ctx.demand), body, decls=(Q15_ROUND_DECL,), math=True
        )


@FEATURE_REGISTRY.register("FFT_Q15")
class FftQ15(FeatureTransform):
    """Fixed-point real FFT (``FFT / N``): all ``N`` bins as complex values with integer parts."""

    takes_counts = True  # float samples are int16 counts (the pipeline stores them as int16)

    def __call__(self, x, ctx):
        if np.iscomplexobj(x):
            raise ConfigError("FFT_Q15 works on real samples, but gets a complex spectrum")
        n = x.shape[-1]
        if not is_power_of_two(n):
            raise ConfigError(f"FFT_Q15 needs a power-of-two frame length, got {n}; change frame_size")
        re, im = rfft_q15(as_q15(x, "FFT_Q15"))
        return mirror_spectrum(re.astype(np.float64), im.astype(np.float64), n, np.complex128)

    def c_step(self, ctx: CContext) -> CStep:
        sig = ctx.signal
        if sig.complex or not is_power_of_two(sig.length):
            raise NoCImplementation("FFT_Q15 needs real samples and a power-of-two frame_size")
        pre, sig, decls = c_to_q15(sig, sig.length)
        avail = max(ctx.demand, sig.length // 2 + 1)
        out = CSignal(sig.length, complex=True, integer=True, avail=ctx.demand, stride=avail)
        lines = [pre.replace("buf[", "src[")] if pre else []
        lines.append(f"for (n = 0; n < {sig.length}; ++n) {{\n    src[n].i = fe_sat16(src[n].i);\n}}")
        lines.append(f"{rfft_c_name(sig.length, True)}(src, dst, dst + {avail});")
        lines.append(c_mirror(out, sig.length, ctx.demand))
        code = "\n".join(ln for ln in lines if ln)
        decls = (*decls, SAT16_DECL, rfft_c(sig.length, True))
        return CStep(out, code, in_place=False, decls=decls, entries=avail + sig.length // 2 + 1)


@FEATURE_REGISTRY.register("Q15_SCALE")
class Q15Scale(ElementwiseTransform):
    """Shift left by ``q15_scale_factor`` bits (right when negative), saturated to int16."""

    takes_counts = True  # float samples are int16 counts (the pipeline stores them as int16)

    def shift(self) -> int:
        return int(self.cfg["q15_scale_factor"])

    def _apply(self, v: np.ndarray) -> np.ndarray:
        s = self.shift()
        return sat16(v << s if s >= 0 else v >> -s)

    def __call__(self, x, ctx):
        x = as_q15(x, "Q15_SCALE")
        if np.iscomplexobj(x):
            return self._apply(x.real.astype(np.int64)) + 1j * self._apply(x.imag.astype(np.int64))
        return self._apply(x.astype(np.int64))

    def c_config(self):
        return {"FE_COMPLEX_MAG_SCALE_FACTOR": self.shift()}

    def c_step(self, ctx: CContext) -> CStep:
        pre, sig, decls = c_to_q15(ctx.signal, ctx.demand)
        s = self.shift()
        op = f"buf[o + n].i * {1 << s}" if s >= 0 else f"buf[o + n].i >> {-s}"
        code = "\n".join(
            c for c in (pre, block_loops(sig, ctx.demand, f"buf[o + n].i = fe_sat16({op});")) if c
        )
        out = CSignal(sig.length, sig.complex, True, ctx.demand, sig.stride)
        return CStep(out, code, decls=(*decls, SAT16_DECL))


@FEATURE_REGISTRY.register("Q15_MAG")
class Q15Magnitude(ElementwiseTransform):
    """Integer magnitude in 2.14 format: ``floor(sqrt(re^2 + im^2)) >> 1``."""

    takes_counts = True  # float samples are int16 counts (the pipeline stores them as int16)

    def __call__(self, x, ctx):
        x = as_q15(x, "Q15_MAG")
        re = np.real(x).astype(np.int64)
        im = np.imag(x).astype(np.int64) if np.iscomplexobj(x) else np.zeros_like(re)
        return isqrt(re * re + im * im) >> 1

    def c_step(self, ctx: CContext) -> CStep:
        pre, sig, decls = c_to_q15(ctx.signal, ctx.demand)
        if sig.complex:
            line = (
                f"const uint32_t re = (uint32_t)(buf[n].i < 0 ? -buf[n].i : buf[n].i), "
                f"im = (uint32_t)(buf[{sig.stride} + n].i < 0 ? -buf[{sig.stride} + n].i : buf[{sig.stride} + n].i);\n"
                "    buf[n].i = fe_isqrt(re * re + im * im) >> 1;"
            )
        else:
            line = "buf[n].i = (buf[n].i < 0 ? -buf[n].i : buf[n].i) >> 1;"
        loop = f"for (n = 0; n < {ctx.demand}; ++n) {{\n    {line}\n}}"
        code = "\n".join(c for c in (pre, loop) if c)
        return CStep(
            CSignal(sig.length, integer=True, avail=ctx.demand), code, decls=(*decls, ISQRT_DECL), math=True
        )


@FEATURE_REGISTRY.register("BIN_Q15")
class BinQ15(FeatureTransform):
    """Integer binning: the truncated mean of ``bin_size`` adjacent values per bin (the BINNING
    layout: ``frame_size // 2 // feature_size_per_frame // analysis_bandwidth`` values from
    ``min_bin``), saturated to int16."""

    takes_counts = True

    def __call__(self, x, ctx):
        if np.iscomplexobj(x):
            raise ConfigError(
                "BIN_Q15 works on real values but gets a complex spectrum; put Q15_MAG before it"
            )
        x = as_q15(x, "BIN_Q15")
        f, size, off = bin_layout(self.cfg, x.shape[-1], "BIN_Q15")
        sums = x[..., off : off + f * size].astype(np.int64).reshape(*x.shape[:-1], f, size).sum(axis=-1)
        return sat16(np.sign(sums) * (np.abs(sums) // size))  # C division truncates toward zero

    def c_input_demand(self, signal: CSignal, demand: int) -> int:
        f, size, off = bin_layout(self.cfg, signal.length, "BIN_Q15")
        return off + f * size

    def c_config(self):
        return {"FE_FEATURE_SIZE_PER_FRAME": self.cfg["feature_size_per_frame"]}

    def c_step(self, ctx: CContext) -> CStep:
        sig = ctx.signal
        if sig.complex:
            raise NoCImplementation("BIN_Q15 needs real values; put Q15_MAG before it")
        f, size, off = bin_layout(self.cfg, sig.length, "BIN_Q15")
        pre, sig, decls = c_to_q15(sig, off + f * size)
        body = (
            f"for (n = 0; n < {f}; ++n) {{\n"
            "    int32_t acc = 0;\n"
            f"    for (k = 0; k < {size}; ++k) {{\n"
            f"        acc += src[{off} + n * {size} + k].i;\n"
            "    }\n"
            f"    dst[n].i = fe_sat16(acc / {size});\n}}"
        )
        code = "\n".join(c for c in (pre.replace("buf[", "src["), body) if c)
        return CStep(CSignal(f, integer=True), code, in_place=False, decls=(*decls, SAT16_DECL))
