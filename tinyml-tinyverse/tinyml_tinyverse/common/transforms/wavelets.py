"""Orthonormal transforms over each frame: HAAR (one level) and HADAMARD (Walsh-Hadamard)."""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ._base import FEATURE_REGISTRY, FeatureTransform


@FEATURE_REGISTRY.register("HAAR")
class Haar(FeatureTransform):
    """One-level Haar transform: ``[(a+b)/sqrt2 ..., (a-b)/sqrt2 ...]`` over sample pairs ``(a, b)``."""

    def __call__(self, x, ctx):
        if x.shape[-1] % 2:
            raise ConfigError(f"HAAR needs an even frame length, got {x.shape[-1]}; change frame_size")
        a, b = x[..., 0::2], x[..., 1::2]
        return np.concatenate([a + b, a - b], axis=-1) / np.sqrt(2.0).astype(x.dtype)


@FEATURE_REGISTRY.register("HADAMARD")
class Hadamard(FeatureTransform):
    """Walsh-Hadamard transform (natural / Sylvester order), scaled by ``1/sqrt(L)``."""

    def __call__(self, x, ctx):
        n = x.shape[-1]
        if n & (n - 1):
            raise ConfigError(f"HADAMARD needs a power-of-two frame length, got {n}; change frame_size")
        from scipy import linalg

        h = linalg.hadamard(n).astype(np.float32) / np.float32(np.sqrt(n))
        return x @ h.T
