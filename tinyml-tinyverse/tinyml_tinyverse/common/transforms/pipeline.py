"""Run the configured data processing and feature extraction over many recordings at once.

Order: the ``data_proc_transforms`` before ``SimpleWindow`` run per recording; ``SimpleWindow``
cuts frames (if it is not listed it runs after the listed steps); the steps after it and every
``feat_ext_transform`` step run on all frames of all recordings together, in the order written.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigError
from ._base import DATA_PROC_REGISTRY, FEATURE_REGISTRY, DataProcTransform, FeatureTransform, FrameContext
from .data_processing import Downsample, SimpleWindow, frame_hop, resample_ratio
from .spectral import Fft, FftPositiveHalf, FftPositiveHalfFused
from .statistics import FrameStatistic, StatisticsBlock


@dataclass
class Recording:
    """One recording: ``x (T, C)`` float32 inputs, optional ``targets (T, K)``, optional class index."""

    x: np.ndarray
    targets: np.ndarray | None = None
    label: int | None = None


@dataclass
class Features:
    """Output of :func:`extract_features`: one row per example."""

    X: np.ndarray  # (N, C, H, W) float32
    file_ids: np.ndarray  # (N,) index of the recording
    starts: np.ndarray  # (N,) first sample of the example (in the processed recording)
    stops: np.ndarray  # (N,) one past its last sample
    targets: list[np.ndarray | None] = field(default_factory=list)  # processed per recording
    lengths: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass
class Pipeline:
    before_window: list[DataProcTransform]
    window: SimpleWindow
    after_window: list[DataProcTransform]
    features: list[FeatureTransform]
    feature_names: list[str] = field(default_factory=list)  # one per entry of ``features``


def feature_steps(cfg: dict[str, Any], fuse: bool = True) -> tuple[list[FeatureTransform], list[str]]:
    """The ``feat_ext_transform`` steps in order, consecutive statistics joined into one block;
    ``fuse``: FFT_FE + FFT_POS_HALF as one step (the same values, faster)."""
    steps: list[FeatureTransform] = []
    names: list[str] = []
    for name in cfg["feat_ext_transform"]:
        step = FEATURE_REGISTRY[name](cfg)
        if fuse and isinstance(step, FftPositiveHalf) and steps and type(steps[-1]) is Fft:
            steps[-1] = FftPositiveHalfFused(cfg, steps[-1], step)
            names[-1] += f"+{name}"
            continue
        if isinstance(step, FrameStatistic):
            if steps and isinstance(steps[-1], StatisticsBlock):
                steps[-1].members.append((name, step))
                names[-1] += f"+{name}"
                continue
            step = StatisticsBlock(cfg, [(name, step)])
        steps.append(step)
        names.append(name)
    return steps, names


def build_pipeline(cfg: dict[str, Any], fuse: bool = True) -> Pipeline:
    """Instantiate the transforms a validated data config lists (unknown names raise); ``fuse``
    False keeps every listed step apart (the C generator)."""
    names = list(cfg["data_proc_transforms"])
    if "SimpleWindow" not in names:
        names.append("SimpleWindow")
    cut = names.index("SimpleWindow")
    before = [DATA_PROC_REGISTRY[n](cfg) for n in names[:cut]]
    after = [DATA_PROC_REGISTRY[n](cfg) for n in names[cut + 1 :]]
    features, feature_names = feature_steps(cfg, fuse)
    return Pipeline(before, SimpleWindow(cfg), after, features, feature_names)


def min_recording_length(cfg: dict[str, Any], extra_after: int = 0) -> int:
    """Fewest raw samples a recording needs for one example (plus ``extra_after`` samples, e.g. a
    forecasting horizon, at the processed rate)."""
    k = int(cfg["num_frame_concat"]) if "CONCAT" in cfg["feat_ext_transform"] else 1
    need = int(cfg["frame_size"]) + (k - 1) * frame_hop(cfg) + extra_after
    names = list(cfg["data_proc_transforms"])
    before = names[: names.index("SimpleWindow")] if "SimpleWindow" in names else names
    ratio = 1.0
    for n in before:
        if DATA_PROC_REGISTRY[n] is Downsample:
            ratio *= float(resample_ratio(cfg))
    return int(math.ceil(need / ratio))


CHUNK_ROWS = 256  # frames per chunk for row-wise steps: keeps temporaries in cache


def _run_in_chunks(steps: list[FeatureTransform], x: np.ndarray, ctx: FrameContext) -> np.ndarray:
    """Run row-wise ``steps`` over blocks of ``CHUNK_ROWS`` rows and stack the results."""
    out = []
    for start in range(0, len(x), CHUNK_ROWS):
        rows = np.arange(start, min(start + CHUNK_ROWS, len(x)))
        part, sub = x[rows], ctx.take(rows)
        for step in steps:
            part = step(part, sub)
        out.append(part)
    return np.concatenate(out)


def extract_features(
    recordings: list[Recording],
    cfg: dict[str, Any],
    *,
    class_names: list[str] | None = None,
    training: bool = False,
    fit: bool = False,
    stats: dict[str, Any] | None = None,
    seed: int = 0,
) -> Features:
    """Process ``recordings`` with the validated config ``cfg``; vectorised over all frames.

    ``training`` enables random data processing (GainVariation); ``fit`` fits statistics
    (NORMALIZE) that are otherwise read from ``stats``.
    """
    pipe = build_pipeline(cfg)
    rng = np.random.default_rng(seed)
    ctx = FrameContext(
        np.zeros(0, np.int64),
        np.zeros(0, np.int64),
        np.zeros(0, np.int64),
        class_names=list(class_names or []),
        training=training,
        fit=fit,
        rng=rng,
        stats=dict(stats or {}),
    )
    frames, file_ids, starts, targets, lengths, labels = [], [], [], [], [], []
    for i, rec in enumerate(recordings):
        x, t = rec.x, rec.targets
        for step in pipe.before_window:
            x, t = step.apply_recording(x, t, rec.label, ctx)
        f, s = pipe.window.frames(x)
        frames.append(f)
        starts.append(s)
        file_ids.append(np.full(len(s), i, np.int64))
        labels.append(np.full(len(s), -1 if rec.label is None else rec.label, np.int64))
        targets.append(t)
        lengths.append(x.shape[0])
    n_ch = recordings[0].x.shape[1] if recordings else 1
    size = int(cfg["frame_size"])
    x = (
        np.concatenate(frames).astype(np.float32, copy=False)
        if frames
        else np.zeros((0, n_ch, size), np.float32)
    )
    ctx.file_ids = np.concatenate(file_ids) if file_ids else np.zeros(0, np.int64)
    ctx.starts = np.concatenate(starts) if starts else np.zeros(0, np.int64)
    ctx.stops = ctx.starts + size
    ctx.labels = np.concatenate(labels) if labels else None
    for step in pipe.after_window:
        x = step.apply_frames(x, ctx)
    n_rowwise = next((i for i, st in enumerate(pipe.features) if not st.rowwise), len(pipe.features))
    if n_rowwise and len(x):
        x = _run_in_chunks(pipe.features[:n_rowwise], x, ctx)
    for step in pipe.features[n_rowwise:]:
        if step.regroups:
            x, ctx = step.regroup(x, ctx)
        else:
            x = step(x, ctx)
    if np.iscomplexobj(x):
        raise ConfigError(
            "feat_ext_transform ends with complex values; add ABS (or Q15_MAG) after FFT_FE / FFT_Q15"
        )
    x = np.asarray(x, np.float32)
    if x.ndim == 3:
        x = x[..., None]
    elif x.ndim == 4 and not cfg.get("output_2d"):
        x = x.reshape(x.shape[0], x.shape[1], x.shape[2] * x.shape[3], 1)  # explicit: 0 examples too
    if cfg.get("stacking") == "1D":  # the channels one after the other in a single input channel
        x = x.reshape(x.shape[0], 1, x.shape[1] * x.shape[2], x.shape[3])
    out_stats = {k: v for k, v in ctx.stats.items()}
    return Features(x, ctx.file_ids, ctx.starts, ctx.stops, targets, np.array(lengths, np.int64), out_stats)
