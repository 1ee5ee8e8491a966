"""Read one recording file (.csv, .txt, .npy, .pkl) and pick its columns.

Rows are time steps, columns are variables. A first row that does not parse as numbers is a
header; a column headed ``time``, ``timestamp``, ``time_s``, ``Time (ms)``... is dropped, and so
are the ``time_columns`` the config names. Column indices in the config count every column of the
file from 0 (negative ones from the end); names need a header.
"""

from __future__ import annotations

import io
import pickle
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError

DATA_SUFFIXES = (".csv", ".txt", ".npy", ".pkl")
_TIME_NAME = re.compile(r"(time|timestamp|times|t)([ _\-]?\(?[a-z]{0,3}\)?)?")


_INDEX_NAME = re.compile(r"|unnamed: ?\d+")  # the row index pandas' DataFrame.to_csv() writes


def is_time_column(name: str) -> bool:
    """True for column names such as ``time``, ``Timestamp``, ``time_s``, ``Time (ms)``, and for a row
    index column (an empty header cell or ``Unnamed: 0``, as ``DataFrame.to_csv()`` writes): dropped."""
    name = name.strip().lower()
    return bool(_TIME_NAME.fullmatch(name) or _INDEX_NAME.fullmatch(name))


@dataclass
class Table:
    """A file's numbers ``(rows, columns)`` float64, its column names (or None) and header rows."""

    data: np.ndarray
    names: list[str] | None
    header_rows: int


def _split_fields(line: str, delimiter: str | None) -> list[str]:
    return [f.strip() for f in (line.split(delimiter) if delimiter else line.split())]


def _parses(fields: list[str]) -> bool:
    try:
        [float(f) for f in fields]
    except ValueError:
        return False
    return True


def _explain_parse_error(msg: str, header: int, names: list[str] | None) -> str:
    """numpy's loadtxt message -> one naming the file line (and column) to fix."""
    m = re.search(r"could not convert string (.*) to float64 at row (\d+), column (\d+)", msg)
    if m:
        line, col = int(m.group(2)) + 1 + header, int(m.group(3))
        where = f"column {col}" + (f" ({names[col - 1]!r})" if names and col <= len(names) else "")
        return f"line {line}, {where}: {m.group(1)} is not a number"
    m = re.search(r"number of columns changed from (\d+) to (\d+) at row (\d+)", msg)
    if m:
        return f"line {int(m.group(3)) + header} has {m.group(2)} columns, the rows before it {m.group(1)} (the number of columns changed)"
    m = re.search(r"invalid column index \d+ at row (\d+) with (\d+) columns", msg)
    if m:
        return (
            f"line {int(m.group(1)) + header} has only {m.group(2)} columns (the number of columns changed)"
        )
    return msg


def read_text_table(path: Path) -> Table:
    """Read a delimited text file (``,``, ``;``, tab or spaces), with an optional header row.

    The first row is a header when it holds text where the next row holds numbers. Columns whose
    header is a time name are skipped while parsing (so date strings there are fine). With ``;``
    as separator a decimal comma (``1,5``) is accepted.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot read the file as text ({e}); save it as UTF-8 CSV") from None
    lines = iter(ln for ln in text.splitlines() if ln.strip())
    first, second = next(lines, None), next(lines, None)
    if first is None:
        raise DataError(f"{path}: the file is empty; remove it or fill it with one row per time step")
    delimiter = next((d for d in (",", ";", "\t") if d in first), None)
    if delimiter == ";" and "," in text:
        text = text.replace(",", ".")  # decimal comma
        first, second = first.replace(",", "."), second and second.replace(",", ".")
    fields = _split_fields(first, delimiter)
    nxt = _split_fields(second, delimiter) if second else []
    header = int(
        not _parses(fields)
        and (not nxt or any(not _parses([a]) and _parses([b]) for a, b in zip(fields, nxt)))
    )
    names = fields if header else None
    time_cols = [i for i, n in enumerate(names or []) if is_time_column(n)]
    keep = [i for i in range(len(fields)) if i not in time_cols] if time_cols else None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data": reported below
            data = np.loadtxt(
                io.StringIO(text),
                delimiter=delimiter,
                skiprows=header,
                ndmin=2,
                dtype=np.float64,
                usecols=keep,
            )
    except ValueError as e:
        raise DataError(
            f"{path}: cannot read the numbers: {_explain_parse_error(str(e), header, names)}; every row after "
            f"the optional header must hold the same number of numeric columns separated by {delimiter or 'spaces'!r}"
        ) from None
    if data.size == 0:
        raise DataError(f"{path}: the file has a header but no data rows")
    if keep is not None:  # put the skipped time columns back as zeros so column indices stay the file's
        full = np.zeros((data.shape[0], len(fields)))
        full[:, keep] = data
        data = full
    if names is not None and len(names) != data.shape[1]:
        raise DataError(f"{path}: the header names {len(names)} columns but the rows have {data.shape[1]}")
    return Table(data, names, header)


class _ArrayUnpickler(pickle.Unpickler):
    """Loads only numpy arrays and plain containers: a pickle cannot run code here."""

    ALLOWED = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("builtins", "list"),
        ("builtins", "dict"),
        ("collections", "OrderedDict"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed")


def read_pickle_table(path: Path) -> Table:
    """A pickled array ``(T, C)`` / ``(T,)``, list of rows, or dict {column name: 1-D array}."""
    try:
        with open(path, "rb") as f:
            obj = _ArrayUnpickler(f).load()
    except Exception as e:
        raise DataError(
            f"{path}: cannot load the pickle ({e}); only numpy arrays, lists and dicts of columns "
            "are accepted (save a DataFrame with df.to_numpy() or as CSV)"
        ) from None
    names = None
    if isinstance(obj, dict):
        names = [str(k) for k in obj]
        obj = np.stack([np.asarray(v, np.float64).reshape(-1) for v in obj.values()], axis=1)
    return Table(_as_2d(np.asarray(obj, dtype=np.float64), path), names, 0)


def _as_2d(data: np.ndarray, path: Path) -> np.ndarray:
    if data.ndim == 1:
        data = data[:, None]
    if data.ndim != 2 or data.shape[0] == 0:
        raise DataError(f"{path}: expected a (time steps, variables) array, got shape {data.shape}")
    return data


def read_table(path: str | Path) -> Table:
    """Read any supported recording file into a :class:`Table`."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        return read_text_table(path)
    if suffix == ".npy":
        try:
            data = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise DataError(f"{path}: cannot load the .npy file ({e}); save a plain numeric array") from None
        try:
            return Table(_as_2d(np.asarray(data, np.float64), path), None, 0)
        except (TypeError, ValueError) as e:
            raise DataError(f"{path}: the array is not numeric ({e})") from None
    if suffix == ".pkl":
        return read_pickle_table(path)
    raise DataError(f"{path}: unsupported file type {suffix!r}; use one of {', '.join(DATA_SUFFIXES)}")


def _resolve(col: str | int, names: list[str] | None, n: int, path: Path, key: str) -> int:
    """A column name or index -> file column index, or a DataError naming the file and key."""
    if isinstance(col, str):
        if names is None:
            raise DataError(
                f"{path}: {key} names column {col!r} but the file has no header row; "
                "add a header or use column indices"
            )
        lower = [c.lower() for c in names]
        if col.lower() not in lower:
            raise DataError(f"{path}: {key} names column {col!r} which does not exist; columns are {names}")
        return lower.index(col.lower())
    if not -n <= col < n:
        raise DataError(f"{path}: {key} asks for column {col} but the file has {n} columns (0..{n - 1})")
    return col % n


@dataclass
class Columns:
    """File column indices of the model inputs and of the targets (regression / forecasting)."""

    inputs: list[int]
    targets: list[int]
    names: list[str]


def select_columns(table: Table, cfg: dict[str, Any], task: str, path: Path) -> Columns:
    """Pick input and target columns of one file as the config says."""
    n = table.data.shape[1]
    names = table.names
    time = {i for i, c in enumerate(names or []) if is_time_column(c)}
    time |= {_resolve(c, names, n, path, "time_columns") for c in cfg["time_columns"]}
    data_cols = [i for i in range(n) if i not in time]
    targets: list[int] = []
    if task == "regression":
        tc = cfg["target_columns"]
        targets = [_resolve(c, names, n, path, "target_columns") for c in tc] if tc else data_cols[-1:]
    candidates = [i for i in data_cols if i not in targets]
    var = cfg["variables"]
    if var is None:
        inputs = candidates
    elif isinstance(var, int):
        if var > len(candidates):
            raise DataError(
                f"{path}: variables={var} but the file has only {len(candidates)} data columns "
                f"{[names[i] for i in candidates] if names else candidates}; lower variables"
            )
        inputs = candidates[:var]
    else:
        inputs = [_resolve(c, names, n, path, "variables") for c in var]
    if not inputs:
        raise DataError(f"{path}: no input columns are left after dropping time and target columns")
    if task == "forecasting":
        fv = cfg["forecast_variables"]
        targets = [_resolve(c, names, n, path, "forecast_variables") for c in fv] if fv else list(inputs)
    col_names = [names[i] if names else f"col{i}" for i in range(n)]
    return Columns(inputs, targets, col_names)


def fix_non_finite(
    data: np.ndarray, policy: str, path: Path, table: Table, cols: list[int]
) -> tuple[np.ndarray, int]:
    """Apply ``nan_policy`` to NaN/Inf in ``cols``; returns the data and the count of rows touched."""
    bad = ~np.isfinite(data[:, cols])
    if not bad.any():
        return data, 0
    rows = np.flatnonzero(bad.any(axis=1))
    if policy == "error":
        r, c = np.argwhere(bad)[0]
        col = cols[c]
        name = table.names[col] if table.names else f"column {col}"
        line = r + 1 + table.header_rows
        raise DataError(
            f"{path}: NaN/Inf value at line {line}, {name} ({len(rows)} rows affected); fix the data or set "
            "data_processing_feature_extraction.nan_policy to 'drop' or 'interpolate'"
        )
    if policy == "drop":
        return np.delete(data, rows, axis=0), len(rows)
    data = data.copy()
    t = np.arange(len(data))
    for j in cols:
        ok = np.isfinite(data[:, j])
        if not ok.any():
            raise DataError(f"{path}: column {j} has no finite value to interpolate from")
        data[~ok, j] = np.interp(t[~ok], t[ok], data[ok, j])
    return data, len(rows)


@dataclass
class RecordingData:
    """Inputs ``(T, C)`` float32, targets ``(T, K)`` float32 or None, and what was read."""

    x: np.ndarray
    targets: np.ndarray | None
    columns: Columns
    num_file_columns: int
    fixed_rows: int


def read_recording(path: str | Path, cfg: dict[str, Any], task: str) -> RecordingData:
    """Read one file and return the columns the (validated) config selects for ``task``."""
    path = Path(path)
    table = read_table(path)
    cols = select_columns(table, cfg, task, path)
    data, fixed = fix_non_finite(table.data, cfg["nan_policy"], path, table, cols.inputs + cols.targets)
    x = np.ascontiguousarray(data[:, cols.inputs], dtype=np.float32)
    t = np.ascontiguousarray(data[:, cols.targets], dtype=np.float32) if cols.targets else None
    return RecordingData(x, t, cols, table.data.shape[1], fixed)
