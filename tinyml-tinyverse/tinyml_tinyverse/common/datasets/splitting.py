"""Split recordings into train / val / test, deterministically for a seed.

``amongst_files`` puts whole files into one split (stratified by class), so no window of a
recording appears in two splits. ``within_files`` cuts every file's rows in order into the three
parts (:func:`row_ranges`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import ConfigError

SPLIT_TYPES = ("amongst_files", "within_files")


def check_split_factor(split_factor: Sequence[float]) -> tuple[float, float, float]:
    """Validate ``[train, val, test]`` fractions that sum to 1."""
    f = tuple(float(v) for v in split_factor)
    if len(f) != 3 or any(v < 0 for v in f):
        raise ConfigError(
            f"dataset.split_factor must be three fractions [train, val, test], got {list(split_factor)}"
        )
    if abs(sum(f) - 1.0) > 1e-6:
        raise ConfigError(
            f"dataset.split_factor {list(split_factor)} sums to {sum(f):g}; the three fractions must sum to 1"
        )
    if f[0] == 0:
        raise ConfigError("dataset.split_factor gives nothing to train on; the first fraction must be > 0")
    return f


def _counts(n: int, f: tuple[float, float, float]) -> tuple[int, int, int]:
    """Files per split for ``n`` files: at least one train file, and one val / test file when the
    factor asks for it and there are 3 files or more."""
    n_val, n_test = int(round(n * f[1])), int(round(n * f[2]))
    if n >= 3:
        n_val = max(n_val, int(f[1] > 0))
        n_test = max(n_test, int(f[2] > 0))
    while n - n_val - n_test < 1 and (n_val or n_test):
        if n_test >= n_val:
            n_test -= 1
        else:
            n_val -= 1
    return n - n_val - n_test, n_val, n_test


def split_amongst_files(
    files: Sequence[str], groups: Sequence[str], split_factor: Sequence[float], seed: int
) -> dict[str, list[str]]:
    """Shuffle the files of each group (class) with ``seed`` and cut them by ``split_factor``."""
    f = check_split_factor(split_factor)
    rng = np.random.default_rng(seed)
    out: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for g in sorted(set(groups)):
        members = sorted(fl for fl, gr in zip(files, groups) if gr == g)
        members = [members[i] for i in rng.permutation(len(members))]
        n_train, n_val, _ = _counts(len(members), f)
        out["train"] += members[:n_train]
        out["val"] += members[n_train : n_train + n_val]
        out["test"] += members[n_train + n_val :]
    return {k: sorted(v) for k, v in out.items()}


def row_ranges(n_rows: int, split_factor: Sequence[float]) -> dict[str, tuple[int, int]]:
    """``within_files``: the ``[start, stop)`` rows of each split of a file of ``n_rows`` rows."""
    f = check_split_factor(split_factor)
    a = int(round(n_rows * f[0]))
    b = int(round(n_rows * (f[0] + f[1])))
    return {"train": (0, a), "val": (a, b), "test": (b, n_rows)}
