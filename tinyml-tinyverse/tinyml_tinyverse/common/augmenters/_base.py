"""The augmenter registry and base class. A new module in this folder that registers an
augmenter makes it usable by name from the ``augmentation`` config with no other edit."""

from __future__ import annotations

import numpy as np

from ..registry import Registry

AUGMENTER_REGISTRY = Registry("augmenter", locations=["tinyml_tinyverse.common.augmenters"])


class Augmenter:
    """Transforms a batch ``x (N, C, H, W)`` along the time axis H; returns the same shape.

    ``p`` is the probability that an example is augmented. Subclasses implement :meth:`apply` on
    the selected examples only.
    """

    def __init__(self, p: float = 1.0):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be in [0, 1], got {p}")
        self.p = float(p)

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        chosen = rng.random(len(x)) < self.p
        if not chosen.any():
            return x
        out = x.copy()
        out[chosen] = self.apply(x[chosen], rng).astype(x.dtype, copy=False)
        return out

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


def per_example_std(x: np.ndarray) -> np.ndarray:
    """Std of each example and channel over time, shaped to broadcast against ``x``."""
    return x.std(axis=2, keepdims=True) + 1e-8


def interpolate_time(x: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Sample ``x (N, C, H, W)`` at fractional time positions ``pos (N, H')`` (linear, clamped)."""
    h = x.shape[2]
    pos = np.clip(pos, 0, h - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, h - 1)
    frac = (pos - lo)[:, None, :, None].astype(x.dtype)
    idx_lo = np.broadcast_to(lo[:, None, :, None], (x.shape[0], x.shape[1], pos.shape[1], x.shape[3]))
    idx_hi = np.broadcast_to(hi[:, None, :, None], idx_lo.shape)
    a = np.take_along_axis(x, idx_lo, axis=2)
    b = np.take_along_axis(x, idx_hi, axis=2)
    return a + (b - a) * frac
