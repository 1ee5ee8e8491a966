"""Statistical features of a frame: KURT_FE, ENT_FE, ZCR_FE, DOM_FE, SLOPE_FE.

Each reduces a frame of ``L`` values to one value (DOM_FE: two). Consecutive statistics steps in
``feat_ext_transform`` form one block: each reads the frame that entered the block and their
results are joined in the order listed, so ``[KURT_FE, ZCR_FE, SLOPE_FE]`` gives 3 features per
frame. Put them after ``FFT_FE, FFT_POS_HALF, ABS`` for statistics of the magnitude spectrum
(spectral entropy, dominant frequency bins), or on the samples (kurtosis, zero crossings, slope
changes). Sums run in float32 in order, as in the C.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ._base import FEATURE_REGISTRY, FeatureTransform, as_float, sequential_sum
from .c_code import CContext, CSignal, CStep, c_float, read_float, require_real


class FrameStatistic(FeatureTransform):
    """A reduction of each frame to ``count`` values; runs inside a :class:`StatisticsBlock`."""

    count = 1
    min_length = 2

    def values(self, x: np.ndarray) -> np.ndarray:
        """float32 ``(..., L)`` -> ``(..., count)``."""
        raise NotImplementedError

    def c_values(self, sig: CSignal, out: int) -> str:
        """C writing this statistic of ``src`` to ``dst[out ..]``."""
        raise NotImplementedError

    def __call__(self, x, ctx):
        return StatisticsBlock(self.cfg, [(type(self).__name__, self)])(x, ctx)


class StatisticsBlock(FeatureTransform):
    """Consecutive statistics steps: each reads the same frame; results joined in list order."""

    def __init__(self, cfg, members: list[tuple[str, FrameStatistic]]):
        super().__init__(cfg)
        self.members = members

    def _check(self, length: int, is_complex: bool) -> None:
        for name, stat in self.members:
            if is_complex:
                raise ConfigError(
                    f"{name} works on real values but gets a complex spectrum; put ABS before it"
                )
            if length < stat.min_length:
                raise ConfigError(f"{name} needs frames of {stat.min_length} values or more, got {length}")

    def __call__(self, x, ctx):
        self._check(x.shape[-1], np.iscomplexobj(x))
        x = as_float(x)
        return np.concatenate([stat.values(x) for _, stat in self.members], axis=-1).astype(np.float32)

    def c_step(self, ctx: CContext) -> CStep:
        sig = ctx.signal
        require_real(sig, self.members[0][0])
        self._check(sig.length, sig.complex)
        parts, out = [], 0
        for name, stat in self.members:
            parts.append(f"{{ /* {name} */\n" + stat.c_values(sig, out) + "\n}")
            out += stat.count
        return CStep(CSignal(out), "\n".join(parts), in_place=False, math=True)


@FEATURE_REGISTRY.register("KURT_FE")
class Kurtosis(FrameStatistic):
    """Excess kurtosis ``m4 / m2^2 - 3`` of the frame (population moments; 0 for a constant frame)."""

    def values(self, x):
        n = np.float32(x.shape[-1])
        d = x - (sequential_sum(x) / n)[..., None]
        d2 = d * d
        m2, m4 = sequential_sum(d2) / n, sequential_sum(d2 * d2) / n
        den = m2 * m2
        return np.where(den > 0, m4 / np.where(den > 0, den, 1) - np.float32(3), np.float32(0))[..., None]

    def c_values(self, sig, out):
        n, v = c_float(sig.length), read_float(sig, "src[n]")
        return (
            "float mean = 0.0f, m2 = 0.0f, m4 = 0.0f, den;\n"
            f"for (n = 0; n < {sig.length}; ++n) {{\n    mean = mean + {v};\n}}\n"
            f"mean = mean / {n};\n"
            f"for (n = 0; n < {sig.length}; ++n) {{\n"
            f"    const float d = {v} - mean, d2 = d * d;\n"
            "    m2 = m2 + d2;\n    m4 = m4 + d2 * d2;\n}\n"
            f"m2 = m2 / {n};\nm4 = m4 / {n};\nden = m2 * m2;\n"
            f"dst[{out}].f = den > 0.0f ? m4 / den - 3.0f : 0.0f;"
        )


@FEATURE_REGISTRY.register("ENT_FE")
class SpectralEntropy(FrameStatistic):
    """Normalised entropy of the frame's energy distribution, ``-sum(p ln p) / ln L`` with
    ``p = x^2 / sum(x^2)``: the spectral entropy (0..1) when the frame is a magnitude spectrum."""

    def values(self, x):
        e = x * x
        s = sequential_sum(e)[..., None]
        p = e / np.where(s > 0, s, np.float32(1))
        t = np.where(p > 0, p * np.log(np.where(p > 0, p, np.float32(1))), np.float32(0))
        return (-sequential_sum(t) * np.float32(1 / np.log(x.shape[-1])))[..., None]

    def c_values(self, sig, out):
        v = read_float(sig, "src[n]")
        return (
            "float total = 0.0f, acc = 0.0f;\n"
            f"for (n = 0; n < {sig.length}; ++n) {{\n    const float x = {v};\n    total = total + x * x;\n}}\n"
            f"for (n = 0; n < {sig.length}; ++n) {{\n"
            f"    const float x = {v};\n"
            "    const float p = (x * x) / (total > 0.0f ? total : 1.0f);\n"
            "    if (p > 0.0f) {\n        acc = acc + p * logf(p);\n    }\n}\n"
            f"dst[{out}].f = -acc * {c_float(1 / np.log(sig.length))};"
        )


@FEATURE_REGISTRY.register("ZCR_FE")
class ZeroCrossingRate(FrameStatistic):
    """Fraction of adjacent sample pairs whose signs differ (a sample < 0 versus >= 0)."""

    def values(self, x):
        neg = x < 0
        count = np.count_nonzero(neg[..., 1:] != neg[..., :-1], axis=-1).astype(np.float32)
        return (count / np.float32(x.shape[-1] - 1))[..., None]

    def c_values(self, sig, out):
        a, b = read_float(sig, "src[n]"), read_float(sig, "src[n + 1]")
        return (
            "int32_t count = 0;\n"
            f"for (n = 0; n < {sig.length - 1}; ++n) {{\n    count += ({a} < 0.0f) != ({b} < 0.0f);\n}}\n"
            f"dst[{out}].f = (float)count / {c_float(sig.length - 1)};"
        )


@FEATURE_REGISTRY.register("SLOPE_FE")
class SlopeChanges(FrameStatistic):
    """Fraction of inner samples where the slope changes sign (local maxima and minima)."""

    min_length = 3

    def values(self, x):
        d = x[..., 1:] - x[..., :-1]
        change = ((d[..., :-1] > 0) & (d[..., 1:] < 0)) | ((d[..., :-1] < 0) & (d[..., 1:] > 0))
        return (np.count_nonzero(change, axis=-1).astype(np.float32) / np.float32(x.shape[-1] - 2))[..., None]

    def c_values(self, sig, out):
        a, b, c = (read_float(sig, f"src[n{o}]") for o in ("", " + 1", " + 2"))
        return (
            "int32_t count = 0;\n"
            f"for (n = 0; n < {sig.length - 2}; ++n) {{\n"
            f"    const float d0 = {b} - {a}, d1 = {c} - {b};\n"
            "    count += (d0 > 0.0f && d1 < 0.0f) || (d0 < 0.0f && d1 > 0.0f);\n}\n"
            f"dst[{out}].f = (float)count / {c_float(sig.length - 2)};"
        )


@FEATURE_REGISTRY.register("DOM_FE")
class DominantFrequencies(FrameStatistic):
    """Indices of the two largest values (the two dominant bins of a magnitude spectrum; the
    largest first, the lower index on ties)."""

    count = 2

    def values(self, x):
        first = np.argmax(x, axis=-1)
        masked = x.copy()
        np.put_along_axis(masked, first[..., None], -np.inf, axis=-1)
        second = np.argmax(masked, axis=-1)
        return np.stack([first, second], axis=-1).astype(np.float32)

    def c_values(self, sig, out):
        v = read_float(sig, "src[n]")
        return (
            "int32_t b1 = 0, b2;\n"
            f"for (n = 1; n < {sig.length}; ++n) {{\n"
            f"    if ({v} > {read_float(sig, 'src[b1]')}) {{\n        b1 = n;\n    }}\n}}\n"
            "b2 = b1 == 0 ? 1 : 0;\n"
            f"for (n = 0; n < {sig.length}; ++n) {{\n"
            f"    if (n != b1 && {v} > {read_float(sig, 'src[b2]')}) {{\n        b2 = n;\n    }}\n}}\n"
            f"dst[{out}].f = (float)b1;\ndst[{out + 1}].f = (float)b2;"
        )
