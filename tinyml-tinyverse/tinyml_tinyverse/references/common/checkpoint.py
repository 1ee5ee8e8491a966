"""Checkpoints: written atomically, read with ``torch.load(weights_only=True)``.

``checkpoint.pt`` (the last epoch) holds everything needed to continue a killed run exactly:
model, optimizer, scheduler, epoch, best metric and epoch, the training log so far, and the RNG
states of torch, numpy and Python. ``best_model.pt`` holds the best epoch's weights with the model
name and its ``__init__`` arguments, so it can be rebuilt without the training script.
"""

from __future__ import annotations

import os
import random
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tinyml_tinyverse.common import run_files
from tinyml_tinyverse.common.errors import ConfigError, ModelError

from .artifacts import atomic_path

CHECKPOINT_NAME = run_files.CHECKPOINT
BEST_MODEL_NAME = run_files.BEST_MODEL


def save_atomic(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` into ``path.tmp`` then rename it to ``path``."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def _damage(path: Path, exc: Exception) -> str:
    """What is wrong with a checkpoint ``torch.load`` refused, in a few words."""
    size = path.stat().st_size
    if size == 0:
        return "it is empty (0 bytes)"
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as f:
            head = f.read(4)
        if head[:2] == b"PK":
            return f"it is truncated or damaged ({size} bytes, the end of the archive is missing)"
        return f"it is not a checkpoint of this toolchain (not a PyTorch archive; it starts with {head!r})"
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
    if "weights only" in str(exc).lower() or "weights_only" in str(exc):
        return (
            f"it holds objects other than tensors and plain values, which are not loaded for safety ({first})"
        )
    return f"it is damaged ({type(exc).__name__}: {first})"


def load(path: str | os.PathLike) -> dict:
    """``torch.load(path, weights_only=True)`` on CPU, with a clear error for a bad file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"checkpoint {path} does not exist; check the path (or use --resume auto)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated, foreign or not a torch file
        raise ConfigError(
            f"cannot read checkpoint {path}: {_damage(path, exc)}. A run killed while writing never leaves such a "
            f"file (it writes {path.name}.tmp first), so it was damaged or replaced since: delete it to train from "
            f"the start, or give another checkpoint"
        ) from None
    if not isinstance(state, dict):
        raise ConfigError(
            f"cannot read checkpoint {path}: it holds a {type(state).__name__}, not the dict this toolchain writes; "
            f"delete it to train from the start, or give another checkpoint"
        )
    return state


def rng_state() -> dict:
    """RNG states of Python, numpy, torch (and CUDA) in types ``weights_only`` loading accepts."""
    np_state = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what :func:`rng_state` returned."""
    random.setstate(state["python"])
    n = state["numpy"]
    np.random.set_state(
        ("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"])
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def plain(obj: Any) -> Any:
    """Dict subclasses, numpy values and paths -> built-in types, so ``weights_only`` loading reads them."""
    if isinstance(obj, dict):
        return {plain(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(plain(v) for v in obj) if type(obj) in (list, tuple) else [plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return obj


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The model inside a DistributedDataParallel wrapper (or the model itself)."""
    return model.module if hasattr(model, "module") else model


def save_checkpoint(
    path: str | os.PathLike, *, model, optimizer, scheduler, epoch: int, **extra: Any
) -> None:
    """Write the full training state after ``epoch`` (0-based) atomically."""
    state = {
        "model": unwrap(model).state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "epoch": epoch,
        "rng": rng_state(),
        **extra,
    }
    save_atomic(state, path)


def resolve_resume(resume: str | None, output_dir: str | os.PathLike) -> Path | None:
    """``None``/``""`` -> no resume; ``auto`` -> ``output_dir/checkpoint.pt`` if it exists; else the path."""
    if not resume:
        return None
    if resume == "auto":
        path = Path(output_dir) / CHECKPOINT_NAME
        return path if path.is_file() else None
    path = Path(resume)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise ConfigError(
            f"--resume {resume}: no checkpoint there; give a checkpoint.pt, its folder or 'auto'"
        )
    return path


def save_best_model(path: str | os.PathLike, model: torch.nn.Module, **meta: Any) -> None:
    """``best_model.pt``: ``state_dict`` plus ``meta`` (``model_name``, ``model_kwargs``, task, ...)."""
    save_atomic({"state_dict": unwrap(model).state_dict(), **meta}, path)


def load_best_model(path: str | os.PathLike) -> tuple[torch.nn.Module, dict]:
    """Rebuild the model stored in ``best_model.pt``; returns ``(model in eval mode, metadata)``."""
    from tinyml_tinyverse.common.models import get_model

    state = load(path)
    if "model_name" not in state or "state_dict" not in state:
        raise ModelError(f"{path} is not a best_model.pt of this toolchain (no model_name / state_dict)")
    kwargs = dict(state.get("model_kwargs") or {})
    config = kwargs.pop("config", None)
    model = get_model(state["model_name"], config=config, **kwargs)
    model.load_state_dict(state["state_dict"])
    if state.get("output_scale"):  # standardized targets that could not be folded into the model
        from .output_scaling import ScaledOutput

        model = ScaledOutput(
            model, np.asarray(state["output_scale"]["mean"]), np.asarray(state["output_scale"]["std"])
        )
    model.eval()
    meta = {k: v for k, v in state.items() if k != "state_dict"}
    return model, meta
