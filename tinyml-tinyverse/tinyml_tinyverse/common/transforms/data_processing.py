"""Data processing transforms (``data_proc_transforms``): windowing, resampling, gain jitter.

They run in the order the list gives. Steps listed before ``SimpleWindow`` act on each whole
recording ``(T, C)``; steps after it act on all frames ``(N, C, L)`` at once.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

from ..errors import ConfigError
from ._base import DATA_PROC_REGISTRY, DataProcTransform, FrameContext


def frame_hop(cfg: dict[str, Any]) -> int:
    """Samples between the starts of two frames: ``stride_size`` (a fraction of the frame) x ``frame_size``."""
    return max(1, int(round(float(cfg["stride_size"]) * int(cfg["frame_size"]))))


@DATA_PROC_REGISTRY.register("SimpleWindow")
class SimpleWindow(DataProcTransform):
    """Cut each recording into frames of ``frame_size`` samples every ``stride_size * frame_size``."""

    def frames(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``x (T, C)`` -> frames ``(n, C, frame_size)`` (a view) and their start samples ``(n,)``."""
        size, hop = int(self.cfg["frame_size"]), frame_hop(self.cfg)
        if x.shape[0] < size:
            return np.zeros((0, x.shape[1], size), x.dtype), np.zeros(0, np.int64)
        view = np.lib.stride_tricks.sliding_window_view(x, size, axis=0)[::hop]  # (n, C, size)
        return view, np.arange(view.shape[0], dtype=np.int64) * hop

    def c_config(self) -> dict[str, Any]:
        return {"FE_FRAME_SIZE": int(self.cfg["frame_size"]), "FE_STRIDE_SAMPLES": frame_hop(self.cfg)}


def frame_length(cfg: dict[str, Any]) -> int:
    """Samples per frame entering feature extraction: ``frame_size``, resampled when a Downsample
    step follows SimpleWindow."""
    names = list(cfg["data_proc_transforms"])
    after = names[names.index("SimpleWindow") + 1 :] if "SimpleWindow" in names else []
    length = int(cfg["frame_size"])
    if any(DATA_PROC_REGISTRY[n] is Downsample for n in after):
        r = resample_ratio(cfg)
        length = -(-length * r.numerator // r.denominator)
    return length


def resample_ratio(cfg: dict[str, Any]) -> Fraction:
    """``new_sr / sampling_rate`` as an exact fraction (both keys must be set)."""
    sr, new_sr = cfg.get("sampling_rate"), cfg.get("new_sr")
    if not sr or not new_sr:
        raise ConfigError(
            "Downsample needs data_processing_feature_extraction.sampling_rate and .new_sr "
            f"(got sampling_rate={sr!r}, new_sr={new_sr!r}); set both in Hz, e.g. 4000 and 1000"
        )
    if new_sr > sr:
        raise ConfigError(f"Downsample: new_sr={new_sr} is above sampling_rate={sr}; it only lowers the rate")
    return Fraction(new_sr).limit_denominator(10_000) / Fraction(sr).limit_denominator(10_000)


@DATA_PROC_REGISTRY.register("Downsample", aliases=("DownSample",))
class Downsample(DataProcTransform):
    """Resample from ``sampling_rate`` to ``new_sr`` with scipy's anti-aliased polyphase filter."""

    def _resample(self, x: np.ndarray, axis: int) -> np.ndarray:
        ratio = resample_ratio(self.cfg)
        if ratio == 1:
            return x
        from scipy import signal  # scipy.signal only when a step needs it (~0.3 s, 70 MiB)

        out = signal.resample_poly(x, ratio.numerator, ratio.denominator, axis=axis)
        return out.astype(np.float32, copy=False)

    def apply_recording(self, x, targets, label, ctx):
        t = None if targets is None else self._resample(targets, 0)
        return self._resample(x, 0), t

    def apply_frames(self, x: np.ndarray, ctx: FrameContext) -> np.ndarray:
        return self._resample(x, -1)

    def c_config(self) -> dict[str, Any]:
        return {"FE_SAMPLING_RATE": self.cfg["sampling_rate"], "FE_NEW_SR": self.cfg["new_sr"]}


def gain_ranges(cfg: dict[str, Any], class_names: list[str]) -> np.ndarray:
    """``gain_variations`` -> a ``(num_classes or 1, 2)`` array of (low, high) gains."""
    gv = cfg.get("gain_variations")
    if gv is None:
        raise ConfigError(
            "GainVariation needs data_processing_feature_extraction.gain_variations: [low, high] "
            "or {class_name: [low, high]}, e.g. [0.8, 1.2]"
        )
    if isinstance(gv, dict):
        unknown = sorted(set(gv) - set(class_names))
        if unknown:
            raise ConfigError(
                f"gain_variations names classes {unknown} that are not in the data; known: {class_names}"
            )
        return np.array([gv.get(c, [1.0, 1.0]) for c in class_names], dtype=np.float64)
    return np.array([gv], dtype=np.float64)


@DATA_PROC_REGISTRY.register("GainVariation")
class GainVariation(DataProcTransform):
    """Multiply each recording (before windowing) or frame (after) by a random gain from
    ``gain_variations`` (one range, or one per class). Training only; identity otherwise."""

    random = True

    def _gains(self, n: int, labels: np.ndarray | None, ctx: FrameContext) -> np.ndarray:
        ranges = gain_ranges(self.cfg, ctx.class_names)
        idx = np.zeros(n, np.int64) if len(ranges) == 1 or labels is None else labels
        lo, hi = ranges[idx, 0], ranges[idx, 1]
        return (lo + (hi - lo) * ctx.rng.random(n)).astype(np.float32)

    def apply_recording(self, x, targets, label, ctx):
        if not ctx.training:
            return x, targets
        labels = None if label is None else np.array([label])
        return x * self._gains(1, labels, ctx)[0], targets

    def apply_frames(self, x: np.ndarray, ctx: FrameContext) -> np.ndarray:
        if not ctx.training:
            return x
        return x * self._gains(x.shape[0], ctx.labels, ctx)[:, None, None]
