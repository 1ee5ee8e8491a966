"""Plots of a dataset of one example per file: class counts, examples of each class, feature PCA."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from .layout import SPLITS, label_of
from .report import MAX_PCA_POINTS, _save, plot_counts, plot_pca


def example_files(info: Any, per_class: int = 6) -> list[str]:
    """Up to ``per_class`` train files of each class, class by class."""
    train = info.splits["train"]
    return [f for c in info.class_names for f in [g for g in train if label_of(g) == c][:per_class]]


def plot_examples(
    path: Path, examples: list[np.ndarray], labels: list[str], title: str, features: bool
) -> None:
    """A grid, one row per class: images ``(C, H, W)`` in [0, 1], or feature maps ``(1, frames, F)``
    drawn with time on the x axis (``features``)."""
    classes = list(dict.fromkeys(labels))
    cols = max(labels.count(c) for c in classes)
    fig = Figure(figsize=(1.6 * cols + 1.2, 1.5 * len(classes) + 0.6))
    for r, c in enumerate(classes):
        for k, x in enumerate(e for e, lab in zip(examples, labels) if lab == c):
            ax = fig.add_subplot(len(classes), cols, r * cols + k + 1)
            if features:
                ax.imshow(x[0].T, origin="lower", aspect="auto", cmap="magma")
            elif x.shape[0] == 1:
                ax.imshow(x[0], cmap="gray", vmin=0, vmax=1)
            else:
                ax.imshow(np.clip(x.transpose(1, 2, 0), 0, 1))
            ax.set_xticks([])
            ax.set_yticks([])
            if k == 0:
                ax.set_ylabel(c, fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    _save(fig, path)


def plot_file_dataset(
    info: Any,
    splits: dict[str, Any],
    examples: dict[str, np.ndarray],
    features: bool = False,
    what: str = "Images",
) -> None:
    """``class_counts.png``, ``examples.png`` (``examples``: file -> array, from :func:`example_files`)
    and ``feature_pca.png`` (the train split's model inputs) into the dataset folder."""
    out = Path(info.output_dir)
    counts = {s: {c: sum(label_of(f) == c for f in info.splits[s]) for c in info.class_names} for s in SPLITS}
    plot_counts(counts, out / "class_counts.png")
    labels = [label_of(f) for f in examples]
    title = f"{what} of the train split, by class"
    plot_examples(out / "examples.png", list(examples.values()), labels, title, features)
    train = splits["train"]
    idx = np.random.default_rng(0).permutation(len(train.X))[:MAX_PCA_POINTS]
    plot_pca(train.X[idx], train.y[idx], train.class_names, out / "feature_pca.png")
