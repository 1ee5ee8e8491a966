"""Read one recording file (.csv, .txt, .npy, .pkl) and pick its columns.

Rows are time steps, columns are variables. A first row that does not parse as numbers is a
header; a column headed ``time``, ``timestamp``, ``time_s``, ``Time (ms)``, ``Time [s]``... is
dropped, and so are the ``time_columns`` the config names. Text files are read as spreadsheets and
loggers write them: ``;`` / tab / ``,`` / spaces, decimal commas, quotes, BOM, CRLF, UTF-16 or
Windows-1252, blank and ``#`` lines; empty cells and ``NA`` are NaN (``nan_policy`` decides). Column indices in the config count every column of the
file from 0 (negative ones from the end); names need a header.
"""

from __future__ import annotations

import csv
import difflib
import io
import os
import pickle
import re
import threading
import warnings
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError
from ..task_names import get_task_record
from ..utils.memory import share_one_malloc_arena
from .cache import digest_of_bytes
from .read_once import recall

DATA_SUFFIXES = (".csv", ".txt", ".npy", ".pkl")
_UNIT = r"[a-zµ]{1,3}"  # s, ms, us, µs, min...
# time, Timestamp, time_s, Time (ms), Time [s], t, t_ms, Zeit [s]; never temp, tilt, tx (a unit needs a
# separator or brackets)
_TIME_NAME = re.compile(
    rf"(time|timestamp|times|t|zeit|datetime|date[ _]time)([ _\-]?[\(\[]{_UNIT}[\)\]]|[ _\-]{_UNIT})?"
)


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
    line_numbers: np.ndarray | None = None  # the file line (from 1) of every data row


_MISSING = frozenset({"", "nan", "-nan", "na", "n/a", "#n/a", "null", "none"})
# what a spreadsheet, pandas or a logger writes for a missing value: read as NaN (see nan_policy)


_PYTHON_PATH = threading.Lock()  # see read_text_table
_DECIMAL_COMMA = re.compile(r"[-+]?\d*,?\d+([eE][-+]?\d+)?")


def _read_bytes(path: Path) -> bytes:
    """The file's bytes; their digest is remembered for the cache key of the splits (one read, not two)."""
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            raw = f.read()
    except OSError as e:
        raise DataError(f"{path}: cannot read the file ({e})") from None
    digest_of_bytes(path, st, raw)
    return raw


def _decode(path: Path, raw: bytes) -> str:
    """The file as text: UTF-8 (with or without BOM), UTF-16 with BOM (Excel's "Unicode text"), else
    Windows-1252 / Latin-1 (a header such as ``temp °C`` saved by an older tool)."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError as e:
            raise DataError(
                f"{path}: cannot read the file as UTF-16 text ({e}); save it as UTF-8 CSV"
            ) from None
    if b"\x00" in raw[:4096]:
        raise DataError(
            f"{path}: is a binary file, not text (an Excel .xlsx renamed to {path.suffix}?); export it as CSV"
        )
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            pass
    return raw.decode("latin-1")


def _split_fields(line: str, delimiter: str | None) -> list[str]:
    fields = next(csv.reader([line], delimiter=delimiter)) if delimiter else line.split()
    return [f.strip().strip('"').strip() for f in fields]


def _to_float(s: str) -> float:
    s = s.strip().strip('"').strip()
    return float("nan") if s.lower() in _MISSING else float(s)


def _number(s: str) -> bool:
    try:
        _to_float(s)
    except ValueError:
        return False
    return True


def _parses(fields: list[str]) -> bool:
    return all(_number(f) for f in fields)


def _zero(_: str) -> float:
    return 0.0


def _find_bad_row(
    rows: list[str],
    line_numbers: list[int],
    delimiter: str | None,
    ncols: int,
    skip: set[int],
    names: list[str] | None,
) -> str:
    """The first row numpy could not parse: its line and column, or its count of columns."""
    for row, line in zip(rows, line_numbers):
        fields = _split_fields(row, delimiter)
        if len(fields) != ncols:
            before = f"the header {ncols}" if names else f"the rows before it {ncols}"
            return f"line {line} has {len(fields)} columns, {before} (the number of columns changed)"
        for c, f in enumerate(fields):
            if c not in skip and not _number(f):
                where = f"column {c + 1}" + (f" ({names[c]!r})" if names else "")
                return f"line {line}, {where}: {f!r} is not a number"
    return "a row numpy could not parse"


def _delimiter(first: str) -> str | None:
    """The field separator of a file whose first row is ``first``; None: runs of spaces."""
    delimiter = next((d for d in (";", "\t", ",") if d in first), None)
    words = first.split()
    if delimiter == "," and len(words) > 1 and all(_DECIMAL_COMMA.fullmatch(w) for w in words):
        delimiter = None  # "0,5   -1,25   3": spaces separate numbers with decimal commas
    return delimiter


def _header_rows(fields: list[str], nxt: list[str], decimal_comma: bool) -> int:
    """1 when the first row ``fields`` is a header (text where the next row ``nxt`` holds numbers)."""
    if decimal_comma:
        nxt = [f.replace(",", ".") for f in nxt]
    header = int(
        not _parses([f.replace(",", ".") if decimal_comma else f for f in fields])
        and (not nxt or any(not _number(a) and _number(b) for a, b in zip(fields, nxt)))
    )
    # pandas names unnamed columns 0, 1, 2...: DataFrame(x).to_csv(index=False) writes that header
    numbered = len(fields) > 1 and fields == [str(i) for i in range(len(fields))]
    return header or int(numbered and bool(nxt) and not all(f.lstrip("-").isdigit() for f in nxt))


def _read_plain(raw: bytes) -> Table | None:
    """The fast path (:mod:`.plain_csv`) for a plain file; None sends the file to the Python path."""
    raw = raw.removeprefix(b"\xef\xbb\xbf")
    end = len(raw)
    while end and raw[end - 1] in b"\r\n":  # trailing line breaks (not copied: the parser gets a view)
        end -= 1
    if b"\x00" in raw[:4096]:
        return None
    first_end = raw.find(b"\n", 0, end)
    second_end = raw.find(b"\n", first_end + 1, end) if first_end >= 0 else -1
    try:
        first = raw[: first_end if first_end >= 0 else end].decode("utf-8")
        second = raw[first_end + 1 : second_end if second_end >= 0 else end].decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not first.strip() or first.lstrip().startswith("#") or len(first.splitlines()) != 1:
        return None
    delimiter = _delimiter(first)
    body = first_end + 1 if first_end >= 0 else end
    if (
        delimiter is None
        or (delimiter != "," and raw.find(b",", body, end) >= 0)
        or raw.find(b"#", body, end) >= 0
    ):
        return None  # runs of spaces, decimal commas, comment lines: the Python path
    fields = _split_fields(first, delimiter)
    header = _header_rows(fields, _split_fields(second, delimiter) if first_end >= 0 else [], False)
    names = fields if header else None
    ncols = len(fields)
    skip = {i for i, n in enumerate(names or []) if is_time_column(n)}
    from .plain_csv import parse_plain

    lines = int(np.count_nonzero(np.frombuffer(raw, np.uint8, count=end) == ord("\n"))) + 1  # 3x bytes.count
    data = parse_plain(memoryview(raw)[:end], lines, delimiter, header, ncols, skip)
    if data is None:
        return None
    return Table(data, names, header, np.arange(header + 1, header + 1 + len(data)))


def read_text_table(path: Path) -> Table:
    """Read a delimited text file (``;``, tab, ``,`` or spaces), with an optional header row.

    Blank lines and lines starting with ``#`` are skipped. The first row is a header when it holds
    text where the next row holds numbers; quotes around names and numbers are removed. Columns whose
    header is a time name are skipped while parsing (so date strings there are fine). Empty cells and
    ``NaN``, ``NA``, ``N/A``, ``null`` read as NaN (``nan_policy`` decides). With ``;``, tab or
    spaces as separator a decimal comma (``1,5``) is accepted.

    A plain file (UTF-8, ``,`` / ``;`` / tab, a number in every cell, no blank or comment line) is
    parsed in C (:mod:`.plain_csv`); every other one line by line here, with the same result.
    """
    raw = _read_bytes(path)
    table = _read_plain(raw)
    if table is not None:
        return table
    with _PYTHON_PATH:  # one file at a time: GIL-bound anyway, and warnings.catch_warnings is process-wide
        return _read_lines(path, raw)


def _read_lines(path: Path, raw: bytes) -> Table:
    """The Python path of :func:`read_text_table`: every variant it documents, and the line at fault."""
    kept = [
        (i, ln)
        for i, ln in enumerate(_decode(path, raw).splitlines(), start=1)
        if ln.strip() and not ln.lstrip().startswith("#")
    ]
    if not kept:
        raise DataError(f"{path}: the file is empty; remove it or fill it with one row per time step")
    first = kept[0][1]
    delimiter = _delimiter(first)
    fields = _split_fields(first, delimiter)
    nxt = _split_fields(kept[1][1], delimiter) if len(kept) > 1 else []
    decimal_comma = delimiter != "," and any("," in ln for _, ln in kept[1:3])
    header = _header_rows(fields, nxt, decimal_comma)
    names = fields if header else None
    rows = [ln for _, ln in kept[header:]]
    line_numbers = [i for i, _ in kept[header:]]
    if not rows:
        raise DataError(f"{path}: the file has a header but no data rows")
    if decimal_comma:
        rows = [r.replace(",", ".") for r in rows]
    ncols = len(names) if names else len(_split_fields(rows[0], delimiter))
    time_cols = {i for i, n in enumerate(names or []) if is_time_column(n)}
    data = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for converter in (None, _to_float):  # fast C parser first; missing values need the converter
            convs = {i: (_zero if i in time_cols else converter) for i in range(ncols)}
            convs = {i: c for i, c in convs.items() if c is not None}
            try:
                data = np.loadtxt(
                    io.StringIO("\n".join(rows)),
                    delimiter=delimiter,
                    ndmin=2,
                    dtype=np.float64,
                    converters=convs or None,
                    comments=None,
                    quotechar='"',
                )
                break
            except (ValueError, IndexError):
                continue
    if data is None or data.shape[1] != ncols:
        problem = _find_bad_row(rows, line_numbers, delimiter, ncols, time_cols, names)
        raise DataError(
            f"{path}: cannot read the numbers: {problem}; every row after the optional header must hold the same "
            f"number of numeric columns separated by {delimiter or 'spaces'!r} (an empty cell, NaN or NA is a "
            "missing value)"
        )
    return Table(data, names, header, np.asarray(line_numbers))


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
            close = difflib.get_close_matches(col.lower(), lower, n=1, cutoff=0.6)
            hint = f"; did you mean {names[lower.index(close[0])]!r}?" if close else ""
            raise DataError(
                f"{path}: {key} names column {col!r} which does not exist; columns are {names}{hint} "
                f"(fix data_processing_feature_extraction.{key})"
            )
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
    if get_task_record(task).needs_horizon:  # forecasting: the next samples of these columns
        fv = cfg["forecast_variables"]
        targets = [_resolve(c, names, n, path, "forecast_variables") for c in fv] if fv else list(inputs)
    col_names = [names[i] if names else f"col{i}" for i in range(n)]
    return Columns(inputs, targets, col_names)


def fix_non_finite(
    data: np.ndarray, policy: str, path: Path, table: Table, cols: list[int]
) -> tuple[np.ndarray, int]:
    """Apply ``nan_policy`` to NaN/Inf in ``cols``; returns the data and the count of rows touched."""
    if np.isfinite(data).all():  # the usual case, without copying the columns out first
        return data, 0
    bad = ~np.isfinite(data[:, cols])
    if not bad.any():
        return data, 0
    rows = np.flatnonzero(bad.any(axis=1))
    if policy == "error":
        r, c = np.argwhere(bad)[0]
        col = cols[c]
        name = table.names[col] if table.names else f"column {col}"
        line = table.line_numbers[r] if table.line_numbers is not None else r + 1 + table.header_rows
        raise DataError(
            f"{path}: NaN/Inf value at line {line}, {name} ({len(rows)} rows affected); empty cells and NA, "
            "n/a, null read as NaN: fill them in, or set data_processing_feature_extraction.nan_policy to "
            "'drop' or 'interpolate'"
        )
    if policy == "drop":
        return np.delete(data, rows, axis=0), len(rows)
    data = data.copy()
    t = np.arange(len(data))
    for j in cols:
        ok = np.isfinite(data[:, j])
        if not ok.any():
            name = f"{table.names[j]!r}" if table.names else f"column {j}"
            raise DataError(
                f"{path}: {name} holds no number at all (every cell empty or NaN), nothing to interpolate from; "
                "fill it in, remove the file, or leave that column out of data_processing_feature_extraction.variables"
            )
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
    """Read one file and return the columns the (validated) config selects for ``task``.

    Inside ``read_once()`` (the dataset stage) a file read before is not parsed again."""
    path = Path(path)
    return recall(path, cfg, task, lambda: _read_recording(path, cfg, task), _nbytes)


def read_recordings(
    paths: Iterable[str | Path], cfg: dict[str, Any], task: str, workers: int | None = None
) -> Iterator[RecordingData]:
    """:func:`read_recording` of each of ``paths``, in order, read by ``workers`` threads (default: the
    CPUs, at most 4) a few files ahead: pyarrow's parser, the file digest and numpy's checks release
    the GIL, so on two cores the dataset stage's checks take about half the time. An error is raised
    where the sequential loop would raise it (at its file, in order)."""
    paths = [Path(p) for p in paths]
    workers = workers or min(4, os.cpu_count() or 1)
    if workers < 2 or len(paths) < 2:
        yield from (read_recording(p, cfg, task) for p in paths)
        return
    ahead = 2 * workers
    share_one_malloc_arena()  # the threads' parsed tables would otherwise stay resident in arenas of their own
    with ThreadPoolExecutor(workers, thread_name_prefix="read_recordings") as pool:
        pending = [pool.submit(read_recording, p, cfg, task) for p in paths[:ahead]]
        try:
            for i in range(len(paths)):
                rec = pending[i].result()
                if i + ahead < len(paths):
                    pending.append(pool.submit(read_recording, paths[i + ahead], cfg, task))
                pending[i] = None  # its memory is the caller's (and read_once's) from now on
                yield rec
        finally:
            for f in pending:
                if f is not None:
                    f.cancel()


def _nbytes(rec: RecordingData) -> int:
    return rec.x.nbytes + (0 if rec.targets is None else rec.targets.nbytes)


def _read_recording(path: Path, cfg: dict[str, Any], task: str) -> RecordingData:
    table = read_table(path)
    cols = select_columns(table, cfg, task, path)
    data, fixed = fix_non_finite(table.data, cfg["nan_policy"], path, table, cols.inputs + cols.targets)
    x = np.ascontiguousarray(data[:, cols.inputs], dtype=np.float32)
    t = np.ascontiguousarray(data[:, cols.targets], dtype=np.float32) if cols.targets else None
    return RecordingData(x, t, cols, table.data.shape[1], fixed)
