"""The raw samples behind the examples of a split: what the on-chip pipeline is pushed.

``load_split`` gives each example's recording (``file_ids``); examples of one recording are
consecutive and start every ``hop * concat_stride`` samples from its first sample, so example
``k`` of a recording covers samples ``k * step .. k * step + span`` (``span = frame_size +
(num_frame_concat - 1) * hop``). This holds when no data processing step resamples before the
windows are cut (the only kind the pipeline supports).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..task_names import get_task_record
from ..transforms.data_processing import frame_hop
from .data_config import validate_data_config
from .layout import label_of
from .readers import read_recording
from .splitting import row_ranges
from .timeseries_dataset import read_dataset_info

IDENTITY_AT_INFERENCE = ("SimpleWindow", "GainVariation")


def window_index(file_ids: np.ndarray) -> np.ndarray:
    """Index of each example within its recording (0, 1, ... per consecutive run of one file id)."""
    file_ids = np.asarray(file_ids)
    if len(file_ids) == 0:
        return np.zeros(0, np.int64)
    start = np.r_[0, np.flatnonzero(np.diff(file_ids)) + 1]
    first = np.repeat(start, np.diff(np.r_[start, len(file_ids)]))
    return np.arange(len(file_ids)) - first


def window_geometry(cfg: dict[str, Any]) -> tuple[int, int]:
    """``(span, step)``: raw samples of one example and between two examples' starts."""
    k = int(cfg["num_frame_concat"]) if "CONCAT" in cfg["feat_ext_transform"] else 1
    hop = frame_hop(cfg)
    stride = int(cfg["concat_stride"]) if "CONCAT" in cfg["feat_ext_transform"] else 1
    return int(cfg["frame_size"]) + (k - 1) * hop, hop * stride


@dataclass
class RawWindows:
    """Raw windows ``(n, span, C)`` of chosen examples (model channel order), one whole recording
    ``(T, C)``, the file column index and name of each model channel."""

    windows: np.ndarray
    recording: np.ndarray
    recording_file: str
    columns: list[int]
    column_names: list[str]


def raw_windows(
    dataset_dir: str | Path,
    split: str,
    task: str,
    data_config: dict[str, Any],
    file_ids: np.ndarray,
    index: np.ndarray,
) -> RawWindows:
    """The raw samples of examples ``index`` of ``split`` (whose ``file_ids`` come from ``load_split``)."""
    cfg = validate_data_config(data_config)
    other = [n for n in cfg["data_proc_transforms"] if n not in IDENTITY_AT_INFERENCE]
    if other:
        raise ConfigError(f"raw windows: data_proc_transforms {other} change the samples before windowing")
    info = read_dataset_info(dataset_dir)
    files = list(info.splits[split])
    normal = get_task_record(task).normal_class
    if normal and split == "train":  # anomaly detection trains on normal data only
        files = [f for f in files if label_of(f) == normal]
    span, step = window_geometry(cfg)
    ranks = window_index(file_ids)
    cache: dict[int, Any] = {}

    def samples(file_id: int) -> np.ndarray:
        if file_id not in cache:
            rec = read_recording(info.root / files[file_id], cfg, task)
            x = rec.x
            if info.split_type == "within_files":
                a, b = row_ranges(len(x), info.split_factor)[split]
                x = x[a:b]
            cache[file_id] = (x, rec.columns)
        return cache[file_id][0]

    windows = np.stack([samples(int(file_ids[i]))[ranks[i] * step : ranks[i] * step + span] for i in index])
    first = int(file_ids[index[0]]) if len(index) else 0
    recording = samples(first)
    columns = cache[first][1]
    return RawWindows(
        windows.astype(np.float32),
        recording.astype(np.float32),
        files[first],
        list(columns.inputs),
        [columns.names[i] for i in columns.inputs],
    )
