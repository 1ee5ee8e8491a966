"""Prepare a time-series dataset (check, split, summarise) and load its splits as arrays.

:func:`prepare_dataset` reads a user's folder / zip / file once, checks every recording, writes the
split lists, ``dataset_info.yaml`` (where the data is), ``dataset_summary.yaml`` and plots.
:func:`load_split` then turns one split into model-ready arrays ``X (N, C, H, W)`` and targets,
processed with the data config and cached.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from tqdm import tqdm

from .. import run_files
from ..errors import ConfigError, DataError
from ..input_limits import InputLimits
from ..safe_yaml import load_yaml_file
from ..task_names import TASKS, TaskRecord, get_task_record
from ..transforms import DATA_PROC_REGISTRY, Recording, extract_features, min_recording_length
from ..utils.progress import bar_disabled
from .cache import cache_key, load_cached, load_cached_meta, save_cached
from .data_config import validate_data_config
from .data_derived import channel_range, features_are_auto, infer_settings, with_inferred
from .layout import (
    SPLITS,
    Layout,
    class_names_of,
    label_of,
    list_data_files,
    locate_input,
    read_list,
    refuse_outside_links,
)
from .read_once import read_once
from .readers import read_recording, read_recordings
from .splitting import SPLIT_TYPES, auto_split, check_split_factor, row_ranges, shipped_splits
from .targets import window_targets

log = logging.getLogger(__name__)

INFO_FILE = run_files.DATASET_INFO


@dataclass
class DatasetInfo:
    """What :func:`prepare_dataset` found: ``root`` is the folder holding the class folders or
    files; ``splits`` maps train/val/test to paths relative to ``root``."""

    root: Path
    task: str
    class_names: list[str]
    splits: dict[str, list[str]]
    split_type: str = "amongst_files"
    split_factor: tuple[float, float, float] = (0.6, 0.2, 0.2)
    num_variables: int = 0
    input_columns: list[str] = field(default_factory=list)
    target_columns: list[str] = field(default_factory=list)
    output_dir: Path | None = None
    inferred: dict[str, Any] = field(default_factory=dict)  # data config keys the data set (data_derived.py)


@dataclass
class SplitData:
    """One processed split. ``y``: int64 class index (classification), 0 = Normal / 1 = anomaly
    (anomaly detection), float32 ``(N, T)`` (regression) or ``(N, horizon, V)`` (forecasting)."""

    X: np.ndarray
    y: np.ndarray
    file_ids: np.ndarray
    files: list[str]
    class_names: list[str]
    stats: dict[str, Any]
    task: str = "classification"


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _write_yaml(path: Path, obj: Any) -> None:
    _write_text(path, yaml.safe_dump(obj, sort_keys=False))


def _check_task(task: str) -> TaskRecord:
    """The record of a time-series task; another name is a ConfigError listing them."""
    if task not in TASKS:
        raise ConfigError(f"unknown task {task!r}; use one of {', '.join(TASKS)}")
    return get_task_record(task)


def _picked(columns) -> str:
    """The names of the input (and target) columns one file contributes."""
    text = str([columns.names[i] for i in columns.inputs])
    return text + (f" (targets {[columns.names[i] for i in columns.targets]})" if columns.targets else "")


def _warn_time_like_inputs(path: Path, rec) -> None:
    """An input column that rises by a constant step is a time axis or sample counter, not a signal."""
    x = rec.x
    if len(x) < 8:
        return
    for j, col in enumerate(rec.columns.inputs):
        d = np.diff(x[:, j].astype(np.float64))
        if d[0] > 0 and np.allclose(d, d[0], rtol=0.02, atol=0):
            log.warning(
                "%s: input column %s (%r) rises by a constant %.3g per row like a time axis or sample counter; "
                "if it is one, drop it with data_processing_feature_extraction.time_columns: [%d]",
                path,
                col,
                rec.columns.names[col],
                (x[-1, j] - x[0, j]) / (len(x) - 1),
                col,
            )


@read_once()  # the checks, the splits' processing and the plots parse each file once
def prepare_dataset(
    input_data_path: str | Path,
    output_dir: str | Path,
    task: str,
    *,
    split_type: str = "amongst_files",
    split_factor=(0.6, 0.2, 0.2),
    seed: int = 42,
    data_config: dict[str, Any] | None = None,
    plots: bool | str = True,
    limits: InputLimits | None = None,
) -> DatasetInfo:
    """Check, split and summarise the dataset at ``input_data_path`` into ``output_dir``.

    Writes ``annotations/{train,val,test,file}_list.txt``, ``dataset_info.yaml``,
    ``dataset_summary.yaml`` and (``plots``) ``recordings_per_class.png``, ``class_counts.png``
    and ``feature_pca.png`` (``plots="later"``: their thinned data, drawn by
    ``report.draw_pending_plots(output_dir)``). Raises :class:`DataError` / :class:`ConfigError` naming
    the file or key at fault. Nothing is written into the user's folder. ``limits``: zip extraction
    limits and whether symbolic links may lead out of the data folder (:class:`InputLimits`; default:
    refused).
    """
    record = _check_task(task)
    if split_type not in SPLIT_TYPES:
        raise ConfigError(
            f"dataset.split_type {split_type!r} is unknown; use one of {', '.join(SPLIT_TYPES)}"
        )
    split_factor = check_split_factor(split_factor)
    cfg = validate_data_config(data_config)
    output_dir = Path(output_dir)
    limits = limits or InputLimits()
    layout, single = locate_input(Path(input_data_path), output_dir, task, limits)
    out_abs = output_dir.resolve()
    inside = layout.data_dir.resolve() in out_abs.parents and single is None
    if out_abs in (layout.base.resolve(), layout.data_dir.resolve()) or inside:
        raise ConfigError(
            f"the dataset output folder {output_dir} is (inside) your data folder {layout.base}; choose another "
            "one: nothing is written into the data you bring"
        )
    output_dir.mkdir(parents=True, exist_ok=True)
    files = single or list_data_files(layout)
    class_names = class_names_of(files, task, layout.data_dir)
    gain = cfg["gain_variations"]
    if isinstance(gain, dict):
        known = list(record.label_names) or class_names
        unknown = sorted(set(gain) - set(known))
        if unknown:
            raise ConfigError(
                f"data_processing_feature_extraction.gain_variations names classes {unknown} that the data "
                f"does not have; its classes are {known}"
            )
    if split_type == "within_files":
        splits = {s: list(files) for s in SPLITS}
    else:
        splits = shipped_splits(layout, files, split_factor, seed, task) or auto_split(
            files, split_factor, seed, task
        )
    normal = record.normal_class  # anomaly detection learns normal data only
    if normal:
        dropped = [f for f in splits["train"] if label_of(f) != normal]
        if dropped:
            log.warning(
                "anomaly detection trains on %s only; %d anomaly files left out of train",
                normal,
                len(dropped),
            )
            splits["train"] = [f for f in splits["train"] if label_of(f) == normal]
        if split_type == "amongst_files":
            for s, frac in zip(("val", "test"), split_factor[1:]):
                if frac > 0 and not any(label_of(f) != normal for f in splits[s]):
                    log.warning(
                        "anomaly detection: the %s split holds no anomaly recording, so its anomaly metrics "
                        "(recall, ROC AUC) are undefined; add anomaly recordings (two or more) under classes/",
                        s,
                    )
    where = Path(input_data_path) if single is not None else layout.data_dir  # a single file: name it
    if not splits["train"]:
        raise DataError(f"{where}: the train split is empty; add recordings or change dataset.split_factor")
    for s, frac in zip(("val", "test"), split_factor[1:]):
        if frac > 0 and not splits[s]:
            per_class = ""
            if class_names and split_type == "amongst_files":
                counts = {c: sum(label_of(f) == c for f in files) for c in class_names}
                fewest = min(counts, key=counts.get)
                per_class = (
                    f"; a class needs 3 recordings or more to give one to each of train, val and test, "
                    f"{fewest!r} has {counts[fewest]}"
                )
            raise DataError(
                f"{where}: {len(files)} recording(s) are too few for a {s} split with split_type amongst_files "
                f"(whole files go to one split{per_class}); add recordings or set dataset.split_type: within_files"
            )
    if record.scores_classes and split_type == "amongst_files":
        for s, frac in zip(("val", "test"), split_factor[1:]):
            absent = sorted(set(class_names) - {label_of(f) for f in splits[s]})
            if frac > 0 and splits[s] and absent:
                log.warning(
                    "classification: the %s split holds no recording of %s (a class needs 3 recordings or more "
                    "for train, val and test), so %s; add recordings of %s",
                    s,
                    absent,
                    "early stopping does not watch it" if s == "val" else "its test accuracy is not measured",
                    "it" if len(absent) == 1 else "them",
                )
    if normal and split_type == "amongst_files":
        for s in ("val", "test"):
            if splits[s] and all(label_of(f) != normal for f in splits[s]):
                log.warning(
                    "anomaly detection: the %s split holds no %s recording, so its false alarms are not measured; "
                    "add %s recordings (3 or more give one to each split)",
                    s,
                    normal,
                    normal,
                )

    extra = int(cfg["horizon"]) if record.needs_horizon else 0
    need = min_recording_length(cfg, extra)
    used = sorted(set().union(*splits.values()))
    if single is None:
        refuse_outside_links(layout, sorted(set(files) | set(used)), limits.allow_outside_links)
    first_cols, first_file, lengths, fixed = None, None, {}, {}
    channel_min = channel_max = None  # input ranges, for data_derived.infer_settings (when it needs them)
    ranges = features_are_auto(data_config)
    too_short: list[tuple[str, int]] = []
    transposed = None  # a (channels, time) array saved the other way round
    columns = None
    recordings = read_recordings([layout.data_dir / rel for rel in used], cfg, task)
    for rel, rec in zip(
        tqdm(used, desc="checking recordings", unit="file", leave=False, disable=bar_disabled()), recordings
    ):
        if first_cols is None:
            first_cols, first_file, columns = rec.num_file_columns, rel, rec.columns
            _warn_time_like_inputs(layout.data_dir / rel, rec)
        elif rec.num_file_columns != first_cols:
            raise DataError(
                f"{layout.data_dir / rel}: has {rec.num_file_columns} columns but {first_file} has "
                f"{first_cols}; every recording needs the same columns"
            )
        elif _picked(rec.columns) != _picked(columns):  # same count, other header: columns swapped?
            raise DataError(
                f"{layout.data_dir / rel}: its input columns are {_picked(rec.columns)} but those of "
                f"{first_file} are {_picked(columns)}; give every file the same header and column order, or "
                f"name the columns in data_processing_feature_extraction.variables / target_columns"
            )
        n = rec.x.shape[0]
        shortest = n
        if split_type == "within_files":
            shortest = min(b - a for a, b in row_ranges(n, split_factor).values() if b > a)
        if shortest < need:
            too_short.append((rel, shortest))
            if rec.num_file_columns >= max(need, n + 1) and transposed is None:  # (channels, time) saved
                how = "np.save(path, x.T)" if rel.lower().endswith(".npy") else "one row per time step"
                transposed = (
                    f"; {rel} has {n} rows and {rec.num_file_columns} columns: rows must be time steps, so "
                    f"store it transposed ({how})"
                )
        lengths[rel] = n
        if n and ranges:
            lo, hi = channel_range(rec.x)
            channel_min = lo if channel_min is None else np.minimum(channel_min, lo)
            channel_max = hi if channel_max is None else np.maximum(channel_max, hi)
        if rec.fixed_rows:
            fixed[rel] = rec.fixed_rows
    # -- keys the data decides (issue 14, data_derived.py): the frame size, input normalisation ------
    inferred = {}
    if any(lengths.values()):  # within_files: rows of each file go to all splits, no window per recording
        whole = lengths.values() if split_type == "amongst_files" else []
        inferred = infer_settings(data_config, cfg, task, whole, channel_min, channel_max)
    if "frame_size" in inferred:
        cfg["frame_size"], too_short = inferred["frame_size"], []
    if inferred:
        log.info("set from the data: %s (set them in the data config to choose others)", inferred)
    # -- end of the keys the data decides ---------------------------------------------------------------
    if too_short:
        what = "its shortest split part has" if split_type == "within_files" else "it has"
        settings = f"frame_size={cfg['frame_size']}, num_frame_concat={cfg['num_frame_concat']}" + (
            f", horizon={cfg['horizon']}" if extra else ""
        )
        rel, shortest = too_short[0]
        if len(too_short) == len(used) > 1:  # every file: the settings are the problem, not the files
            longest = max(n for _, n in too_short)
            raise DataError(
                f"{layout.data_dir}: all {len(used)} recordings are too short: the longest has {longest} samples"
                f"{' in its shortest split part' if split_type == 'within_files' else ''} but one example needs "
                f"{need} ({settings}){transposed or ''}; lower frame_size / num_frame_concat (a smaller "
                "feature_extraction_name preset) or record longer"
            )
        more = (
            f" (and {len(too_short) - 1} more: {', '.join(r for r, _ in too_short[1:4])}"
            f"{' ...' if len(too_short) > 4 else ''})"
            if len(too_short) > 1
            else ""
        )
        raise DataError(
            f"{layout.data_dir / rel}: too short: {what} {shortest} samples but one example needs {need} "
            f"({settings}){more}{transposed or ''}; remove the file or lower frame_size"
        )
    if fixed:
        log.warning(
            "nan_policy=%s changed %d rows in %d files", cfg["nan_policy"], sum(fixed.values()), len(fixed)
        )

    annotations = output_dir / run_files.ANNOTATIONS_DIR
    annotations.mkdir(exist_ok=True)
    for s in SPLITS:
        _write_text(annotations / run_files.split_list(s), "".join(f"{f}\n" for f in splits[s]))
    _write_text(annotations / run_files.FILE_LIST, "".join(f"{f}\n" for f in files))

    root = layout.data_dir.resolve()
    try:
        root_entry = str(root.relative_to(output_dir.resolve()))
    except ValueError:
        root_entry = str(root)
    info = DatasetInfo(
        root=root,
        task=task,
        class_names=class_names,
        splits=splits,
        split_type=split_type,
        split_factor=split_factor,
        num_variables=len(columns.inputs),
        input_columns=[columns.names[i] for i in columns.inputs],
        target_columns=[columns.names[i] for i in columns.targets],
        output_dir=output_dir,
        inferred=inferred,
    )
    _write_yaml(
        output_dir / INFO_FILE,
        {
            "root": root_entry,
            "task": task,
            "class_names": class_names,
            "split_type": split_type,
            "split_factor": list(split_factor),
            "seed": seed,
            "num_variables": info.num_variables,
            "input_columns": info.input_columns,
            "target_columns": info.target_columns,
            "rows_changed_by_nan_policy": fixed,
            "inferred": inferred,
        },
    )
    from .report import write_report

    try:
        write_report(info, cfg, lengths, fixed, plots=plots)
    except BaseException:
        (output_dir / INFO_FILE).unlink(missing_ok=True)  # a half-prepared dataset must not look prepared
        raise
    return info


def _split_files(dataset_dir: Path, info: DatasetInfo, split: str, task: str) -> list[str]:
    """The files of ``split``, relative to the data root (anomaly detection trains on normal ones only)."""
    files = list(info.splits[split])
    normal = get_task_record(task).normal_class
    if normal and split == "train":
        files = [f for f in files if label_of(f) == normal]
    if not files:
        raise DataError(
            f"{dataset_dir}: the {split} split is empty; re-run the dataset stage with other split_factor"
        )
    return files


def _split_key(
    info: DatasetInfo,
    split: str,
    files: list[str],
    task: str,
    cfg: dict[str, Any],
    training: bool,
    seed: int,
    train_stats: dict[str, Any],
) -> str:
    """The key of the cache entry of ``split``: the files' contents and every setting that shapes it."""
    settings = {
        "cfg": _settings_for_cache(cfg),
        "task": task,
        "split": split,
        "training": training,
        "seed": seed if training else None,
        "split_type": info.split_type,
        "split_factor": list(info.split_factor),
        "files": files,
        "stats": {k: np.asarray(v).tolist() for k, v in train_stats.items()},  # exact, never abbreviated
    }
    return cache_key([info.root / f for f in files], settings)


def _train_stats(
    dataset_dir: Path, info: DatasetInfo, task: str, cfg: dict[str, Any], cache_dir: Path
) -> dict[str, Any]:
    """The statistics fitted on the train split (without random processing), which every split is
    processed with: read from the metadata of its cache entry alone where there is one (not its arrays)."""
    files = _split_files(dataset_dir, info, "train", task)
    meta = load_cached_meta(cache_dir, _split_key(info, "train", files, task, cfg, False, 0, {}))
    if meta is not None:
        return _stats_of(meta)
    return load_split(dataset_dir, "train", task, cfg, cache_dir=cache_dir, training=False).stats


def _stats_of(meta: dict[str, Any]) -> dict[str, Any]:
    return {k: (np.asarray(v, np.float32) if isinstance(v, list) else v) for k, v in meta["stats"].items()}


_read_infos: dict[tuple, DatasetInfo] = {}  # by the bytes of the files read: a few, small


def _info_key(dataset_dir: Path) -> tuple | None:
    files = [
        dataset_dir / INFO_FILE,
        *(dataset_dir / run_files.ANNOTATIONS_DIR / run_files.split_list(s) for s in SPLITS),
    ]
    try:
        return (os.path.abspath(dataset_dir), *(f.read_bytes() if f.is_file() else None for f in files))
    except OSError:
        return None


def _copy(info: DatasetInfo) -> DatasetInfo:
    return dataclasses.replace(
        info, class_names=list(info.class_names), splits={k: list(v) for k, v in info.splits.items()},
        input_columns=list(info.input_columns), target_columns=list(info.target_columns),
    )  # fmt: skip


def read_dataset_info(dataset_dir: str | Path) -> DatasetInfo:
    """Load what :func:`prepare_dataset` wrote into ``dataset_dir``.

    A process reads the same files again only when their bytes changed (a stage loads every split,
    each split the train statistics: a dozen reads), checking that every listed recording exists."""
    dataset_dir = Path(dataset_dir)
    key = _info_key(dataset_dir)
    known = _read_infos.get(key) if key is not None and key[1] is not None else None
    if known is not None and all(os.path.isfile(known.root / f) for fs in known.splits.values() for f in fs):
        return _copy(known)
    info = _read_dataset_info(dataset_dir)
    if key is not None:
        if len(_read_infos) >= 16:
            _read_infos.clear()
        _read_infos[key] = _copy(info)
    return info


def _read_dataset_info(dataset_dir: Path) -> DatasetInfo:
    path = dataset_dir / INFO_FILE
    if not path.is_file():
        raise DataError(f"{dataset_dir}: no {INFO_FILE}; run the dataset stage (prepare_dataset) first")
    meta = load_yaml_file(path, error=DataError)
    root = Path(meta["root"])
    root = root if root.is_absolute() else dataset_dir / root
    layout = Layout(dataset_dir, root, get_task_record(meta["task"]).by_class)
    splits = {}
    for s in SPLITS:
        lst = dataset_dir / run_files.ANNOTATIONS_DIR / run_files.split_list(s)
        splits[s] = read_list(lst, layout) if lst.is_file() else []
    return DatasetInfo(
        root=root,
        task=meta["task"],
        class_names=list(meta["class_names"]),
        splits=splits,
        split_type=meta["split_type"],
        split_factor=tuple(meta["split_factor"]),
        num_variables=int(meta["num_variables"]),
        input_columns=list(meta.get("input_columns", [])),
        target_columns=list(meta.get("target_columns", [])),
        output_dir=dataset_dir,
        inferred=dict(meta.get("inferred") or {}),
    )


def _settings_for_cache(cfg: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in cfg.items() if k != "augmentation"}


def load_split(
    dataset_dir: str | Path,
    split: str,
    task: str,
    data_config: dict[str, Any] | None,
    *,
    cache_dir: str | Path | None = None,
    training: bool | None = None,
    seed: int = 0,
) -> SplitData:
    """Load split ``split`` of a prepared dataset as model-ready arrays (see :class:`SplitData`).

    ``training`` (default: ``split == "train"``) enables random data processing (GainVariation),
    seeded by ``seed``. Statistics (STANDARDIZE, feature mean/std) are fitted on the train split
    without random processing and reused for every split. Results are cached in ``cache_dir``
    (default ``<dataset_dir>/cache``) by a hash of the data and config (and of ``seed`` when random
    processing runs), so the dataset stage's work is reused by training.
    """
    record = _check_task(task)
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    dataset_dir = Path(dataset_dir)
    info = read_dataset_info(dataset_dir)
    cfg = validate_data_config(with_inferred(data_config, info.inferred))
    if info.task != task:
        raise ConfigError(f"{dataset_dir}: the dataset was prepared for {info.task!r}, not {task!r}")
    training = split == "train" if training is None else training
    training = training and any(
        getattr(DATA_PROC_REGISTRY[n], "random", False) for n in cfg["data_proc_transforms"]
    )
    fit = split == "train" and not training
    cache_dir = dataset_dir / run_files.CACHE_DIR if cache_dir is None else Path(cache_dir)
    files = _split_files(dataset_dir, info, split, task)
    train_stats = {} if fit else _train_stats(dataset_dir, info, task, cfg, cache_dir)
    key = _split_key(info, split, files, task, cfg, training, seed, train_stats)
    paths = [info.root / f for f in files]
    hit = load_cached(cache_dir, key)
    if hit is not None:
        arrays, meta = hit
        return SplitData(
            arrays["X"], arrays["y"], arrays["file_ids"], files, meta["class_names"], _stats_of(meta), task
        )

    recs = []
    for rel, path in zip(
        tqdm(files, desc=f"reading {split}", unit="file", leave=False, disable=bar_disabled()), paths
    ):
        r = read_recording(path, cfg, task)
        x, t = r.x, r.targets
        if info.split_type == "within_files":
            a, b = row_ranges(len(x), info.split_factor)[split]
            x, t = x[a:b], None if t is None else t[a:b]
        label = None
        if record.normal_class:
            label = int(label_of(rel) != record.normal_class)
        elif record.by_class:
            label = info.class_names.index(label_of(rel))
        recs.append(Recording(x, t, label))
    names = list(record.label_names) or info.class_names
    feats = extract_features(
        recs, cfg, class_names=names, training=training, fit=fit, stats=train_stats, seed=seed
    )
    X, file_ids = feats.X, feats.file_ids
    empty = len(files) - len(np.unique(file_ids))
    if len(X) == 0:
        raise DataError(
            f"{dataset_dir}: no recording of the {split} split is long enough for one example with this data "
            f"config (frame_size={cfg['frame_size']}, num_frame_concat={cfg['num_frame_concat']}); lower them"
        )
    if empty:
        log.warning(
            "%d recordings of the %s split are too short for one example and are left out", empty, split
        )
    if record.by_class:
        y = np.array([recs[i].label for i in file_ids], np.int64)
    else:
        y, keep = window_targets(task, feats, cfg)
        X, y, file_ids = X[keep], y[keep], file_ids[keep]
    stats = dict(feats.stats)
    if fit:
        stats["feature_mean"] = (
            X.mean(axis=(0, 2, 3)).astype(np.float32) if len(X) else np.zeros(X.shape[1], np.float32)
        )
        stats["feature_std"] = (
            X.std(axis=(0, 2, 3)).astype(np.float32) if len(X) else np.ones(X.shape[1], np.float32)
        )
    else:
        stats = train_stats
    meta = {"class_names": list(names), "stats": {k: np.asarray(v).tolist() for k, v in stats.items()}}
    save_cached(cache_dir, key, {"X": X, "y": y, "file_ids": file_ids.astype(np.int64)}, meta)
    return SplitData(X, y, file_ids.astype(np.int64), files, list(names), stats, task)


def model_input_kwargs(
    data_config: dict[str, Any] | None, dataset_dir: str | Path | None = None
) -> dict[str, Any]:
    """``dict(input_features=H or (H, W), variables=C)``: the input shape the model gets.

    Computed from the config alone by running the pipeline on one silent example. When
    ``variables`` is not set in the config, ``dataset_dir`` (a prepared dataset) supplies it.
    """
    inferred = read_dataset_info(dataset_dir).inferred if dataset_dir is not None else None
    cfg = validate_data_config(with_inferred(data_config, inferred))
    var = cfg["variables"]
    if isinstance(var, int):
        channels = var
    elif isinstance(var, list):
        channels = len(var)
    elif dataset_dir is not None:
        channels = read_dataset_info(dataset_dir).num_variables
    else:
        raise ConfigError(
            "data_processing_feature_extraction.variables is not set, so the number of input channels is "
            "unknown; set variables (e.g. 3) or pass the prepared dataset folder"
        )
    n = min_recording_length(cfg) + 1
    feats = extract_features([Recording(np.zeros((n, channels), np.float32))], cfg, fit=True)
    if len(feats.X) == 0:
        raise ConfigError(
            "the data config produces no example from a recording; check frame_size and num_frame_concat"
        )
    _, c, h, w = feats.X.shape
    return {"input_features": int(h) if w == 1 else (int(h), int(w)), "variables": int(c)}
