"""The C-parser fast path of the text reader gives the Python path's table bit for bit, and hands every
file it does not fully understand to the Python path."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from tinyml_tinyverse.common.datasets import readers

RNG = np.random.default_rng(7)
VALUES = np.concatenate(
    [
        RNG.normal(size=300) * 10.0 ** RNG.integers(-12, 12, 300),  # every exponent
        RNG.integers(-100000, 100000, 50).astype(np.float64),
        [0.0, -0.0, 1e-300, -1e300, 2.0**-1074, 0.1, 0.2, 0.3, 123456789012345678.0],
    ]
)


def _cells(values: np.ndarray, style: str) -> list[str]:
    if style == "repr":  # shortest round-trip, as Python and pandas write
        return [repr(float(v)) for v in values]
    if style == "17g":
        return [f"{v:.17g}" for v in values]
    if style == "5f":  # np.savetxt with fmt="%.5f", as the generators write
        return [f"{v:.5f}" for v in values]
    return [f"{v:+.6e}" for v in values]  # signed exponent notation, as loggers write


def _table(n_cols: int, style: str) -> list[list[str]]:
    values = np.resize(VALUES, (len(VALUES) // n_cols, n_cols))
    cells = _cells(values.ravel(), style)
    return [cells[i : i + n_cols] for i in range(0, len(cells) - n_cols + 1, n_cols)]


def _write(path, header, rows, sep=",", newline="\n", bom=False, end="\n"):
    lines = ([sep.join(header)] if header else []) + [sep.join(r) for r in rows]
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + (newline.join(lines) + end).encode("utf-8"))
    return path


PLAIN = {
    "comma_header_repr": dict(header=["time", "ax", "ay"], style="repr"),
    "comma_no_header_17g": dict(header=None, style="17g"),
    "semicolon_crlf_bom": dict(header=["x", "y", "z"], style="5f", sep=";", newline="\r\n", bom=True),
    "tab_signed_exponents": dict(header=["Time [s]", "v1", "v2"], style="e", sep="\t"),
    "numbered_pandas_header": dict(header=["0", "1", "2"], style="repr"),
    "no_final_newline": dict(header=["a", "b", "c"], style="5f", end=""),
    "trailing_blank_lines": dict(header=["a", "b", "c"], style="repr", end="\n\n\r\n"),
}


@pytest.mark.parametrize("name", sorted(PLAIN))
def test_plain_files_take_the_fast_path_and_match_the_python_path(tmp_path, name):
    spec = dict(PLAIN[name])
    style = spec.pop("style")
    path = _write(tmp_path / f"{name}.csv", spec.pop("header"), _table(3, style), **spec)
    raw = path.read_bytes()
    fast = readers._read_plain(raw)
    slow = readers._read_lines(path, raw)
    assert fast is not None, "a plain file must be parsed in C"
    assert fast.names == slow.names and fast.header_rows == slow.header_rows
    np.testing.assert_array_equal(fast.line_numbers, slow.line_numbers)
    assert fast.data.dtype == slow.data.dtype == np.float64 and fast.data.shape == slow.data.shape
    assert np.array_equal(fast.data.view(np.int64), slow.data.view(np.int64))  # bit for bit, -0.0 too


def test_a_file_parsed_in_several_blocks_matches(tmp_path):
    rows = _table(4, "repr") * 400  # about 2.6 MB: several of the C reader's 1 MB blocks, parsed in threads
    path = _write(tmp_path / "big.csv", ["time", "a", "b", "c"], rows)
    assert path.stat().st_size > 2_000_000
    raw = path.read_bytes()
    fast, slow = readers._read_plain(raw), readers._read_lines(path, raw)
    assert fast is not None and fast.data.shape == slow.data.shape == (len(rows), 4)
    assert np.array_equal(fast.data.view(np.int64), slow.data.view(np.int64))


def test_date_time_column_is_skipped_like_the_python_path(tmp_path):
    rows = [[f"2024-01-01 00:00:{i:02d}", repr(float(v)), "3"] for i, v in enumerate(VALUES[:50])]
    path = _write(tmp_path / "dates.csv", ["Timestamp", "x", "y"], rows)
    raw = path.read_bytes()
    fast, slow = readers._read_plain(raw), readers._read_lines(path, raw)
    assert fast is not None
    np.testing.assert_array_equal(fast.data, slow.data)
    assert not fast.data[:, 0].any()  # a time column reads as 0 on both paths


NOT_PLAIN = {
    "blank line": "x,y\n1,2\n\n3,4\n",
    "whitespace line": "x\n1\n   \n3\n",
    "comment line": "x,y\n1,2\n# paused\n3,4\n",
    "comment in a skipped time column": "time,x\n0,1\n#1,2\n2,3\n",
    "comment before the header": "# logger v1, 1 kHz\nx,y\n1,2\n",
    "empty cell": "x,y\n1,\n3,4\n",
    "NA": "x,y\n1,NA\n3,4\n",
    "nan": "x,y\n1,nan\n3,4\n",
    "text cell": "x,y\n1,2\n3,oops\n",
    "ragged row": "x,y\n1,2\n3,4,5\n",
    "short row": "x,y,z\n1,2,3\n4,5\n",
    "decimal comma": "x;y\n0,5;1,25\n",
    "spaces": "1.5   2.5\n3.5   4.5\n",
    "lone CR line breaks": "x,y\r1,2\r3,4\r",
    "header only": "x,y\n",
    "underscore digits": "x,y\n1_000,2\n",
}


@pytest.mark.parametrize("name", sorted(NOT_PLAIN))
def test_unusual_files_go_to_the_python_path(tmp_path, name):
    assert readers._read_plain(NOT_PLAIN[name].encode()) is None


def test_not_utf8_and_binary_go_to_the_python_path():
    assert readers._read_plain("time,temp °C\n0,1\n".encode("cp1252")) is None
    assert readers._read_plain("x\ty\r\n1\t2\r\n".encode("utf-16")) is None
    assert readers._read_plain(b"PK\x03\x04" + bytes(64)) is None


def test_without_pyarrow_every_file_still_reads(tmp_path, monkeypatch):
    path = _write(tmp_path / "a.csv", ["time", "ax", "ay"], _table(3, "repr"))
    with_c = readers.read_text_table(path)
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow raises ImportError
    monkeypatch.setitem(sys.modules, "pyarrow.csv", None)
    assert readers._read_plain(path.read_bytes()) is None
    without = readers.read_text_table(path)
    np.testing.assert_array_equal(with_c.data, without.data)
    assert with_c.names == without.names
