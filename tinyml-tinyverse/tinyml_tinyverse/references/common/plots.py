"""PNG plots written with matplotlib's Agg canvas (no GUI, no global pyplot state).

Inside ``with deferred() as calls:`` a plot function draws nothing and records its call instead;
:func:`save_calls` writes them to a file (JSON and arrays, no pickle) and :func:`draw_saved` draws them
in a process that never imported torch (the modelmaker's training stage: matplotlib, 65 MiB, is not
added to the training process's memory).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .artifacts import atomic_path

if TYPE_CHECKING:  # matplotlib is imported only when a plot is drawn (at the end of training)
    from matplotlib.figure import Figure

_recording: list[tuple[str, list, dict]] | None = None  # the calls recorded inside deferred()
_PLOTS: dict[str, Callable] = {}


@contextlib.contextmanager
def deferred() -> Iterator[list[tuple[str, list, dict]]]:
    """Within the block the plot functions record their calls (name, args, kwargs) in the list yielded."""
    global _recording
    outer, _recording = _recording, []
    try:
        yield _recording
    finally:
        _recording = outer


def _deferrable(fn: Callable) -> Callable:
    _PLOTS[fn.__name__] = fn

    @functools.wraps(fn)
    def plot(*args: Any, **kwargs: Any) -> None:
        if _recording is not None:
            _recording.append((fn.__name__, list(args), dict(kwargs)))
            return None
        return fn(*args, **kwargs)

    return plot


def _encode(obj: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(obj, np.ndarray):
        arrays[f"a{len(arrays)}"] = obj
        return {"__array__": f"a{len(arrays) - 1}"}
    if isinstance(obj, dict):
        return {"__dict__": [[_encode(k, arrays), _encode(v, arrays)] for k, v in obj.items()]}
    if isinstance(obj, list | tuple):
        return [_encode(v, arrays) for v in obj]
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _decode(obj: Any, arrays: Any) -> Any:
    if isinstance(obj, dict):
        if "__array__" in obj:
            return arrays[obj["__array__"]]
        return {_decode(k, arrays): _decode(v, arrays) for k, v in obj["__dict__"]}
    if isinstance(obj, list):
        return [_decode(v, arrays) for v in obj]
    return obj


def save_calls(path: str | os.PathLike, calls: list[tuple[str, list, dict]]) -> None:
    """Write recorded plot calls to ``path`` (an ``.npz``: the arrays, and the calls as JSON)."""
    arrays: dict[str, np.ndarray] = {}
    meta = json.dumps(
        [[name, _encode(args, arrays), _encode(kwargs, arrays)] for name, args, kwargs in calls]
    )
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, __calls__=np.array(meta), **arrays)


def draw_saved(path: str | os.PathLike) -> list[Path]:
    """Draw the plot calls :func:`save_calls` wrote into ``path``; returns the files drawn."""
    with np.load(path, allow_pickle=False) as z:
        calls = json.loads(str(z["__calls__"]))
        arrays = {k: z[k] for k in z.files if k != "__calls__"}
    drawn = []
    for name, args, kwargs in calls:
        if name not in _PLOTS:
            raise ValueError(f"{path}: {name!r} is not a plot of {__name__}")
        args, kwargs = _decode(args, arrays), _decode(kwargs, arrays)
        _PLOTS[name](*args, **kwargs)
        drawn.append(Path(args[0] if args else kwargs["path"]))
    return drawn


def _save(fig: Figure, path: str | os.PathLike) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)


@_deferrable
def plot_curves(
    path: str | os.PathLike,
    epochs: Sequence[int],
    curves: dict[str, Sequence[float]],
    ylabel: str,
    best_epoch: int | None = None,
) -> None:
    """Lines over epochs (e.g. train and val loss), with the best epoch marked."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    for label, values in curves.items():
        ax.plot(epochs, values, marker="o", markersize=3, label=label)
    if best_epoch is not None:
        ax.axvline(best_epoch, color="grey", linestyle="--", label=f"best epoch {best_epoch}")
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend()
    _save(fig, path)


@_deferrable
def plot_confusion_matrix(
    path: str | os.PathLike, cm: np.ndarray, class_names: Sequence[str], title: str = ""
) -> None:
    """Counts with row-normalised colours; rows are the true classes."""
    cm = np.asarray(cm)
    k = len(class_names)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(1.2 + 0.7 * k, 1.0 + 0.6 * k))
    ax = fig.add_subplot()
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(k):
        for j in range(k):
            ax.text(
                j, i, str(cm[i, j]), ha="center", va="center", color="white" if norm[i, j] > 0.5 else "black"
            )
    ax.set_xticks(range(k), class_names, rotation=45, ha="right")
    ax.set_yticks(range(k), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or "confusion matrix")
    _save(fig, path)


@_deferrable
def plot_roc(path: str | os.PathLike, curves: dict[str, tuple[np.ndarray, np.ndarray, float]]) -> None:
    """ROC curves: ``{label: (fpr, tpr, auc)}``."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 5))
    ax = fig.add_subplot()
    for label, (fpr, tpr, auc) in curves.items():
        ax.plot(fpr, tpr, label=f"{label} (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("ROC (one vs rest)")
    ax.legend(fontsize="small")
    _save(fig, path)


@_deferrable
def plot_pred_vs_true(
    path: str | os.PathLike, y_true: np.ndarray, y_pred: np.ndarray, names: Sequence[str]
) -> None:
    """Scatter of predicted against true values, one panel per target."""
    y_true = np.asarray(y_true).reshape(len(y_true), -1)
    y_pred = np.asarray(y_pred).reshape(len(y_pred), -1)
    n = y_true.shape[1]
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4 * n, 4))
    for i in range(n):
        ax = fig.add_subplot(1, n, i + 1)
        ax.scatter(y_true[:, i], y_pred[:, i], s=6, alpha=0.6)
        lo, hi = (
            float(min(y_true[:, i].min(), y_pred[:, i].min())),
            float(max(y_true[:, i].max(), y_pred[:, i].max())),
        )
        ax.plot([lo, hi], [lo, hi], color="grey", linestyle="--")
        ax.set_xlabel("true")
        ax.set_ylabel("predicted")
        ax.set_title(str(names[i]) if i < len(names) else f"target {i}")
    _save(fig, path)


@_deferrable
def plot_forecast(
    path: str | os.PathLike, y_true: np.ndarray, y_pred: np.ndarray, names: Sequence[str], samples: int = 3
) -> None:
    """Forecast against actual over the horizon for a few test windows, one row per variable."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)  # (N, horizon, V)
    n_var = y_true.shape[2]
    picks = np.linspace(0, len(y_true) - 1, num=min(samples, len(y_true))).astype(int)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4 * len(picks), 2.5 * n_var))
    steps = np.arange(1, y_true.shape[1] + 1)
    for v in range(n_var):
        for j, idx in enumerate(picks):
            ax = fig.add_subplot(n_var, len(picks), v * len(picks) + j + 1)
            ax.plot(steps, y_true[idx, :, v], marker="o", markersize=3, label="actual")
            ax.plot(steps, y_pred[idx, :, v], marker="x", markersize=3, label="forecast")
            ax.set_title(f"{names[v] if v < len(names) else v}, window {idx}", fontsize="small")
            ax.set_xticks(steps)
            ax.set_xlabel("horizon step")
            if j == 0 and v == 0:
                ax.legend(fontsize="small")
    _save(fig, path)


@_deferrable
def plot_error_histogram(
    path: str | os.PathLike, errors: np.ndarray, labels: np.ndarray, threshold: float
) -> None:
    """Reconstruction-error histogram of normal and anomalous windows with the threshold line."""
    errors, labels = np.asarray(errors), np.asarray(labels)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    bins = np.histogram_bin_edges(errors, bins=40) if errors.size else 10
    for value, name in ((0, "normal"), (1, "anomaly")):
        sel = errors[labels == value]
        if sel.size:
            ax.hist(sel, bins=bins, alpha=0.6, label=f"{name} ({sel.size})")
    ax.axvline(threshold, color="red", linestyle="--", label=f"threshold {threshold:.4g}")
    ax.set_xlabel("reconstruction error (MSE)")
    ax.set_ylabel("windows")
    ax.legend()
    _save(fig, path)
