"""THE rounding rule, shared by the numpy integer reference and the generated C.

Every rescale of an integer accumulator to the int8 grid of the next tensor uses one rule:

    real multiplier r  ->  (mult, shift) with  r ~= mult * 2**-shift,  2**30 <= mult < 2**31
    requant(acc)       =   (acc * mult + 2**(shift - 1)) >> shift          (64-bit, arithmetic shift)

i.e. one rounding of the exact product, half-way cases rounded up (towards +infinity). ``mult`` is
the Q31 mantissa of ``r`` from ``frexp`` (``r = q * 2**e``, ``0.5 <= q < 1``, ``mult = round(q * 2**31)``,
``shift = 31 - e``). The C code (``tm_requant`` in ``tinyml_model.c``) is the same one line, so the
reference and the C cannot disagree by one LSB. With power-of-two scales (quantization mode 2)
``mult == 2**30`` and the rule is a plain rounding right shift.

Other integer steps use floor division with the same half-up rounding: ``round_div(a, b) =
floor((2*a + b) / (2*b))`` for ``b > 0``.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import CompilationError

MIN_SHIFT = 1
MAX_SHIFT = 62


def quantize_multiplier(real: float) -> tuple[int, int]:
    """``(mult, shift)`` with ``real ~= mult * 2**-shift``, ``mult`` a Q31 mantissa in ``[2**30, 2**31)``.

    Zero gives ``(0, 1)``. Multipliers too small for a 62-bit shift lose mantissa bits (they round
    every input to zero anyway); multipliers of ``2**30`` or more are an error.
    """
    real = float(real)
    if real < 0 or not math.isfinite(real):
        raise CompilationError(f"requantization multiplier must be finite and >= 0, got {real}")
    if real == 0.0:
        return 0, MIN_SHIFT
    q, e = math.frexp(real)
    mult = int(round(q * (1 << 31)))
    if mult == 1 << 31:
        mult //= 2
        e += 1
    shift = 31 - e
    if shift < MIN_SHIFT:
        raise CompilationError(
            f"requantization multiplier {real:g} is too large (>= 2**30); the tensor scales of the "
            "model are inconsistent, check the calibration data"
        )
    if shift > MAX_SHIFT:
        drop = shift - MAX_SHIFT
        mult = (mult + (1 << (drop - 1))) >> drop if drop < 63 else 0
        shift = MAX_SHIFT
    return mult, shift


def quantize_multipliers(reals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vector form of :func:`quantize_multiplier`: int32 ``mult`` and int32 ``shift`` arrays."""
    pairs = [quantize_multiplier(r) for r in np.asarray(reals, dtype=np.float64).ravel()]
    mult = np.array([p[0] for p in pairs], dtype=np.int32)
    shift = np.array([p[1] for p in pairs], dtype=np.int32)
    return mult, shift


def common_shift_multipliers(reals: list[float]) -> tuple[list[int], int]:
    """Multipliers sharing one shift: ``reals[i] ~= mults[i] * 2**-shift``, largest mult < 2**30.

    Used where several inputs are rescaled and summed before one rounding (Add, Sub).
    """
    top = max(float(r) for r in reals)
    if top <= 0:
        return [0 for _ in reals], MIN_SHIFT
    _, e = math.frexp(top)
    shift = min(MAX_SHIFT, max(MIN_SHIFT, 30 - e))
    mults = [int(round(float(r) * (1 << shift))) for r in reals]
    if max(mults) >= 1 << 31:
        raise CompilationError(f"rescale factors {reals} are too large for int32 multipliers")
    return mults, shift


def requant(acc: np.ndarray, mult: np.ndarray | int, shift: np.ndarray | int) -> np.ndarray:
    """THE rule: ``(acc * mult + 2**(shift-1)) >> shift`` in int64 (broadcasting)."""
    acc = np.asarray(acc, dtype=np.int64)
    mult = np.asarray(mult, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    return (acc * mult + (np.int64(1) << (shift - 1))) >> shift


def round_div(a: np.ndarray, b: np.ndarray | int) -> np.ndarray:
    """``round(a / b)`` with halves rounded up, for ``b > 0``: ``floor((2a + b) / (2b))``."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    return np.floor_divide(2 * a + b, 2 * b)


def saturate(x: np.ndarray, lo: int = -128, hi: int = 127) -> np.ndarray:
    """Clamp to ``[lo, hi]`` and cast to int8."""
    return np.clip(x, lo, hi).astype(np.int8)


def round_half_away(x: np.ndarray) -> np.ndarray:
    """Round half away from zero (the float->int8 rule of ``tinyml_model_run_float`` in C)."""
    x = np.asarray(x, dtype=np.float32)
    return np.where(x >= 0, np.floor(x + np.float32(0.5)), np.ceil(x - np.float32(0.5)))
