"""``best_model.pt``'s outputs on the test split, computed by the training process (which has torch
loaded) for the testing stage's check of the ONNX model against it, so that testing runs without
torch. The record names the exact checkpoint and windows it was made from (SHA-256 of both); a
checkpoint or split that changed since makes :func:`recorded` return None and the testing script
computes the outputs itself. No torch import."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from tinyml_tinyverse.common import run_files

from .artifacts import atomic_path


def _digest_of_file(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _digest_of_windows(x: np.ndarray) -> str:
    x = np.ascontiguousarray(x)
    return hashlib.sha256(f"{x.dtype.str}{x.shape}".encode() + x.tobytes()).hexdigest()


def record_path(reference_model: str | os.PathLike) -> Path:
    """Where the outputs of ``reference_model`` are recorded: beside it."""
    return Path(reference_model).with_name(run_files.REFERENCE_OUTPUTS)


def record(reference_model: str | os.PathLike, x: np.ndarray, outputs: np.ndarray) -> Path:
    """Record ``outputs`` of the checkpoint ``reference_model`` on the windows ``x``."""
    path = record_path(reference_model)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(
            f,
            outputs=np.asarray(outputs),
            model_sha256=np.asarray(_digest_of_file(Path(reference_model))),
            windows_sha256=np.asarray(_digest_of_windows(x)),
        )
    return path


def recorded(reference_model: str | os.PathLike, x: np.ndarray) -> np.ndarray | None:
    """The recorded outputs of ``reference_model`` on ``x``; None when there is no record for exactly
    this checkpoint and these windows."""
    path = record_path(reference_model)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            same = str(z["model_sha256"]) == _digest_of_file(Path(reference_model)) and str(
                z["windows_sha256"]
            ) == _digest_of_windows(x)
            return np.array(z["outputs"]) if same else None
    except (OSError, KeyError, ValueError):  # unreadable or from another version: compute them again
        return None
