"""Per-window targets of regression (a reduction of the target columns over the window) and
forecasting (the next ``horizon`` samples after the window)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..task_names import get_task_record


def reduce_window(view: np.ndarray, how: str) -> np.ndarray:
    if how == "last":
        return view[..., -1]
    if how == "first":
        return view[..., 0]
    return {"mean": np.mean, "median": np.median, "min": np.min, "max": np.max}[how](view, axis=-1)


def window_targets(task: str, feats, cfg: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Per-example targets for regression / forecasting, and the rows kept."""
    keep = np.ones(len(feats.file_ids), bool)
    if not get_task_record(task).needs_horizon:  # regression: a reduction over the window
        out = np.zeros((len(keep), feats.targets[0].shape[1] if feats.targets else 0), np.float32)
        for i, t in enumerate(feats.targets):
            rows = np.flatnonzero(feats.file_ids == i)
            if len(rows) == 0:
                continue
            span = int(feats.stops[rows[0]] - feats.starts[rows[0]])
            view = np.lib.stride_tricks.sliding_window_view(t, min(span, len(t)), axis=0)
            out[rows] = reduce_window(view[feats.starts[rows]], cfg["target_reduction"])
        return out, keep
    h = int(cfg["horizon"])
    out = np.zeros((len(keep), h, feats.targets[0].shape[1] if feats.targets else 0), np.float32)
    for i, t in enumerate(feats.targets):
        rows = np.flatnonzero(feats.file_ids == i)
        ok = feats.stops[rows] + h <= len(t)
        keep[rows[~ok]] = False
        rows = rows[ok]
        out[rows] = t[feats.stops[rows][:, None] + np.arange(h)[None, :]]
    return out, keep
