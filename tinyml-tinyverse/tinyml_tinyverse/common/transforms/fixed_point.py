"""Fixed-point (Q15) feature extraction, integer-exact: what runs on a chip without an FPU.

Every step works on integer values (held as ``int64``, or ``complex128`` with integer parts for
spectra) and rounds exactly as the C code must: arithmetic shifts, saturation to int16.

- ``TO_Q15``: ``sat16(round(x / q15_full_scale * 32768))``.
- ``FFT_Q15``: radix-2 decimation-in-time FFT; twiddles ``sat16(round(cos|sin * 32768))``; each
  butterfly ``t = (b * w) >> 15`` (per real product sum), ``a' = sat16((a + t) >> 1)``,
  ``b' = sat16((a - t) >> 1)``: the result is ``FFT(x) / L``.
- ``Q15_MAG``: ``floor(sqrt(re^2 + im^2))`` (exact integer square root).
- ``Q15_SCALE``: ``sat16((x * m + 2^14) >> 15)`` with ``m = round(q15_scale_factor * 32768)``.
- ``BIN_Q15``: sum of ``2^k`` adjacent values ``>> k`` into ``feature_size_per_frame`` bins.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ._base import FEATURE_REGISTRY, FeatureTransform
from .spectral import bin_size

Q15_ONE = 32768


def sat16(x: np.ndarray) -> np.ndarray:
    """Saturate to the int16 range."""
    return np.clip(x, -32768, 32767)


def q15_twiddles(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Q15 ``cos`` and ``-sin`` of ``2 pi k / n`` for ``k < n/2`` (the forward-FFT twiddles)."""
    k = np.arange(n // 2)
    wr = sat16(np.round(np.cos(2 * np.pi * k / n) * Q15_ONE)).astype(np.int64)
    wi = sat16(np.round(-np.sin(2 * np.pi * k / n) * Q15_ONE)).astype(np.int64)
    return wr, wi


def bit_reverse_index(n: int) -> np.ndarray:
    bits = n.bit_length() - 1
    idx = np.arange(n)
    rev = np.zeros(n, np.int64)
    for b in range(bits):
        rev |= ((idx >> b) & 1) << (bits - 1 - b)
    return rev


def fft_q15(re: np.ndarray, im: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Integer radix-2 FFT along the last axis; returns ``(re, im)`` int64 arrays = ``FFT / n``."""
    n = re.shape[-1]
    if n < 2 or n & (n - 1):
        raise ConfigError(f"FFT_Q15 needs a power-of-two frame length, got {n}; change frame_size")
    rev = bit_reverse_index(n)
    xr = re[..., rev].astype(np.int64)
    xi = np.zeros_like(xr) if im is None else im[..., rev].astype(np.int64)
    wr_all, wi_all = q15_twiddles(n)
    lead = xr.shape[:-1]
    m = 1
    while m < n:
        step = n // (2 * m)
        wr, wi = wr_all[::step][:m], wi_all[::step][:m]
        xr = xr.reshape(*lead, n // (2 * m), 2, m)
        xi = xi.reshape(*lead, n // (2 * m), 2, m)
        ar, ai = xr[..., 0, :], xi[..., 0, :]
        br, bi = xr[..., 1, :], xi[..., 1, :]
        tr = (br * wr - bi * wi) >> 15
        ti = (br * wi + bi * wr) >> 15
        xr = np.stack([sat16((ar + tr) >> 1), sat16((ar - tr) >> 1)], axis=-2).reshape(*lead, n)
        xi = np.stack([sat16((ai + ti) >> 1), sat16((ai - ti) >> 1)], axis=-2).reshape(*lead, n)
        m *= 2
    return xr, xi


def isqrt(v: np.ndarray) -> np.ndarray:
    """Exact ``floor(sqrt(v))`` of non-negative int64 values."""
    v = v.astype(np.int64)
    s = np.floor(np.sqrt(v.astype(np.float64))).astype(np.int64)
    s = np.where(s * s > v, s - 1, s)
    return np.where((s + 1) * (s + 1) <= v, s + 1, s)


def _require_integer(x: np.ndarray, name: str) -> None:
    if np.iscomplexobj(x):
        ok = np.array_equal(x.real, np.round(x.real)) and np.array_equal(x.imag, np.round(x.imag))
    else:
        ok = np.issubdtype(x.dtype, np.integer)
    if not ok:
        raise ConfigError(f"{name} works on Q15 integers; put TO_Q15 before it in feat_ext_transform")


@FEATURE_REGISTRY.register("TO_Q15")
class ToQ15(FeatureTransform):
    """Float -> Q15 integers: ``sat16(round(x / q15_full_scale * 32768))``."""

    def __call__(self, x, ctx):
        scale = Q15_ONE / float(self.cfg["q15_full_scale"])
        return sat16(np.round(np.asarray(x, np.float64) * scale)).astype(np.int64)

    def c_config(self):
        return {"FE_Q15_FULL_SCALE": float(self.cfg["q15_full_scale"])}


@FEATURE_REGISTRY.register("FFT_Q15")
class FftQ15(FeatureTransform):
    """Fixed-point FFT (``FFT / L``), complex values with integer parts; follow with Q15_MAG."""

    def __call__(self, x, ctx):
        _require_integer(x, "FFT_Q15")
        re, im = fft_q15(x)
        return re.astype(np.float64) + 1j * im.astype(np.float64)


@FEATURE_REGISTRY.register("Q15_MAG")
class Q15Magnitude(FeatureTransform):
    """Integer magnitude ``floor(sqrt(re^2 + im^2))`` of a Q15 spectrum."""

    def __call__(self, x, ctx):
        _require_integer(x, "Q15_MAG")
        re = np.real(x).astype(np.int64)
        im = np.imag(x).astype(np.int64)
        return isqrt(re * re + im * im)


@FEATURE_REGISTRY.register("Q15_SCALE")
class Q15Scale(FeatureTransform):
    """Multiply by ``q15_scale_factor`` in fixed point: ``sat16((x * m + 2^14) >> 15)``."""

    def multiplier(self) -> int:
        return int(round(float(self.cfg["q15_scale_factor"]) * Q15_ONE))

    def __call__(self, x, ctx):
        _require_integer(x, "Q15_SCALE")
        return sat16((x.astype(np.int64) * self.multiplier() + (1 << 14)) >> 15)

    def c_config(self):
        return {"FE_Q15_SCALE_MULTIPLIER": self.multiplier()}


@FEATURE_REGISTRY.register("BIN_Q15")
class BinQ15(FeatureTransform):
    """Integer binning: sum ``2^k`` adjacent values and shift right by ``k``."""

    def __call__(self, x, ctx):
        _require_integer(x, "BIN_Q15")
        f = int(self.cfg["feature_size_per_frame"] or 0)
        size = bin_size(x.shape[-1], f)
        if size & (size - 1):
            raise ConfigError(
                f"BIN_Q15 averages a power-of-two number of values, but {x.shape[-1]} values into "
                f"{f} bins gives {size}; choose feature_size_per_frame so that the ratio is 1, 2, 4, 8..."
            )
        shift = size.bit_length() - 1
        groups = x[..., : f * size].astype(np.int64).reshape(*x.shape[:-1], f, size)
        return groups.sum(axis=-1) >> shift
