"""A small on-disk cache of processed splits, keyed by a hash of the data files and the config."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

CACHE_VERSION = 1  # bump when the processing code changes what it produces


def file_digest(path: Path) -> str:
    """blake2b of a file's bytes."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def cache_key(files: list[Path], settings: dict[str, Any]) -> str:
    """Hash of the files' contents and of the JSON-able ``settings``."""
    h = hashlib.sha256()
    h.update(json.dumps({"version": CACHE_VERSION, **settings}, sort_keys=True, default=str).encode())
    for p in files:
        h.update(str(p.name).encode())
        h.update(file_digest(p).encode())
    return h.hexdigest()[:32]


def load_cached(cache_dir: Path | None, key: str) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
    """The arrays and metadata stored under ``key``, or None."""
    if cache_dir is None:
        return None
    path = Path(cache_dir) / f"{key}.npz"
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files if k != "__meta__"}
        meta = json.loads(str(z["__meta__"]))
    return arrays, meta


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
