"""Parse each recording once per dataset stage.

The dataset stage checks every file, then processes each split and plots a few recordings. Inside
``with read_once():`` (``prepare_dataset`` runs in one) :func:`readers.read_recording` keeps what it
parsed, and a later read of the same file (same size, modification and change times) with the same
column settings gets the recording read first. Recordings are kept up to ``budget_bytes`` (default:
a quarter of the memory available when the block starts, at most 512 MiB); past it a file is parsed
again when it is read again. Outside the block nothing is kept, and the block's end
gives the memory the parsing freed back to the OS.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..utils.memory import release_free_memory

MAX_BUDGET_BYTES = 512 << 20
# the data config keys that decide what read_recording returns for a file
READ_KEYS = ("variables", "target_columns", "forecast_variables", "time_columns", "nan_policy")

_kept: dict[tuple, Any] | None = None
_room = 0
_lock = threading.Lock()  # readers.read_recordings reads from threads


@contextlib.contextmanager
def read_once(budget_bytes: int | None = None) -> Iterator[None]:
    """Within the block each file is parsed once (see the module docstring); re-entrant."""
    global _kept, _room
    if _kept is not None:
        yield
        return
    _kept, _room = {}, default_budget() if budget_bytes is None else budget_bytes
    try:
        yield
    finally:
        _kept, _room = None, 0
        release_free_memory()  # the parsed recordings' memory goes back to the OS, not to the next stage


def default_budget() -> int:
    """A quarter of the memory available now (Linux ``MemAvailable``), at most ``MAX_BUDGET_BYTES``."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return min(MAX_BUDGET_BYTES, int(line.split()[1]) * 1024 // 4)
    except (OSError, ValueError, IndexError):
        pass
    return MAX_BUDGET_BYTES


def recall(
    path: Path, cfg: dict[str, Any], task: str, read: Callable[[], Any], nbytes: Callable[[Any], int]
) -> Any:
    """``read()``, or what it returned for this file and settings earlier in the block."""
    global _room
    kept = _kept  # this block's (the block may end while a reading thread is here)
    if kept is None:
        return read()
    st = os.stat(path)
    key = (
        os.path.abspath(path), st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, task,
        json.dumps([cfg.get(k) for k in READ_KEYS], default=str),
    )  # fmt: skip
    known = kept.get(key)
    if known is not None:
        return known
    value = read()
    size = nbytes(value)
    with _lock:
        if kept is _kept and size <= _room and key not in kept:
            kept[key] = value
            _room -= size
    return value
