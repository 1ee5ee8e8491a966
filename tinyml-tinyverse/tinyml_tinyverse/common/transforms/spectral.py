"""Spectral feature extraction transforms (floating point): WINDOWING, FFT_FE, NORMALIZE,
FFT_POS_HALF, ABS, DC_REMOVE, BINNING, LOG_DB. All act on the last axis of a batch of frames.

The names and meanings follow Tiny ML Tensorlab (``DC_REMOVE`` drops the first value, the DC bin;
``NORMALIZE`` divides by the frame size; ``BINNING`` sums bins unless ``normalize_bin``; ``LOG_DB``
is ``log_mul * log_base(x + log_threshold)``), so a preset or YAML written for it means the same
here. The float arithmetic is the one the generated C runs (float32, one rounding per operation).
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import ConfigError
from ..utils.signal_windows import periodic_hann
from ._base import (
    FEATURE_REGISTRY,
    ElementwiseTransform,
    FeatureTransform,
    as_float,
    sequential_sum,
)
from .c_code import (
    CContext,
    CSignal,
    CStep,
    NoCImplementation,
    block_loops,
    c_float,
    c_table,
    read_float,
    require_real,
)
from .data_processing import frame_length
from .fft import fft_plan, is_power_of_two, rfft_c, rfft_c_name, rfft_float


def hann_window(length: int) -> np.ndarray:
    """Periodic Hann window as float32 (``scipy.signal.get_window('hann', L)``, bit for bit)."""
    return periodic_hann(length).astype(np.float32)


def _complex(re: np.ndarray, im: np.ndarray, dtype=np.complex64) -> np.ndarray:
    out = np.empty(re.shape, dtype)
    out.real, out.imag = re, im
    return out


@FEATURE_REGISTRY.register("WINDOWING")
class Windowing(ElementwiseTransform):
    """Multiply each frame by a periodic Hann window of its length."""

    def __call__(self, x, ctx):
        return as_float(x) * hann_window(x.shape[-1])

    def c_step(self, ctx: CContext) -> CStep:
        sig = ctx.signal
        require_real(sig, "WINDOWING")
        table = f"{ctx.prefix}_hann"
        body = f"for (n = 0; n < {ctx.demand}; ++n) {{\n    buf[n].f = {read_float(sig, 'buf[n]')} * {table}[n];\n}}"
        decl = c_table("float", table, hann_window(sig.length)[: ctx.demand])
        return CStep(CSignal(sig.length, avail=ctx.demand), body, decls=(decl,))


def mirror_spectrum(re: np.ndarray, im: np.ndarray, n: int, dtype) -> np.ndarray:
    """Bins ``0 .. n/2`` of a real signal's FFT -> all ``n`` bins (``X[n-k] = conj X[k]``)."""
    k = np.arange(n // 2 + 1, n)
    full_re = np.concatenate([re, re[..., n - k]], axis=-1)
    full_im = np.concatenate([im, -im[..., n - k]], axis=-1)
    return _complex(full_re, full_im, dtype)


def c_mirror(sig_out: CSignal, n: int, avail: int) -> str:
    """C filling bins ``n/2 + 1 .. avail - 1`` of a real FFT from their mirror images."""
    if avail <= n // 2 + 1:
        return ""
    s = sig_out.stride
    return (
        f"for (n = {n // 2 + 1}; n < {avail}; ++n) {{ /* X[N - k] = conj X[k] */\n"
        f"    dst[n] = dst[{n} - n];\n"
        f"    dst[{s} + n].{sig_out.member} = -dst[{s} + {n} - n].{sig_out.member};\n}}"
    )


@FEATURE_REGISTRY.register("FFT_FE")
class Fft(FeatureTransform):
    """Complex FFT of each frame (all ``L`` bins, complex64); follow with FFT_POS_HALF and ABS.

    A power-of-two length runs the float32 real FFT of :mod:`.fft` (the one the C runs); other
    lengths use ``scipy.fft`` and have no C.
    """

    def __call__(self, x, ctx, bins: int | None = None):
        """``bins``: only the first ``bins`` (FFT_POS_HALF right after: no mirrored half to build)."""
        n = x.shape[-1]
        if np.iscomplexobj(x) or not is_power_of_two(n):
            import scipy.fft

            return scipy.fft.fft(as_float(x), axis=-1).astype(np.complex64)[..., :bins]
        re, im = rfft_float(as_float(x))
        if bins is not None and bins <= n // 2 + 1:
            return _complex(re[..., :bins], im[..., :bins])
        return mirror_spectrum(re, im, n, np.complex64)[..., :bins]

    def c_step(self, ctx: CContext) -> CStep:
        sig = ctx.signal
        require_real(sig, "FFT_FE")
        if not is_power_of_two(sig.length):
            raise NoCImplementation(
                f"FFT_FE of {sig.length} values: the C FFT needs a power-of-two frame_size"
            )
        fft_plan(sig.length)
        avail = max(ctx.demand, sig.length // 2 + 1)
        out = CSignal(sig.length, complex=True, avail=ctx.demand, stride=avail)
        body = []
        if sig.integer:
            body.append(f"for (n = 0; n < {sig.length}; ++n) {{\n    src[n].f = (float)src[n].i;\n}}")
        body.append(f"{rfft_c_name(sig.length, False)}(src, dst, dst + {avail});")
        body.append(c_mirror(out, sig.length, ctx.demand))
        code = "\n".join(b for b in body if b)
        m = sig.length // 2
        return CStep(out, code, in_place=False, decls=(rfft_c(sig.length, False),), entries=avail + m + 1)


class FftPositiveHalfFused(FeatureTransform):
    """FFT_FE directly followed by FFT_POS_HALF, in one step for speed (the same values): the
    pipeline runs this pair as one; the C generator keeps them apart."""

    def __init__(self, cfg, fft: Fft, half: FftPositiveHalf):
        super().__init__(cfg)
        self.fft, self.half = fft, half

    def __call__(self, x, ctx):
        return self.fft(x, ctx, bins=self.half.keep(x.shape[-1]))


@FEATURE_REGISTRY.register("NORMALIZE")
class Normalize(ElementwiseTransform):
    """Divide by the frame size (``FFT / N``), real and imaginary parts alike."""

    def _size(self) -> np.float32:
        return np.float32(frame_length(self.cfg))

    def __call__(self, x, ctx):
        x = as_float(x)
        if np.iscomplexobj(x):
            return _complex(x.real / self._size(), x.imag / self._size())
        return x / self._size()

    def c_step(self, ctx: CContext) -> CStep:
        sig = ctx.signal
        line = f"buf[o + n].f = {read_float(sig, 'buf[o + n]')} / {c_float(self._size())};"
        out = CSignal(sig.length, complex=sig.complex, avail=ctx.demand, stride=sig.stride)
        return CStep(out, block_loops(sig, ctx.demand, line))


@FEATURE_REGISTRY.register("FFT_POS_HALF")
class FftPositiveHalf(FeatureTransform):
    """Keep the first ``L/2 + (min_bin or 1)`` bins of an FFT of length ``L`` (DC to Nyquist by
    default; ``min_bin`` keeps enough bins for BINNING to start there)."""

    def keep(self, length: int) -> int:
        return min(length, length // 2 + (int(self.cfg.get("min_bin") or 0) or 1))

    def __call__(self, x, ctx):
        return x[..., : self.keep(x.shape[-1])]

    def c_input_demand(self, signal: CSignal, demand: int) -> int:
        return demand

    def c_step(self, ctx: CContext) -> CStep:
        sig = ctx.signal
        return CStep(CSignal(self.keep(sig.length), sig.complex, sig.integer, ctx.demand, sig.stride))


@FEATURE_REGISTRY.register("ABS")
class Abs(ElementwiseTransform):
    """Magnitude: ``sqrt(re*re + im*im)`` of a complex spectrum, ``|x|`` of real values."""

    def __call__(self, x, ctx):
        if np.iscomplexobj(x):
            x = as_float(x)
            re, im = x.real, x.imag
            return np.sqrt(re * re + im * im)
        return np.abs(x)

    def c_step(self, ctx: CContext) -> CStep:
        sig = ctx.signal
        if not sig.complex:
            op = (
                "buf[n].i = buf[n].i < 0 ? -buf[n].i : buf[n].i;"
                if sig.integer
                else "buf[n].f = fabsf(buf[n].f);"
            )
            body = f"for (n = 0; n < {ctx.demand}; ++n) {{\n    {op}\n}}"
            return CStep(
                CSignal(sig.length, integer=sig.integer, avail=ctx.demand), body, math=not sig.integer
            )
        s = sig.stride
        body = (
            f"for (n = 0; n < {ctx.demand}; ++n) {{\n"
            f"    const float re = {read_float(sig, 'buf[n]')}, im = {read_float(sig, f'buf[{s} + n]')};\n"
            "    buf[n].f = sqrtf(re * re + im * im);\n}"
        )
        return CStep(CSignal(sig.length, avail=ctx.demand), body, math=True)


@FEATURE_REGISTRY.register("DC_REMOVE")
class DcRemove(FeatureTransform):
    """Drop the first value of each frame (the DC bin of a spectrum)."""

    def __call__(self, x, ctx):
        if x.shape[-1] < 2:
            raise ConfigError(
                "DC_REMOVE drops the first value, but the frames hold only one; remove DC_REMOVE"
            )
        return x[..., 1:]

    def c_input_demand(self, signal: CSignal, demand: int) -> int:
        return demand + 1

    def c_step(self, ctx: CContext) -> CStep:
        sig = ctx.signal
        out = CSignal(sig.length - 1, sig.complex, sig.integer, ctx.demand, sig.stride)
        return CStep(out, block_loops(sig, ctx.demand, "dst[o + n] = src[o + n + 1];"), in_place=False)


def bin_layout(cfg: dict, length: int, name: str = "BINNING") -> tuple[int, int, int]:
    """``(bins, bin_size, offset)``: ``bin_size = frame // 2 // feature_size_per_frame //
    analysis_bandwidth`` values per bin, the first bin starting at ``min_bin`` (default 0)."""
    f = int(cfg.get("feature_size_per_frame") or 0)
    if not f:
        raise ConfigError(
            f"{name} needs data_processing_feature_extraction.feature_size_per_frame (bins per frame)"
        )
    bw = int(cfg.get("analysis_bandwidth") or 1)
    size = frame_length(cfg) // 2 // f // bw
    offset = int(cfg.get("min_bin") or 0)
    if size < 1 or offset + f * size > length:
        raise ConfigError(
            f"{name}: {f} bins of frame_size // 2 // feature_size_per_frame // analysis_bandwidth = {size} "
            f"values from min_bin={offset} need {offset + f * max(size, 1)} values per frame, but "
            f"{length} reach it; lower feature_size_per_frame, analysis_bandwidth or min_bin"
        )
    return f, size, offset


@FEATURE_REGISTRY.register("BINNING")
class Binning(FeatureTransform):
    """Sum ``bin_size`` adjacent values into each of ``feature_size_per_frame`` bins starting at
    ``min_bin``, divided by ``bin_size`` when ``normalize_bin`` (see :func:`bin_layout`)."""

    def __call__(self, x, ctx):
        if np.iscomplexobj(x):
            raise ConfigError("BINNING works on real values but gets a complex spectrum; put ABS before it")
        f, size, off = bin_layout(self.cfg, x.shape[-1])
        groups = as_float(x)[..., off : off + f * size].reshape(*x.shape[:-1], f, size)
        acc = sequential_sum(groups)
        return acc / np.float32(size) if self.cfg.get("normalize_bin") else acc

    def c_input_demand(self, signal: CSignal, demand: int) -> int:
        f, size, off = bin_layout(self.cfg, signal.length)
        return off + f * size

    def c_config(self):
        return {"FE_FEATURE_SIZE_PER_FRAME": self.cfg["feature_size_per_frame"]}

    def c_step(self, ctx: CContext) -> CStep:
        sig = ctx.signal
        require_real(sig, "BINNING")
        f, size, off = bin_layout(self.cfg, sig.length)
        norm = f"acc / {c_float(size)}" if self.cfg.get("normalize_bin") else "acc"
        body = (
            f"for (n = 0; n < {f}; ++n) {{\n"
            f"    float acc = {read_float(sig, f'src[{off} + n * {size}]')};\n"
            f"    for (k = 1; k < {size}; ++k) {{\n"
            f"        acc = acc + {read_float(sig, f'src[{off} + n * {size} + k]')};\n"
            "    }\n"
            f"    dst[n].f = {norm};\n}}"
        )
        return CStep(CSignal(f), body, in_place=False)


@FEATURE_REGISTRY.register("LOG_DB")
class LogDb(ElementwiseTransform):
    """``log_mul * log_base(x + log_threshold)`` (``log_base`` a number or ``'e'``), at least
    ``log_db_floor`` when that is set. A value where ``x + log_threshold`` is 0 in float32 (the
    threshold below float32 range) gets ``log_mul * log_base(log_threshold)`` computed exactly."""

    def constants(self) -> tuple[np.float32, np.float32, np.float32, float | None]:
        base = self.cfg.get("log_base", 10)
        ln_base = 1.0 if base == "e" else math.log(float(base))
        thr = float(self.cfg.get("log_threshold", 1e-100))
        mul = float(self.cfg.get("log_mul", 20.0))
        floor = self.cfg.get("log_db_floor")
        at_zero = np.float32(mul * math.log(thr) / ln_base)
        return np.float32(mul / ln_base), np.float32(thr), at_zero, None if floor is None else float(floor)

    def __call__(self, x, ctx):
        if np.iscomplexobj(x):
            raise ConfigError("LOG_DB works on real values but gets a complex spectrum; put ABS before it")
        scale, thr, at_zero, floor = self.constants()
        v = as_float(x) + thr
        pos = v > 0
        y = np.where(pos, scale * np.log(np.where(pos, v, np.float32(1))), at_zero).astype(np.float32)
        return y if floor is None else np.maximum(y, np.float32(floor))

    def c_config(self):
        scale, thr, at_zero, floor = self.constants()
        return {"FE_LOG_SCALE": float(scale), "FE_LOG_THRESHOLD": float(thr)}

    def c_step(self, ctx: CContext) -> CStep:
        sig = ctx.signal
        require_real(sig, "LOG_DB")
        scale, thr, at_zero, floor = self.constants()
        lines = [
            f"const float v = {read_float(sig, 'buf[n]')} + {c_float(thr)};",
            f"float y = v > 0.0f ? {c_float(scale)} * logf(v) : {c_float(at_zero)};",
        ]
        if floor is not None:
            lines.append(f"y = y > {c_float(floor)} ? y : {c_float(floor)};")
        lines.append("buf[n].f = y;")
        body = f"for (n = 0; n < {ctx.demand}; ++n) {{\n    " + "\n    ".join(lines) + "\n}"
        return CStep(CSignal(sig.length, avail=ctx.demand), body, math=True)
