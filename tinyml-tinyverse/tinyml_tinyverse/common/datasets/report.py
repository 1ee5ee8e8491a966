"""What the dataset stage leaves for a user to look at: ``dataset_summary.yaml`` (files and
windows per class per split), ``recordings_per_class.png``, ``class_counts.png`` and
``feature_pca.png`` (2-D PCA of the extracted features, coloured by class or target).

The plots are drawn from thinned data: a few recordings per class, their first samples reduced to a
min/max envelope of at most ``MAX_TRACE_POINTS`` points, and at most ``MAX_PCA_POINTS`` windows.
``write_report(..., plots="later")`` keeps that data in ``plots_pending.npz`` and
:func:`draw_pending_plots` draws it when the caller is ready (the modelmaker run does it after its
last stage, off the path from the command to the first training epoch). matplotlib is imported only
to draw.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from .. import run_files
from ..task_names import get_task_record
from .layout import SPLITS
from .readers import read_recording

MAX_PCA_POINTS = 3000
MAX_TRACE_POINTS = 600  # per drawn trace: 300 (min, max) pairs
MAX_CLASSES_DRAWN = 10  # rows of recordings_per_class.png
SAMPLES_DRAWN = 2000  # first samples of each drawn recording
PENDING_PLOTS = run_files.PENDING_PLOTS
PLOT_FILES = ("recordings_per_class.png", "class_counts.png", "feature_pca.png")


def _save(fig, path: Path) -> None:
    """Write ``fig`` as PNG, cropped to what is drawn (legends beside the axes included) unless its
    layout already fits (``fig.laid_out``): cropping draws the figure twice."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=90, bbox_inches=None if getattr(fig, "laid_out", False) else "tight")
    os.replace(tmp, path)


def pca_2d(x: np.ndarray) -> np.ndarray:
    """Project rows of ``x`` onto their first two principal components.

    From the eigenvectors of the covariance: one matrix product and a small symmetric eigenproblem,
    where an SVD of the data thrashes a busy machine's BLAS threads for seconds."""
    x = x.reshape(len(x), -1).astype(np.float32)  # single precision: half the memory, enough to draw
    x -= x.mean(axis=0)
    _, vectors = np.linalg.eigh((x.T @ x).astype(np.float64))
    pcs = x @ vectors[:, ::-1][:, :2].astype(np.float32)
    return np.pad(pcs, ((0, 0), (0, 2 - pcs.shape[1]))) if pcs.shape[1] < 2 else pcs


def thin_trace(x: np.ndarray, max_points: int = MAX_TRACE_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """``(sample index, values)`` of ``x (T, C)`` with at most ``max_points`` rows: the min and max of
    each run of samples, so peaks and the envelope look as in the full trace."""
    n = len(x)
    if n <= max_points:
        return np.arange(n, dtype=np.float32), np.asarray(x, np.float32)
    step = -(-n // (max_points // 2))
    runs = x[: n // step * step].reshape(-1, step, x.shape[1])
    values = np.empty((2 * len(runs), x.shape[1]), np.float32)
    values[0::2], values[1::2] = runs.min(axis=1), runs.max(axis=1)
    index = np.repeat(np.arange(len(runs)) * step, 2).astype(np.float32)
    index[1::2] += step - 1
    return index, values


def recording_traces(
    info, cfg: dict[str, Any], per_class: int = 3, max_samples: int = SAMPLES_DRAWN
) -> list[tuple[str, str, np.ndarray, np.ndarray]]:
    """``(class or "recordings", file name, sample index, values)`` of the first ``per_class``
    recordings of each class (of the first ``MAX_CLASSES_DRAWN`` classes), first ``max_samples``
    samples, thinned."""
    groups: dict[str, list[str]] = {}
    for f in sorted(set().union(*info.splits.values())):
        groups.setdefault(f.split("/", 1)[0] if info.class_names else "recordings", []).append(f)
    traces = []
    for name, files in sorted(groups.items())[:MAX_CLASSES_DRAWN]:
        for rel in files[:per_class]:
            x = read_recording(info.root / rel, cfg, info.task).x[:max_samples]
            traces.append((name, rel.split("/")[-1], *thin_trace(x)))
    return traces


def draw_recordings(
    traces: list[tuple[str, str, np.ndarray, np.ndarray]],
    names: list[str],
    path: Path,
    title: str,
    per_class: int = 3,
) -> None:
    from matplotlib.figure import Figure

    rows = list(dict.fromkeys(t[0] for t in traces))
    height = 2.2 * len(rows) + 0.4
    fig = Figure(figsize=(10, height))
    # one time axis for all, one value axis per class: tick labels on the outer axes only (a third
    # of the text to lay out; text is most of the drawing time)
    axes = fig.subplots(len(rows), per_class, sharex=True, sharey="row", squeeze=False)
    lines: list = []
    drawn_in_row: dict[str, int] = {}
    for name, file, index, values in traces:
        col = drawn_in_row[name] = drawn_in_row.get(name, -1) + 1
        ax = axes[rows.index(name), col]
        drawn = ax.plot(index, values, linewidth=0.6)
        lines = lines or drawn
        ax.set_title(f"{name}: {file}", fontsize=8)
        ax.tick_params(labelsize=6)
        ax.locator_params(nbins=4)
    for ax in axes.flat:
        ax.label_outer()
        ax.set_visible(bool(ax.lines))  # a class with fewer recordings than columns
    fig.suptitle(title)
    fig.subplots_adjust(
        left=0.06, right=0.98, top=1 - 0.55 / height, bottom=0.7 / height, hspace=0.4, wspace=0.08
    )
    if lines and len(names) == len(lines) and len(names) <= 12:  # which colour is which variable
        fig.legend(lines, names, loc="lower center", ncol=min(len(names), 6), fontsize=8, frameon=False)
    fig.laid_out = True  # for _save: everything lies inside the figure, no cropping pass needed
    _save(fig, path)


def plot_recordings(
    info, cfg: dict[str, Any], path: Path, per_class: int = 3, max_samples: int = SAMPLES_DRAWN
) -> None:
    """``recordings_per_class.png``: the first samples of a few recordings per class, every input."""
    traces = recording_traces(info, cfg, per_class, max_samples)
    draw_recordings(traces, list(info.input_columns), path, _recordings_title(info, max_samples), per_class)


def _recordings_title(info, max_samples: int) -> str:
    what = "Recordings per class" if info.class_names else "Recordings"
    more = f", first {MAX_CLASSES_DRAWN} classes" if len(info.class_names) > MAX_CLASSES_DRAWN else ""
    return f"{what} (first {max_samples} samples{more}, every input variable)"


def plot_counts(counts: dict[str, dict[str, int]], path: Path, by_class: bool = True) -> None:
    """``class_counts.png``: windows per class (or in all) and split."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    names = sorted({c for s in counts.values() for c in s})
    fig = Figure(figsize=(max(7.0, 2.0 + 0.55 * len(names)), 3.5))  # wider with many classes
    ax = fig.add_subplot(1, 1, 1)
    width = 0.8 / len(SPLITS)
    for i, s in enumerate(SPLITS):
        ax.bar(np.arange(len(names)) + i * width, [counts[s].get(c, 0) for c in names], width, label=s)
    ax.set_xticks(np.arange(len(names)) + width)
    long_names = max((len(n) for n in names), default=0) > 12
    ax.set_xticklabels(
        names, rotation=35 if long_names else 0, ha="right" if long_names else "center", fontsize=8
    )
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("windows")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))  # never over the bars
    ax.set_title("Windows per class and split" if by_class else "Windows per split")
    _save(fig, path)


def plot_pca(
    x: np.ndarray,
    colour: np.ndarray,
    labels: list[str] | None,
    path: Path,
    colour_label: str = "target (mean)",
    what: str = "the train split",
) -> None:
    """``feature_pca.png``: the windows' features on their first two principal components, coloured by
    class (``labels``) or by a value."""
    import matplotlib
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 5))
    ax = fig.add_subplot(1, 1, 1)
    pcs = pca_2d(x)
    if labels:
        # distinct colours beyond the 10 of the default cycle, then marker shapes
        colours = matplotlib.colormaps["tab10" if len(labels) <= 10 else "tab20"].colors
        for i, name in enumerate(labels):
            m = colour == i
            marker = "os^Dv"[(i // len(colours)) % 5]
            ax.scatter(
                pcs[m, 0],
                pcs[m, 1],
                s=6,
                label=name,
                alpha=0.7,
                color=colours[i % len(colours)],
                marker=marker,
            )
        ax.legend(fontsize=8, markerscale=2, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    else:
        sc = ax.scatter(pcs[:, 0], pcs[:, 1], s=6, c=colour, cmap="viridis", alpha=0.7)
        fig.colorbar(sc, ax=ax, label=colour_label)
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.set_title(f"Extracted features of {what} (PCA)")
    _save(fig, path)


def write_report(
    info, cfg: dict[str, Any], lengths: dict[str, int], fixed: dict[str, int], plots: bool | str = True
) -> dict:
    """Process every split (filling the cache), write ``dataset_summary.yaml`` and the plots
    (``plots="later"``: their data, for :func:`draw_pending_plots`)."""
    from .layout import label_of
    from .timeseries_dataset import load_split

    out = Path(info.output_dir)
    (out / PENDING_PLOTS).unlink(missing_ok=True)  # an earlier preparation's
    by_class = bool(info.class_names)
    summary: dict[str, Any] = {"task": info.task, "root": str(info.root), "splits": {}}
    window_counts: dict[str, dict[str, int]] = {}
    train = None
    anomaly_parts: list = []  # anomaly detection: train holds Normal only, the anomalies are in val/test
    for s in SPLITS:
        files = info.splits[s]
        entry: dict[str, Any] = {"files": len(files), "samples": int(sum(lengths.get(f, 0) for f in files))}
        if not files:
            summary["splits"][s] = entry
            window_counts[s] = {}
            continue
        data = load_split(out, s, info.task, cfg)
        train = data if s == "train" else train
        if get_task_record(info.task).normal_class:
            anomaly_parts.append(data)
        if by_class:
            labels = [label_of(f) for f in data.files]
            per_file = np.bincount(data.file_ids, minlength=len(files))
            entry["files_per_class"] = {c: labels.count(c) for c in sorted(set(labels))}
            wins: dict[str, int] = {}
            for f, n in zip(labels, per_file):
                wins[f] = wins.get(f, 0) + int(n)
            entry["windows_per_class"] = wins
            window_counts[s] = wins
        else:
            window_counts[s] = {"all": int(len(data.X))}
        entry["windows"] = int(len(data.X))
        summary["splits"][s] = entry
    summary["input_shape"] = list(train.X.shape[1:]) if train is not None else None
    summary["rows_changed_by_nan_policy"] = dict(fixed)
    tmp = out / "dataset_summary.yaml.tmp"
    tmp.write_text(yaml.safe_dump(summary, sort_keys=False), encoding="utf-8")
    os.replace(tmp, out / run_files.DATASET_SUMMARY)
    if plots and train is not None and len(train.X):
        pending = _plot_data(info, cfg, window_counts, train, anomaly_parts)
        if plots == "later":
            _save_plot_data(out / PENDING_PLOTS, *pending)
        else:
            _draw(out, *pending)
    return summary


def _plot_data(info, cfg, window_counts, train, anomaly_parts) -> tuple[list, dict, np.ndarray, np.ndarray]:
    """The thinned data of the three plots: recording traces, drawing settings, PCA points and colours."""
    idx = np.random.default_rng(0).permutation(len(train.X))[:MAX_PCA_POINTS]
    meta: dict[str, Any] = {
        "names": list(info.input_columns),
        "title": _recordings_title(info, SAMPLES_DRAWN),
        "counts": window_counts,
        "by_class": bool(info.class_names),
        "labels": train.class_names,
        "colour_label": "target (mean)",
        "what": "the train split",
    }
    if anomaly_parts:  # every split, so the PCA shows whether the anomalies stand apart
        x = np.concatenate([d.X for d in anomaly_parts])
        y = np.concatenate([d.y for d in anomaly_parts])
        idx = np.random.default_rng(0).permutation(len(x))[:MAX_PCA_POINTS]
        pca_x, colour = x[idx], y[idx]
        meta["what"] = "train, val and test"
    elif train.y.ndim == 1:
        pca_x, colour = train.X[idx], train.y[idx]
    else:
        targets = ", ".join(info.target_columns) or "target"
        pca_x, colour = train.X[idx], train.y[idx].reshape(len(idx), -1).mean(axis=1)
        meta["labels"], meta["colour_label"] = None, f"{targets} (mean per window)"
    return recording_traces(info, cfg), meta, pca_x, colour


def _draw(out: Path, traces: list, meta: dict, pca_x: np.ndarray, colour: np.ndarray) -> list[Path]:
    paths = [out / name for name in PLOT_FILES]
    draw_recordings(traces, meta["names"], paths[0], meta["title"])
    plot_counts(meta["counts"], paths[1], by_class=meta["by_class"])
    plot_pca(pca_x, colour, meta["labels"], paths[2], colour_label=meta["colour_label"], what=meta["what"])
    return paths


def _save_plot_data(path: Path, traces: list, meta: dict, pca_x: np.ndarray, colour: np.ndarray) -> None:
    arrays = {"pca_x": pca_x, "colour": colour}
    for i, (_, _, index, values) in enumerate(traces):
        arrays[f"index_{i}"], arrays[f"values_{i}"] = index, values
    meta = {**meta, "traces": [[name, file] for name, file, _, _ in traces]}
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez(tmp, __meta__=np.array(json.dumps(meta)), **arrays)
    os.replace(tmp, path)


def draw_pending_plots(dataset_dir: str | Path) -> list[Path]:
    """Draw the plots ``write_report(..., plots="later")`` left in ``plots_pending.npz``; returns
    their paths (none when nothing is pending)."""
    path = Path(dataset_dir) / PENDING_PLOTS
    if not path.is_file():
        return []
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["__meta__"]))
        traces = [(n, f, z[f"index_{i}"], z[f"values_{i}"]) for i, (n, f) in enumerate(meta["traces"])]
        pca_x, colour = z["pca_x"], z["colour"]
    drawn = _draw(Path(dataset_dir), traces, meta, pca_x, colour)
    path.unlink()
    return drawn
