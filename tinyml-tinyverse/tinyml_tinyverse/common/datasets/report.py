"""What the dataset stage leaves for a user to look at: ``dataset_summary.yaml`` (files and
windows per class per split), ``recordings_per_class.png``, ``class_counts.png`` and
``feature_pca.png`` (2-D PCA of the extracted features, coloured by class or target)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import yaml
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .layout import SPLITS
from .readers import read_recording

MAX_PCA_POINTS = 3000


def _save(fig: Figure, path: Path) -> None:
    FigureCanvasAgg(fig)
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=90, bbox_inches="tight")
    os.replace(tmp, path)


def pca_2d(x: np.ndarray) -> np.ndarray:
    """Project rows of ``x`` onto their first two principal components."""
    x = x.reshape(len(x), -1).astype(np.float64)
    x = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    pcs = x @ vt[:2].T
    return np.pad(pcs, ((0, 0), (0, 2 - pcs.shape[1]))) if pcs.shape[1] < 2 else pcs


def plot_recordings(
    info, cfg: dict[str, Any], path: Path, per_class: int = 3, max_samples: int = 2000
) -> None:
    groups: dict[str, list[str]] = {}
    for f in sorted(set().union(*info.splits.values())):
        groups.setdefault(f.split("/", 1)[0] if info.class_names else "recordings", []).append(f)
    fig = Figure(figsize=(10, 2.2 * len(groups)))
    lines: list = []
    for row, (name, files) in enumerate(sorted(groups.items())):
        for col, rel in enumerate(files[:per_class]):
            ax = fig.add_subplot(len(groups), per_class, row * per_class + col + 1)
            x = read_recording(info.root / rel, cfg, info.task).x[:max_samples]
            drawn = ax.plot(x, linewidth=0.6)
            lines = lines or drawn
            ax.set_title(f"{name}: {rel.split('/')[-1]}", fontsize=8)
            ax.tick_params(labelsize=6)
    what = "Recordings per class" if info.class_names else "Recordings"
    fig.suptitle(f"{what} (first {max_samples} samples, every input variable)")
    fig.tight_layout()
    names = list(info.input_columns)
    if lines and len(names) == len(lines) and len(names) <= 12:  # which colour is which variable
        fig.legend(
            lines, names, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=min(len(names), 6), fontsize=8
        )
    _save(fig, path)


def plot_counts(counts: dict[str, dict[str, int]], path: Path, by_class: bool = True) -> None:
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
    info, cfg: dict[str, Any], lengths: dict[str, int], fixed: dict[str, int], plots: bool = True
) -> dict:
    """Process every split (filling the cache), write ``dataset_summary.yaml`` and the plots."""
    from .layout import label_of
    from .timeseries_dataset import load_split

    out = Path(info.output_dir)
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
        if info.task == "anomalydetection":
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
    os.replace(tmp, out / "dataset_summary.yaml")
    if plots and train is not None and len(train.X):
        plot_recordings(info, cfg, out / "recordings_per_class.png")
        plot_counts(window_counts, out / "class_counts.png", by_class=by_class)
        idx = np.random.default_rng(0).permutation(len(train.X))[:MAX_PCA_POINTS]
        if anomaly_parts:  # every split, so the PCA shows whether the anomalies stand apart
            x = np.concatenate([d.X for d in anomaly_parts])
            y = np.concatenate([d.y for d in anomaly_parts])
            idx = np.random.default_rng(0).permutation(len(x))[:MAX_PCA_POINTS]
            plot_pca(x[idx], y[idx], train.class_names, out / "feature_pca.png", what="train, val and test")
        elif train.y.ndim == 1:
            plot_pca(train.X[idx], train.y[idx], train.class_names, out / "feature_pca.png")
        else:
            targets = ", ".join(info.target_columns) or "target"
            plot_pca(
                train.X[idx],
                train.y[idx].reshape(len(idx), -1).mean(axis=1),
                None,
                out / "feature_pca.png",
                colour_label=f"{targets} (mean per window)",
            )
    return summary
