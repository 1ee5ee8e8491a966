"""Orthonormal transforms over each frame: HAAR (one level) and HADAMARD (Walsh-Hadamard)."""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ._base import FEATURE_REGISTRY, FeatureTransform, as_float
from .c_code import CContext, CSignal, CStep, c_float, read_float, require_real

SQRT2 = np.float32(np.sqrt(2.0))


@FEATURE_REGISTRY.register("HAAR")
class Haar(FeatureTransform):
    """One-level Haar transform: ``[(a+b)/sqrt2 ..., (a-b)/sqrt2 ...]`` over sample pairs ``(a, b)``."""

    def __call__(self, x, ctx):
        if x.shape[-1] % 2:
            raise ConfigError(f"HAAR needs an even frame length, got {x.shape[-1]}; change frame_size")
        x = as_float(x)
        a, b = x[..., 0::2], x[..., 1::2]
        return np.concatenate([(a + b) / SQRT2, (a - b) / SQRT2], axis=-1)

    def c_step(self, ctx: CContext) -> CStep:
        sig = ctx.signal
        require_real(sig, "HAAR")
        h = sig.length // 2
        a, b = read_float(sig, "src[2 * n]"), read_float(sig, "src[2 * n + 1]")
        body = (
            f"for (n = 0; n < {h}; ++n) {{\n"
            f"    const float a = {a}, b = {b};\n"
            f"    dst[n].f = (a + b) / {c_float(SQRT2)};\n"
            f"    dst[{h} + n].f = (a - b) / {c_float(SQRT2)};\n}}"
        )
        return CStep(CSignal(sig.length), body, in_place=False)


@FEATURE_REGISTRY.register("HADAMARD")
class Hadamard(FeatureTransform):
    """Walsh-Hadamard transform (natural / Sylvester order) by the fast butterflies, scaled by
    ``1/sqrt(L)``."""

    def __call__(self, x, ctx):
        n = x.shape[-1]
        if n & (n - 1):
            raise ConfigError(f"HADAMARD needs a power-of-two frame length, got {n}; change frame_size")
        y, lead, h = as_float(x), x.shape[:-1], 1
        while h < n:
            y = y.reshape(*lead, n // (2 * h), 2, h)
            a, b = y[..., 0, :], y[..., 1, :]
            y = np.stack([a + b, a - b], axis=-2).reshape(*lead, n)
            h *= 2
        return y / np.float32(np.sqrt(n))

    def c_step(self, ctx: CContext) -> CStep:
        sig = ctx.signal
        require_real(sig, "HADAMARD")
        n = sig.length
        lines = []
        if sig.integer:
            lines.append(f"for (n = 0; n < {n}; ++n) {{\n    buf[n].f = (float)buf[n].i;\n}}")
        h = 1
        while h < n:
            lines.append(
                f"for (n = 0; n < {n}; n += {2 * h}) {{\n"
                f"    for (k = n; k < n + {h}; ++k) {{\n"
                f"        const float a = buf[k].f, b = buf[k + {h}].f;\n"
                f"        buf[k].f = a + b;\n        buf[k + {h}].f = a - b;\n    }}\n}}"
            )
            h *= 2
        lines.append(f"for (n = 0; n < {n}; ++n) {{\n    buf[n].f = buf[n].f / {c_float(np.sqrt(n))};\n}}")
        return CStep(CSignal(n), "\n".join(lines))
