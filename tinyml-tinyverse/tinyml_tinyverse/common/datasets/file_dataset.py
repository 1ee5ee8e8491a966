"""Datasets of one example per file, by class (images, sound clips): find, check, split, summarise.

The layout, split lists and zip rules are those of time series (:mod:`.layout`, :mod:`.splitting`,
:mod:`.safe_zip`): ``classes/<label>/<file>`` (or a folder of class folders, or a zip of either),
lists ``<root>/[annotations/]<split>_list.txt`` the user ships win, otherwise whole files are split
by class with ``split_factor`` and ``seed``. Every listed file is checked by the modality's
``check`` (which raises a :class:`DataError` naming the file) before anything is written.
``dataset_info.yaml`` records the modality, so later stages know how to load the splits.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from tqdm import tqdm

from .. import run_files
from ..errors import ConfigError, DataError
from ..input_limits import InputLimits
from ..utils.progress import bar_disabled
from .cache import cache_key
from .layout import (
    SPLITS,
    class_names_of,
    label_of,
    list_data_files,
    locate_input,
    refuse_outside_links,
)
from .splitting import auto_split, check_split_factor, shipped_splits
from .timeseries_dataset import INFO_FILE, DatasetInfo, read_dataset_info

log = logging.getLogger(__name__)
TASK = "classification"


def write_text(path: Path, text: str) -> None:
    """Write ``path`` via ``path.tmp`` and a rename (never half-written)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _check_splits(
    splits: dict[str, list[str]], files: list[str], class_names: list[str], split_factor, where
) -> None:
    """An empty train split, or an empty val / test split the factor asks for, is an error; a class
    missing from val or test is a warning."""
    if not splits["train"]:
        raise DataError(f"{where}: the train split is empty; add files or change dataset.split_factor")
    counts = {c: sum(label_of(f) == c for f in files) for c in class_names}
    for s, frac in zip(("val", "test"), split_factor[1:]):
        if frac > 0 and not splits[s]:
            fewest = min(counts, key=counts.get)
            raise DataError(
                f"{where}: {len(files)} files are too few for a {s} split (a class needs 3 files or more to give "
                f"one to each of train, val and test; {fewest!r} has {counts[fewest]}); add files"
            )
        absent = sorted(set(class_names) - {label_of(f) for f in splits[s]})
        if frac > 0 and absent:
            log.warning(
                "the %s split holds no file of %s (a class needs 3 files or more for train, val and test); add files",
                s,
                absent,
            )


def prepare_file_dataset(
    input_data_path: str | Path,
    output_dir: str | Path,
    *,
    modality: str,
    suffixes: tuple[str, ...],
    check: Callable[[Path], dict[str, Any]],
    split_type: str = "amongst_files",
    split_factor=(0.6, 0.2, 0.2),
    seed: int = 42,
    limits: InputLimits | None = None,
    num_variables: int = 1,
    finish: Callable[[DatasetInfo, dict[str, dict[str, Any]]], None] | None = None,
) -> DatasetInfo:
    """Find, check and split a by-class dataset of ``suffixes`` files into ``output_dir``.

    Writes ``annotations/{train,val,test,file}_list.txt`` and ``dataset_info.yaml`` (with
    ``modality``), then calls ``finish(info, details)`` (``details``: ``check``'s answer for every
    used file) for the summary and plots; when that fails, ``dataset_info.yaml`` is removed, so a
    half-prepared dataset never looks prepared. Nothing is written into the user's folder.
    """
    if split_type != "amongst_files":
        raise ConfigError(
            f"dataset.split_type {split_type!r}: a {modality} dataset holds one example per file, so whole files are "
            "split; use amongst_files"
        )
    split_factor = check_split_factor(split_factor)
    path, output_dir, limits = Path(input_data_path), Path(output_dir), limits or InputLimits()
    if path.is_file() and path.suffix.lower() != ".zip":
        raise DataError(
            f"{path}: a {modality} dataset is a folder (or .zip) of class folders, classes/<label>/*"
            f"{suffixes[0]}, not a single file; point dataset.input_data_path at the folder"
        )
    layout, _ = locate_input(path, output_dir, TASK, limits)
    out_abs = output_dir.resolve()
    if (
        out_abs in (layout.base.resolve(), layout.data_dir.resolve())
        or layout.data_dir.resolve() in out_abs.parents
    ):
        raise ConfigError(
            f"the dataset output folder {output_dir} is (inside) your data folder {layout.base}; choose another "
            "one: nothing is written into the data you bring"
        )
    output_dir.mkdir(parents=True, exist_ok=True)
    files = list_data_files(layout, suffixes=suffixes)
    class_names = class_names_of(files, TASK, layout.data_dir)
    splits = shipped_splits(layout, files, split_factor, seed, TASK) or auto_split(
        files, split_factor, seed, TASK
    )
    _check_splits(splits, files, class_names, split_factor, layout.data_dir)
    used = sorted(set().union(*splits.values()))
    refuse_outside_links(layout, sorted(set(files) | set(used)), limits.allow_outside_links)
    details = {
        rel: check(layout.data_dir / rel)
        for rel in tqdm(
            used, desc=f"checking {modality} files", unit="file", leave=False, disable=bar_disabled()
        )
    }
    annotations = output_dir / run_files.ANNOTATIONS_DIR
    annotations.mkdir(exist_ok=True)
    for s in SPLITS:
        write_text(annotations / run_files.split_list(s), "".join(f"{f}\n" for f in splits[s]))
    write_text(annotations / run_files.FILE_LIST, "".join(f"{f}\n" for f in files))
    root = layout.data_dir.resolve()
    try:
        root_entry = str(root.relative_to(out_abs))
    except ValueError:
        root_entry = str(root)
    meta = {
        "root": root_entry,
        "task": TASK,
        "modality": modality,
        "class_names": class_names,
        "split_type": split_type,
        "split_factor": list(split_factor),
        "seed": seed,
        "num_variables": num_variables,
        "input_columns": [],
        "target_columns": [],
    }
    write_text(output_dir / INFO_FILE, yaml.safe_dump(meta, sort_keys=False))
    info = DatasetInfo(
        root=root, task=TASK, class_names=class_names, splits=splits, split_type=split_type,
        split_factor=split_factor, num_variables=num_variables, output_dir=output_dir,
    )  # fmt: skip
    if finish is not None:
        try:
            finish(info, details)
        except BaseException:
            (output_dir / INFO_FILE).unlink(missing_ok=True)
            raise
    return info


def split_files(dataset_dir: str | Path, split: str, modality: str) -> tuple[DatasetInfo, list[str]]:
    """The prepared dataset's info and the files of ``split``; errors for another modality or an
    empty split."""
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    meta_path = Path(dataset_dir) / INFO_FILE
    info = read_dataset_info(dataset_dir)
    found = (yaml.safe_load(meta_path.read_text(encoding="utf-8")) or {}).get("modality", "timeseries")
    if found != modality:
        raise ConfigError(
            f"{dataset_dir}: the dataset was prepared as {found} data, not {modality}; prepare it again for {modality}"
        )
    files = list(info.splits[split])
    if not files:
        raise DataError(
            f"{dataset_dir}: the {split} split is empty; re-run the dataset stage with another split_factor"
        )
    return info, files


def split_cache_key(info: DatasetInfo, files: list[str], settings: dict[str, Any]) -> str:
    """The cache key of a split: the files' contents and the settings that change the arrays."""
    return cache_key([info.root / f for f in files], {**settings, "files": files})


def labels_of(info: DatasetInfo, files: list[str]) -> np.ndarray:
    """The class index of every file (its class folder's place in ``class_names``)."""
    return np.array([info.class_names.index(label_of(f)) for f in files], np.int64)


def write_summary(info: DatasetInfo, extra: dict[str, Any]) -> dict[str, Any]:
    """``dataset_summary.yaml``: files per class in each split, plus the modality's ``extra``."""
    per_split = {
        s: {c: sum(label_of(f) == c for f in info.splits[s]) for c in info.class_names} for s in SPLITS
    }
    summary = {
        "task": info.task,
        "root": str(info.root),
        "class_names": info.class_names,
        "splits": {s: {"files": len(info.splits[s]), "files_per_class": per_split[s]} for s in SPLITS},
        **extra,
    }
    write_text(Path(info.output_dir) / run_files.DATASET_SUMMARY, yaml.safe_dump(summary, sort_keys=False))
    return summary
