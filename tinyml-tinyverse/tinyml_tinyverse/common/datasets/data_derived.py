"""Data config keys the data decides when the user leaves them unset: the frame size and the input
normalisation. ``prepare_dataset`` finds them (it reads every recording anyway) and records them in
``dataset_info.yaml`` (``inferred``); ``load_split`` and ``model_input_kwargs`` apply them to a data
config that leaves those keys unset, so every later step sees the same numbers.

- ``frame_size``: recordings that all have one length of at most AUTO_FRAME_MAX samples are examples
  (UCR-style series, gestures, events), not streams: each becomes one window of its whole length.
  Shorter than the default frame they used to be refused as too short; up to 8 default frames,
  cutting them into 256-sample windows lost the shape that tells the classes apart (OSULeaf, 427
  samples: 0.77 test accuracy with 256-sample windows, about 0.9 with whole series; docs/training.md).
  Longer or varying recordings keep the default frame. Not for forecasting (a window must leave room
  for the horizon), nor with Downsample or CONCAT.
- ``feat_ext_transform: [STANDARDIZE]`` (per-channel standardisation with the train split's statistics):
  when the input channels have such different ranges that one int8 input (one scale for all channels)
  would give a channel fewer than STANDARDIZE_MIN_LEVELS of its 256 levels. CardanoSentiment (a
  sentiment score around 0.5 next to a trading volume in thousands): the int8 model lost its
  sentiment input (test RMSE 0.68 against 0.38 in float); standardised, int8 equals float (0.31).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ..transforms import PRESET_REGISTRY
from .data_config import DATA_CONFIG_DEFAULTS

AUTO_FRAME_TASKS = ("classification", "regression", "anomalydetection")
AUTO_FRAME_MAX = 8 * DATA_CONFIG_DEFAULTS["frame_size"]
STANDARDIZE_MIN_LEVELS = 16  # of an int8 input's 256 levels, the fewest a channel may get without STANDARDIZE


def _preset(cfg: dict[str, Any]) -> dict[str, Any] | None:
    name = cfg.get("feature_extraction_name")
    if isinstance(name, str) and not name.startswith("Custom") and name in PRESET_REGISTRY:
        return PRESET_REGISTRY[name]
    return None


def frame_size_is_auto(cfg: dict[str, Any] | None) -> bool:
    """A (user's, unvalidated) data config leaves the frame size to the data: no ``frame_size`` (or
    null) and no preset that sets one."""
    cfg = cfg or {}
    preset = _preset(cfg)
    return cfg.get("frame_size") is None and (preset is None or "frame_size" not in preset)


def features_are_auto(cfg: dict[str, Any] | None) -> bool:
    """A data config leaves the feature extraction to the data: no ``feat_ext_transform`` and no
    ``feature_extraction_name`` (raw windows)."""
    cfg = cfg or {}
    return not cfg.get("feat_ext_transform") and cfg.get("feature_extraction_name") is None


def infer_frame_size(lengths: Iterable[int], task: str, cfg: dict[str, Any]) -> int | None:
    """One window per recording: the recordings' length when they all have one of at most
    AUTO_FRAME_MAX samples and the (validated) ``cfg`` cuts plain frames; else None."""
    lengths = {int(n) for n in lengths}
    if task not in AUTO_FRAME_TASKS or len(lengths) != 1:
        return None
    (length,) = lengths
    plain = "CONCAT" not in cfg["feat_ext_transform"] and not (
        {"Downsample", "DownSample"} & set(cfg["data_proc_transforms"])
    )
    return length if plain and 1 <= length <= AUTO_FRAME_MAX else None


def channel_range(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel ``(min, max)`` of ``x (T, C)``, NaN left out (as ``np.nanmin`` / ``np.nanmax``).

    On a copy with the channels as rows: reduced along the rows of a ``(T, 3)`` array the same takes
    about 50 times longer (1.2 ms for 20000 rows), a fifth of the dataset stage's time on the benchmark."""
    xt = np.ascontiguousarray(np.asarray(x).T)
    return np.fmin.reduce(xt, axis=1), np.fmax.reduce(xt, axis=1)


def needs_normalize(channel_min: np.ndarray, channel_max: np.ndarray) -> bool:
    """Two or more channels, and one of them would get fewer than STANDARDIZE_MIN_LEVELS int8 levels of a
    single input scale covering all channels."""
    lo, hi = np.asarray(channel_min, np.float64), np.asarray(channel_max, np.float64)
    if lo.size < 2:
        return False
    total = max(float(hi.max() - lo.min()), 0.0)
    return total > 0 and float((hi - lo).min()) * 256 / total < STANDARDIZE_MIN_LEVELS


def infer_settings(
    raw_cfg: dict[str, Any] | None,
    cfg: dict[str, Any],
    task: str,
    lengths: Iterable[int],
    channel_min: np.ndarray | None,
    channel_max: np.ndarray | None,
) -> dict[str, Any]:
    """The keys the data sets for a user's ``raw_cfg`` (validated: ``cfg``); ``{}`` when none. The
    channels' ranges are needed only when ``features_are_auto(raw_cfg)``."""
    inferred: dict[str, Any] = {}
    if frame_size_is_auto(raw_cfg):
        frame = infer_frame_size(lengths, task, cfg)
        if frame:
            inferred["frame_size"] = frame
    if features_are_auto(raw_cfg) and needs_normalize(channel_min, channel_max):
        inferred["feat_ext_transform"] = ["STANDARDIZE"]
    return inferred


def with_inferred(cfg: dict[str, Any] | None, inferred: dict[str, Any] | None) -> dict[str, Any]:
    """``cfg`` with the keys the data set (``inferred``) where it leaves them to the data."""
    cfg = dict(cfg or {})
    inferred = inferred or {}
    if "frame_size" in inferred and frame_size_is_auto(cfg):
        cfg["frame_size"] = int(inferred["frame_size"])
    if "feat_ext_transform" in inferred and features_are_auto(cfg):
        cfg["feat_ext_transform"] = list(inferred["feat_ext_transform"])
    return cfg
