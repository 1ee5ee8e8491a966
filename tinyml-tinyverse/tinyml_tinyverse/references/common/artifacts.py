"""Writing artifacts atomically: into ``name.tmp``, then ``os.replace``, so a half-written file never
looks finished. Also the small text formats the scripts write (YAML, CSV, C header)."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ...common.model_aux import model_aux_header


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield ``path.tmp`` to write into; on success it replaces ``path``, on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def to_plain(obj: Any) -> Any:
    """Numpy scalars / arrays and tuples -> plain Python types that ``yaml.safe_dump`` writes."""
    if isinstance(obj, dict):
        return {str(k): to_plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_plain(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_yaml(path: str | os.PathLike, data: Any) -> None:
    """Write ``data`` as YAML (keys in insertion order)."""
    with atomic_path(path) as tmp:
        tmp.write_text(yaml.safe_dump(to_plain(data), sort_keys=False, default_flow_style=None))


def write_csv(path: str | os.PathLike, rows: Sequence[dict], columns: Sequence[str] | None = None) -> None:
    """Write a list of dicts as CSV with a header row."""
    columns = list(columns or (rows[0].keys() if rows else []))
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: to_plain(row.get(k, "")) for k in columns})


def read_csv(path: str | os.PathLike) -> list[dict]:
    """Read a CSV written by :func:`write_csv` (values as strings)."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def write_model_aux_h(
    path: str | os.PathLike, class_names: Sequence[str], task: str, anomaly_threshold: float | None = None
) -> None:
    """``model_aux.h`` (see :mod:`tinyml_tinyverse.common.model_aux`), written atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(model_aux_header(class_names, task=task, anomaly_threshold=anomaly_threshold))
