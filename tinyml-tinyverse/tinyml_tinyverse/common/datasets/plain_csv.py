"""The fast path of :func:`readers.read_text_table`: a plain delimited file parsed by a C++ CSV reader.

Plain means what loggers and ``np.savetxt`` / ``DataFrame.to_csv`` write: UTF-8, one header row or
none, ``,`` / ``;`` / tab between fields, a dot as decimal mark, one row per line and a number in
every data cell. :func:`parse_plain` reads such a body with pyarrow's CSV reader (about 5x faster
than ``np.loadtxt``, correctly rounded like Python's ``float``) and returns None for anything else
(a blank or comment line, a missing value, a cell that is not a number, a ragged row, pyarrow not
installed): the Python line handling of :mod:`.readers` then reads the file and names the line at
fault. Both paths give the same numbers, bit for bit.
"""

from __future__ import annotations

import numpy as np


def parse_plain(
    raw: bytes | memoryview, lines: int, delimiter: str, header_rows: int, ncols: int, skip: set[int]
) -> np.ndarray | None:
    """``(rows, ncols)`` float64 of the rows after ``header_rows`` of the ``lines`` lines of ``raw``
    (BOM and trailing line breaks removed), or None where the file is not plain. Columns in ``skip``
    (time columns, which may hold dates) are not parsed and read as 0, as the Python path reads them."""
    try:
        import pyarrow as pa
        import pyarrow.csv as pv
    except ImportError:  # the Python path reads every file too, only slower
        return None
    names = [f"f{i}" for i in range(ncols)]
    keep = [n for i, n in enumerate(names) if i not in skip]
    try:
        table = pv.read_csv(
            pa.py_buffer(raw),
            read_options=pv.ReadOptions(skip_rows=header_rows, column_names=names),
            parse_options=pv.ParseOptions(delimiter=delimiter, ignore_empty_lines=False),
            convert_options=pv.ConvertOptions(
                column_types={n: pa.float64() for n in keep}, include_columns=keep
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None  # a ragged row, a cell that is no number, a blank line: the Python path says where
    rows = lines - header_rows  # every line is a data row: none was blank or skipped
    if table.num_rows != rows or rows < 1:
        return None
    data = np.empty((rows, ncols), np.float64)
    for i, name in enumerate(names):
        if i in skip:
            data[:, i] = 0.0
            continue
        column = table.column(name)
        if column.null_count:  # an empty cell, NA, NaN...: the Python path applies the missing-value rules
            return None
        row = 0
        for chunk in column.chunks:  # the float64 buffers as they are (to_numpy() would import pandas)
            n = len(chunk)
            if n:
                data[row : row + n, i] = np.frombuffer(
                    chunk.buffers()[1], np.float64, count=n, offset=chunk.offset * 8
                )
            row += n
    return data
