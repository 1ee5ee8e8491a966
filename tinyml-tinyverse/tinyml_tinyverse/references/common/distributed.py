"""Distributed training helpers: torchrun's environment or one plain process.

``torchrun --nproc_per_node N -m tinyml_tinyverse.references.<task>.train ...`` sets ``RANK``,
``WORLD_SIZE`` and ``LOCAL_RANK``; :func:`init_distributed_mode` reads them and starts the process
group (``nccl`` on CUDA, ``gloo`` on CPU). Without them it sets up a single process. Only rank 0
prints and writes files (:func:`is_main_process`).
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import torch
import torch.distributed as dist


def is_dist_avail_and_initialized() -> bool:
    """True inside an initialised process group."""
    return dist.is_available() and dist.is_initialized()


def get_world_size() -> int:
    """Number of processes (1 without a process group)."""
    return dist.get_world_size() if is_dist_avail_and_initialized() else 1


def get_rank() -> int:
    """This process's rank (0 without a process group)."""
    return dist.get_rank() if is_dist_avail_and_initialized() else 0


def is_main_process() -> bool:
    """True on the process that prints and writes artifacts."""
    return get_rank() == 0


def log(*msg: Any) -> None:
    """Print on rank 0 only (through tqdm, so progress bars stay intact)."""
    if is_main_process():
        from tqdm import tqdm

        tqdm.write(" ".join(str(m) for m in msg))


def resolve_device(name: str = "auto", local_rank: int = 0) -> torch.device:
    """``auto`` -> the local GPU when there is one, else CPU; ``cuda`` without a GPU is an error."""
    from tinyml_tinyverse.common.errors import ConfigError

    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(
                "--device cuda was asked for but torch sees no CUDA GPU; use --device cpu or auto"
            )
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    if name != "cpu":
        raise ConfigError(f"--device {name!r} is not known; use auto, cpu or cuda")
    return torch.device("cpu")


def init_distributed_mode(args: argparse.Namespace) -> None:
    """Fill ``args.distributed``, ``args.rank``, ``args.world_size``, ``args.local_rank``, ``args.device``.

    Starts a process group when torchrun's ``RANK`` and ``WORLD_SIZE`` are set and the world has
    more than one process; otherwise a single process.
    """
    args.rank = int(os.environ.get("RANK", 0))
    args.world_size = int(os.environ.get("WORLD_SIZE", 1))
    args.local_rank = int(os.environ.get("LOCAL_RANK", 0))
    args.distributed = args.world_size > 1
    device = resolve_device(getattr(args, "device", "auto"), args.local_rank)
    args.device = str(device)
    if not args.distributed:
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        backend = "gloo"
    if not is_dist_avail_and_initialized():
        dist.init_process_group(backend=backend, rank=args.rank, world_size=args.world_size)
    dist.barrier()


def barrier() -> None:
    """Wait for all processes (no-op in one process)."""
    if is_dist_avail_and_initialized():
        dist.barrier()


def all_gather_objects(obj: Any) -> list[Any]:
    """``[obj of rank 0, obj of rank 1, ...]`` (``[obj]`` in one process)."""
    if not is_dist_avail_and_initialized():
        return [obj]
    out: list[Any] = [None] * get_world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` on every rank."""
    if not is_dist_avail_and_initialized():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def broadcast_buffers(model: torch.nn.Module, src: int = 0) -> None:
    """Give every rank rank ``src``'s buffers (batch-norm running statistics), which DDP only syncs at
    the start of a forward: without this each rank validates with its own statistics, and the logged
    validation figures differ from those of the saved (rank 0) model."""
    if is_dist_avail_and_initialized():
        for buf in model.buffers():
            dist.broadcast(buf.data, src)


def cleanup() -> None:
    """Leave the process group, if any."""
    if is_dist_avail_and_initialized():
        dist.barrier()
        dist.destroy_process_group()
