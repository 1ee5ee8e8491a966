"""Spectral feature extraction transforms (floating point): DC_REMOVE, WINDOWING, FFT_FE,
FFT_POS_HALF, ABS, BINNING, LOG_DB. All act on the last axis of a batch of frames."""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ..utils.signal_windows import periodic_hann
from ._base import FEATURE_REGISTRY, FeatureTransform


@FEATURE_REGISTRY.register("DC_REMOVE")
class DcRemove(FeatureTransform):
    """Subtract each frame's mean."""

    def __call__(self, x, ctx):
        return x - x.mean(axis=-1, keepdims=True)


@FEATURE_REGISTRY.register("WINDOWING")
class Windowing(FeatureTransform):
    """Multiply each frame by a periodic Hann window (``scipy.signal.get_window('hann', L)``)."""

    def __call__(self, x, ctx):
        return x * periodic_hann(x.shape[-1]).astype(np.float32)  # scipy's, without importing scipy.signal


@FEATURE_REGISTRY.register("FFT_FE")
class Fft(FeatureTransform):
    """Complex FFT of each frame (length = frame length); follow with ABS or Q15_MAG.

    ``scipy.fft`` keeps float32 input in single precision (complex64), several times faster than
    ``numpy.fft`` on large batches."""

    def __call__(self, x, ctx):
        import scipy.fft

        return scipy.fft.fft(np.asarray(x, np.float32), axis=-1)


@FEATURE_REGISTRY.register("FFT_POS_HALF")
class FftPositiveHalf(FeatureTransform):
    """Keep bins ``0 .. L/2 - 1`` (DC up to just below Nyquist) of an FFT of length ``L``."""

    def __call__(self, x, ctx):
        return x[..., : x.shape[-1] // 2]


@FEATURE_REGISTRY.register("ABS")
class Abs(FeatureTransform):
    """Absolute value (the magnitude of a complex spectrum)."""

    def __call__(self, x, ctx):
        return np.abs(x).astype(np.float32)


def bin_size(length: int, features: int | None) -> int:
    """Number of adjacent values averaged into one of ``features`` bins."""
    if not features:
        raise ConfigError(
            "BINNING needs data_processing_feature_extraction.feature_size_per_frame (bins per frame)"
        )
    if length < features:
        raise ConfigError(
            f"BINNING: feature_size_per_frame={features} is more than the {length} values per frame "
            "that reach it; lower feature_size_per_frame or raise frame_size"
        )
    return length // features


@FEATURE_REGISTRY.register("BINNING")
class Binning(FeatureTransform):
    """Average groups of ``L // feature_size_per_frame`` adjacent values into
    ``feature_size_per_frame`` bins (values past the last full group are dropped)."""

    def __call__(self, x, ctx):
        f = int(self.cfg["feature_size_per_frame"] or 0)
        size = bin_size(x.shape[-1], f)
        return x[..., : f * size].reshape(*x.shape[:-1], f, size).mean(axis=-1)

    def c_config(self):
        return {"FE_FEATURE_SIZE_PER_FRAME": self.cfg["feature_size_per_frame"]}


@FEATURE_REGISTRY.register("LOG_DB")
class LogDb(FeatureTransform):
    """``20 * log10(x)`` with values below ``log_db_floor`` dB clipped to it."""

    def __call__(self, x, ctx):
        floor_db = float(self.cfg["log_db_floor"])
        return (20.0 * np.log10(np.maximum(x, 10.0 ** (floor_db / 20.0)))).astype(np.float32)

    def c_config(self):
        return {"FE_LOG_DB_FLOOR": float(self.cfg["log_db_floor"])}
