"""Quantization parameters shared by the op families: activations, weights, fused activation ranges.

The int8 scheme (mode 1): weights symmetric per output channel, ``scale_c = max|w_c| / qmax``;
activations per tensor, asymmetric, ``scale = (hi - lo) / 255``, ``zero_point = round(-128 - lo /
scale)`` over a range widened to hold 0. Mode 2 rounds every scale up to a power of two, so every
requantization is a rounding shift.
"""

from __future__ import annotations

import math

import numpy as np


def pow2_ceil(x: float) -> float:
    return float(2.0 ** math.ceil(math.log2(x)))


def activation_qparams(lo: float, hi: float, mode: int) -> tuple[float, int]:
    """``(scale, zero_point)`` of an int8 tensor covering ``[lo, hi]`` (widened to hold 0)."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    span = hi - lo
    if span <= 1e-12:
        return 1.0, 0
    scale = span / 255.0
    if mode == 2:
        scale = pow2_ceil(scale)
    zp = int(np.clip(round(-128 - lo / scale), -128, 127))
    return scale, zp


def weight_qparams(w: np.ndarray, bits: int, mode: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-output-channel symmetric quantization: ``(w_q int8, scales float64[Cout])``."""
    qmax = 2 ** (bits - 1) - 1
    amax = np.abs(w.reshape(w.shape[0], -1)).max(axis=1).astype(np.float64)
    scales = np.where(amax > 0, amax / qmax, 1.0)
    if mode == 2:
        scales = np.array([pow2_ceil(s) for s in scales])
    wq = np.clip(np.round(w / scales.reshape((-1,) + (1,) * (w.ndim - 1))), -qmax, qmax).astype(np.int8)
    return wq, scales


def act_range(act, scale: float, zp: int) -> tuple[int, int]:
    """The int8 range ``(act_min, act_max)`` of a fused Relu/Clip ``act`` (None: the full range)."""
    if act is None:
        return -128, 127
    lo = -128 if not math.isfinite(act[0]) else int(np.clip(zp + round(act[0] / scale), -128, 127))
    hi = 127 if not math.isfinite(act[1]) else int(np.clip(zp + round(act[1] / scale), -128, 127))
    return lo, hi


def lut_table(fn, in_q: dict, out_q: dict) -> np.ndarray:
    """The 256-entry int8 table of ``fn`` (float -> float) from ``in_q``'s grid to ``out_q``'s."""
    real = (np.arange(-128, 128) - in_q["zero_point"]) * in_q["scale"]
    return np.clip(np.rint(fn(real) / out_q["scale"]) + out_q["zero_point"], -128, 127).astype(np.int8)
