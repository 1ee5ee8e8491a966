"""Basic feature extraction transforms: RAW_FE, SUBTRACT_MEAN, ROUND_OFF, CONCAT, STANDARDIZE,
ECG_NORMALIZE."""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ._base import (
    FEATURE_REGISTRY,
    ElementwiseTransform,
    FeatureTransform,
    FrameContext,
    as_float,
    sequential_sum,
)
from .c_code import CContext, CSignal, CStep, NoCImplementation, block_loops, c_float, c_table, read_float

EPS = 1e-6


def subtract_mean(x: np.ndarray) -> np.ndarray:
    """Each frame minus its mean (float32, summed in order as the C does)."""
    x = as_float(x)
    return x - (sequential_sum(x) / np.float32(x.shape[-1]))[..., None]


def c_subtract_mean(sig: CSignal) -> str:
    return (
        "float mean = 0.0f;\n"
        f"for (n = 0; n < {sig.length}; ++n) {{\n    mean = mean + {read_float(sig, 'buf[n]')};\n}}\n"
        f"mean = mean / {c_float(sig.length)};\n"
        f"for (n = 0; n < {sig.length}; ++n) {{\n    buf[n].f = {read_float(sig, 'buf[n]')} - mean;\n}}"
    )


@FEATURE_REGISTRY.register("RAW_FE")
class RawFeatures(FeatureTransform):
    """The frame samples themselves are the features; with ``dc_remove: true`` minus the frame mean."""

    def __call__(self, x, ctx):
        return subtract_mean(x) if self.cfg.get("dc_remove") else x

    def c_input_demand(self, signal, demand):
        return signal.length if self.cfg.get("dc_remove") else demand

    def c_step(self, ctx: CContext) -> CStep:
        sig = ctx.signal
        if not self.cfg.get("dc_remove"):
            return CStep(CSignal(sig.length, sig.complex, sig.integer, ctx.demand, sig.stride))
        return SubtractMean(self.cfg).c_step(ctx)


@FEATURE_REGISTRY.register("SUBTRACT_MEAN")
class SubtractMean(FeatureTransform):
    """Subtract each frame's mean (what this project called DC_REMOVE before it took Tiny ML
    Tensorlab's meaning: drop the DC bin)."""

    def __call__(self, x, ctx):
        if np.iscomplexobj(x):
            raise ConfigError("SUBTRACT_MEAN works on real samples; put it before FFT_FE")
        return subtract_mean(x)

    def c_step(self, ctx: CContext) -> CStep:
        sig = ctx.signal
        if sig.complex:
            raise NoCImplementation("SUBTRACT_MEAN needs real samples")
        return CStep(CSignal(sig.length), c_subtract_mean(sig))


@FEATURE_REGISTRY.register("ROUND_OFF")
class RoundOff(ElementwiseTransform):
    """Round to the nearest integer, halves to even (``numpy.round``; ``rintf`` in C)."""

    def __call__(self, x, ctx):
        return np.round(x) if np.iscomplexobj(x) or not np.issubdtype(x.dtype, np.integer) else x

    def c_step(self, ctx: CContext) -> CStep:
        sig = ctx.signal
        out = CSignal(sig.length, sig.complex, sig.integer, ctx.demand, sig.stride)
        if sig.integer:
            return CStep(out)
        return CStep(out, block_loops(sig, ctx.demand, "buf[o + n].f = rintf(buf[o + n].f);"), math=True)


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
    ``(N, C, F) -> (E, C, num_frame_concat, F)``; a new example starts every ``concat_stride`` frames.
    On the chip the pipeline keeps the last frames' features and forms the examples."""

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

    def c_input_demand(self, signal, demand):
        return demand

    def c_step(self, ctx: CContext) -> CStep:  # the pipeline concatenates; nothing per frame
        sig = ctx.signal
        return CStep(CSignal(sig.length, sig.complex, sig.integer, ctx.demand, sig.stride))


def _channel_feature_axes(x: np.ndarray) -> tuple[int, ...]:
    """Axes to average over so that one statistic remains per channel and per feature."""
    return tuple(a for a in range(x.ndim) if a not in (1, x.ndim - 1))


def _broadcast(stat: np.ndarray, x: np.ndarray) -> np.ndarray:
    shape = [1] * x.ndim
    shape[1], shape[-1] = stat.shape
    return stat.reshape(shape)


@FEATURE_REGISTRY.register("STANDARDIZE")
class Standardize(ElementwiseTransform):
    """Standardise each channel and feature with the mean and std of the training split:
    ``(x - mean) / (std + 1e-6)`` (this project's NORMALIZE before NORMALIZE took Tiny ML
    Tensorlab's meaning: divide by the frame size).

    The statistics are fitted when the training split is processed (``ctx.fit``), kept in
    ``SplitData.stats['standardize_mean'|'standardize_std']`` (shape ``(C, F)``), reused for the
    other splits and compiled into the C.
    """

    rowwise = False  # the statistics need every row

    def __call__(self, x, ctx):
        if np.iscomplexobj(x):
            raise ConfigError(
                "STANDARDIZE works on real values but gets a complex spectrum; put ABS before it"
            )
        x = as_float(x)
        if ctx.fit:
            axes = _channel_feature_axes(x)
            ctx.stats["standardize_mean"] = x.mean(axis=axes).astype(np.float32)
            ctx.stats["standardize_std"] = x.std(axis=axes).astype(np.float32)
        if "standardize_mean" not in ctx.stats:
            raise ConfigError(
                "STANDARDIZE needs statistics fitted on the training split; load the train split first"
            )
        mean, den = self.tables(ctx.stats)
        if mean.shape != (x.shape[1], x.shape[-1]):
            raise ConfigError(
                f"STANDARDIZE statistics have shape {mean.shape} but the features have "
                f"{(x.shape[1], x.shape[-1])} (channels, features); the config changed since they were fitted"
            )
        return (x - _broadcast(mean, x)) / _broadcast(den, x)

    @staticmethod
    def tables(stats: dict) -> tuple[np.ndarray, np.ndarray]:
        """float32 ``mean`` and ``std + 1e-6`` of shape ``(C, F)``."""
        mean = np.asarray(stats["standardize_mean"], np.float32)
        return mean, np.asarray(stats["standardize_std"], np.float32) + np.float32(EPS)

    def c_step(self, ctx: CContext) -> CStep:
        sig = ctx.signal
        if "standardize_mean" not in ctx.stats:
            raise NoCImplementation("STANDARDIZE needs the train split's statistics (stats) to compile")
        mean, den = self.tables(ctx.stats)
        if mean.shape != (ctx.channels, sig.length):
            raise ConfigError(
                f"STANDARDIZE statistics have shape {mean.shape}; the C front end has "
                f"{(ctx.channels, sig.length)} (channels, features)"
            )
        m, d = f"{ctx.prefix}_mean", f"{ctx.prefix}_den"
        body = (
            f"for (n = 0; n < {ctx.demand}; ++n) {{\n"
            f"    buf[n].f = ({read_float(sig, 'buf[n]')} - {m}[channel * {sig.length} + n]) / "
            f"{d}[channel * {sig.length} + n];\n}}"
        )
        decls = (c_table("float", m, mean), c_table("float", d, den))
        return CStep(CSignal(sig.length, avail=ctx.demand), body, decls=decls)


@FEATURE_REGISTRY.register("ECG_NORMALIZE")
class EcgNormalize(FeatureTransform):
    """Standardise every frame of every channel by its own mean and std (no dataset statistics)."""

    def __call__(self, x, ctx):
        x = as_float(x)
        n = np.float32(x.shape[-1])
        mean = sequential_sum(x) / n
        d = x - mean[..., None]
        std = np.sqrt(sequential_sum(d * d) / n)
        return d / (std + np.float32(EPS))[..., None]

    def c_step(self, ctx: CContext) -> CStep:
        sig = ctx.signal
        if sig.complex:
            raise NoCImplementation("ECG_NORMALIZE needs real values")
        length = c_float(sig.length)
        body = (
            "float mean = 0.0f, var = 0.0f, den;\n"
            f"for (n = 0; n < {sig.length}; ++n) {{\n    mean = mean + {read_float(sig, 'buf[n]')};\n}}\n"
            f"mean = mean / {length};\n"
            f"for (n = 0; n < {sig.length}; ++n) {{\n"
            f"    const float d = {read_float(sig, 'buf[n]')} - mean;\n"
            "    buf[n].f = d;\n    var = var + d * d;\n}\n"
            f"den = sqrtf(var / {length}) + {c_float(EPS)};\n"
            f"for (n = 0; n < {sig.length}; ++n) {{\n    buf[n].f = buf[n].f / den;\n}}"
        )
        return CStep(CSignal(sig.length), body, math=True)
