"""Split recordings into train / val / test, deterministically for a seed.

``amongst_files`` puts whole files into one split (stratified by class), so no window of a
recording appears in two splits. ``within_files`` cuts every file's rows in order into the three
parts (:func:`row_ranges`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import ConfigError
from ..task_names import get_task_record
from .layout import SPLITS, Layout, find_list, label_of, read_list

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


def shipped_splits(layout: Layout, files: list[str], split_factor, seed: int, task: str) -> dict | None:
    """Splits from annotation lists the user shipped (they win), or None."""
    lists = {s: find_list(layout.base, s) for s in SPLITS}
    whole = find_list(layout.base, "file")
    if not any(lists.values()) and whole is None:
        return None
    if not lists["train"]:
        pool = read_list(whole, layout) if whole else files
        return auto_split(pool, split_factor, seed, task)
    splits = {s: read_list(p, layout) if p else [] for s, p in lists.items()}
    missing = [s for s in ("val", "test") if not lists[s]]
    if missing:  # carve the missing split(s) out of train, in the split_factor proportions
        f = split_factor
        fr = (f[0], f[1] if "val" in missing else 0.0, f[2] if "test" in missing else 0.0)
        carved = auto_split(splits["train"], tuple(v / sum(fr) for v in fr), seed, task, anomaly_rule=False)
        splits["train"] = carved["train"]
        for s in missing:
            splits[s] = carved[s]
    return splits


def auto_split(files: list[str], split_factor, seed: int, task: str, anomaly_rule: bool = True) -> dict:
    """Split ``files`` by class; for anomaly detection (``anomaly_rule``) only Normal files train."""
    groups = [label_of(f) if "/" in f else "" for f in files]
    normal_class = get_task_record(task).normal_class
    if normal_class and anomaly_rule:
        normal = [f for f, g in zip(files, groups) if g == normal_class]
        other = [f for f, g in zip(files, groups) if g != normal_class]
        out = split_amongst_files(normal, [normal_class] * len(normal), split_factor, seed)
        labels = [label_of(o) for o in other]
        f_val, f_test = split_factor[1], split_factor[2]
        if f_val > 0 and f_test > 0:  # anomalies go to val and test in their proportion
            fractions = (f_val / (f_val + f_test), f_test / (f_val + f_test), 0.0)
            rest = split_amongst_files(other, labels, fractions, seed)
            if len(other) >= 2 and not (rest["train"] and rest["val"]):
                # anomaly folders of one or two files each all landed in val: split them as one group
                # so that val (threshold) and test (metrics) both hold anomalies
                rest = split_amongst_files(other, ["anomaly"] * len(other), fractions, seed)
        else:
            rest = {"train": other if f_val > 0 else [], "val": other if f_val == 0 else []}
        out["val"] = sorted(out["val"] + rest["train"])
        out["test"] = sorted(out["test"] + rest["val"])
        return out
    return split_amongst_files(files, groups, split_factor, seed)
