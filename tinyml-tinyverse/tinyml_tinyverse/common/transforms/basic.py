"""Basic feature extraction transforms: RAW_FE, CONCAT, NORMALIZE, ECG_NORMALIZE."""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ._base import FEATURE_REGISTRY, FeatureTransform, FrameContext

EPS = 1e-6


@FEATURE_REGISTRY.register("RAW_FE")
class RawFeatures(FeatureTransform):
    """The frame samples themselves are the features (identity)."""

    def __call__(self, x, ctx):
        return x


def concat_index(file_ids: np.ndarray, k: int, stride: int) -> np.ndarray:
    """Row indices ``(E, k)`` of ``k`` consecutive frames of one file every ``stride`` frames.

    ``file_ids`` must hold each file's frames contiguously and in time order.
    """
    if len(file_ids) == 0:
        return np.zeros((0, k), np.int64)
    change = np.flatnonzero(np.diff(file_ids)) + 1
    first = np.concatenate([[0], change])
    count = np.diff(np.concatenate([first, [len(file_ids)]]))
    n_groups = np.maximum(0, (count - k) // stride + 1)
    group_file_start = np.repeat(first, n_groups)
    offset_in_file = np.arange(n_groups.sum()) - np.repeat(np.cumsum(n_groups) - n_groups, n_groups)
    starts = group_file_start + offset_in_file * stride
    return starts[:, None] + np.arange(k)[None, :]


@FEATURE_REGISTRY.register("CONCAT")
class Concat(FeatureTransform):
    """Stack ``num_frame_concat`` consecutive frames of one recording into one example:
    ``(N, C, F) -> (E, C, num_frame_concat, F)``; a new example starts every ``concat_stride`` frames."""

    regroups = True
    rowwise = False

    def regroup(self, x: np.ndarray, ctx: FrameContext) -> tuple[np.ndarray, FrameContext]:
        k, stride = int(self.cfg["num_frame_concat"]), int(self.cfg["concat_stride"])
        if x.ndim != 3:
            raise ConfigError("CONCAT appears twice in feat_ext_transform; list it once")
        idx = concat_index(ctx.file_ids, k, stride)
        out = np.moveaxis(x[idx], 1, 2)  # (E, k, C, F) -> (E, C, k, F)
        new = ctx.take(idx[:, 0])
        new.stops = ctx.stops[idx[:, -1]] if len(idx) else new.stops
        return out, new

    def c_config(self):
        return {"FE_NUM_FRAME_CONCAT": int(self.cfg["num_frame_concat"])}


def _channel_feature_axes(x: np.ndarray) -> tuple[int, ...]:
    """Axes to average over so that one statistic remains per channel and per feature."""
    return tuple(a for a in range(x.ndim) if a not in (1, x.ndim - 1))


def _broadcast(stat: np.ndarray, x: np.ndarray) -> np.ndarray:
    shape = [1] * x.ndim
    shape[1], shape[-1] = stat.shape
    return stat.reshape(shape)


@FEATURE_REGISTRY.register("NORMALIZE")
class Normalize(FeatureTransform):
    """Standardise each channel and feature with the mean and std of the training split.

    The statistics are fitted when the training split is processed (``ctx.fit``), kept in
    ``SplitData.stats['normalize_mean'|'normalize_std']`` (shape ``(C, F)``), reused for the other
    splits and written into ``user_input_config.h``.
    """

    rowwise = False  # the statistics need every row

    def __call__(self, x, ctx):
        if ctx.fit:
            axes = _channel_feature_axes(x)
            ctx.stats["normalize_mean"] = x.mean(axis=axes).astype(np.float32)
            ctx.stats["normalize_std"] = x.std(axis=axes).astype(np.float32)
        if "normalize_mean" not in ctx.stats:
            raise ConfigError(
                "NORMALIZE needs statistics fitted on the training split; load the train split first"
            )
        mean = np.asarray(ctx.stats["normalize_mean"], np.float32)
        std = np.asarray(ctx.stats["normalize_std"], np.float32)
        if mean.shape != (x.shape[1], x.shape[-1]):
            raise ConfigError(
                f"NORMALIZE statistics have shape {mean.shape} but the features have "
                f"{(x.shape[1], x.shape[-1])} (channels, features); the config changed since they were fitted"
            )
        return (x - _broadcast(mean, x)) / (_broadcast(std, x) + EPS)


@FEATURE_REGISTRY.register("ECG_NORMALIZE")
class EcgNormalize(FeatureTransform):
    """Standardise every frame of every channel by its own mean and std (no dataset statistics)."""

    def __call__(self, x, ctx):
        mean = x.mean(axis=-1, keepdims=True)
        std = x.std(axis=-1, keepdims=True)
        return (x - mean) / (std + EPS)
