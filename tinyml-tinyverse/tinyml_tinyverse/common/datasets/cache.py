"""A small on-disk cache of processed splits, keyed by a hash of the data files and the config."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

CACHE_VERSION = 1  # bump when the processing code changes what it produces
RACY_SECONDS = 2.0  # a file changed this recently may change again within its timestamp's resolution
_digests: dict[tuple, str] = {}


def _stat_key(path: Path, st: os.stat_result) -> tuple:
    return (os.path.abspath(path), st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes (hardware-accelerated: twice blake2b's speed), 128 bits of it.

    Remembered in this process while the file keeps its size and its modification and change times
    (the dataset stage and the training stage hash every file several times); a file changed less
    than ``RACY_SECONDS`` ago is hashed every time. A file a reader has just read whole was hashed
    from those bytes (:func:`digest_of_bytes`), without a second read."""
    st = os.stat(path)
    known = _digests.get(_stat_key(path, st))
    if known is not None:
        return known
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return _remember(path, st, h.hexdigest()[:32])


def digest_of_bytes(path: Path, st: os.stat_result, raw: bytes | memoryview) -> str:
    """:func:`file_digest` of the file at ``path`` whose bytes ``raw`` were read just after ``st`` was
    taken (``os.fstat`` of the open file). Were the file changed while it was read, its later
    ``os.stat`` differs from ``st`` (or it is racy): then :func:`file_digest` reads it again."""
    return _remember(path, st, hashlib.sha256(raw).hexdigest()[:32])


def _remember(path: Path, st: os.stat_result, digest: str) -> str:
    if time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) > RACY_SECONDS * 1e9:
        if len(_digests) > 100_000:
            _digests.clear()
        _digests[_stat_key(path, st)] = digest
    return digest


def cache_key(files: list[Path], settings: dict[str, Any]) -> str:
    """Hash of the files' contents and of the JSON-able ``settings``."""
    h = hashlib.sha256()
    h.update(json.dumps({"version": CACHE_VERSION, **settings}, sort_keys=True, default=str).encode())
    for p in files:
        h.update(str(p.name).encode())
        h.update(file_digest(p).encode())
    return h.hexdigest()[:32]


def _entry(cache_dir: Path | None, key: str) -> Path | None:
    path = None if cache_dir is None else Path(cache_dir) / f"{key}.npz"
    return path if path is not None and path.is_file() else None


def load_cached(cache_dir: Path | None, key: str) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
    """The arrays and metadata stored under ``key``, or None."""
    path = _entry(cache_dir, key)
    if path is None:
        return None
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files if k != "__meta__"}
        meta = json.loads(str(z["__meta__"]))
    return arrays, meta


def load_cached_meta(cache_dir: Path | None, key: str) -> dict[str, Any] | None:
    """The metadata stored under ``key`` without reading its arrays, or None."""
    path = _entry(cache_dir, key)
    if path is None:
        return None
    with np.load(path, allow_pickle=False) as z:
        return json.loads(str(z["__meta__"]))


def save_cached(
    cache_dir: Path | None, key: str, arrays: dict[str, np.ndarray], meta: dict[str, Any]
) -> None:
    """Store arrays + JSON metadata under ``key`` (written to a temp file, then renamed)."""
    if cache_dir is None:
        return
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache_dir / f"{key}.{os.getpid()}.tmp.npz"  # one temp per process: ranks may write at once
    np.savez(tmp, __meta__=np.array(json.dumps(meta)), **arrays)
    os.replace(tmp, cache_dir / f"{key}.npz")
