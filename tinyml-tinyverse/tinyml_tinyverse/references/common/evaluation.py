"""Model outputs and metrics on a whole split (sharded over ranks in multi-process runs)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from . import checkpoint as ckpt
from . import distributed as dist_utils
from .tasks import Task


@torch.no_grad()
def predict(
    model: nn.Module, x: np.ndarray, device: torch.device, batch_size: int = 256, shard: bool = False
) -> np.ndarray:
    """Model outputs for ``x`` in order; ``shard``: each rank runs a slice and all ranks get all outputs."""
    model = ckpt.unwrap(model)
    model.eval()
    n = len(x)
    lo, hi = 0, n
    if shard and dist_utils.get_world_size() > 1:
        bounds = np.linspace(0, n, dist_utils.get_world_size() + 1).astype(int)
        lo, hi = bounds[dist_utils.get_rank()], bounds[dist_utils.get_rank() + 1]
    outs = []
    for i in range(lo, hi, batch_size):
        xb = torch.from_numpy(np.ascontiguousarray(x[i : min(i + batch_size, hi)])).to(device)
        outs.append(model(xb).float().cpu().numpy())
    part = np.concatenate(outs) if outs else None
    if shard and dist_utils.get_world_size() > 1:
        parts = [p for p in dist_utils.all_gather_objects(part) if p is not None]
        return np.concatenate(parts)
    return part if part is not None else np.zeros((0,), np.float32)


def evaluate(
    model: nn.Module,
    split: Any,
    task: Task,
    loss_fn: nn.Module,
    device: torch.device,
    state: dict | None = None,
    shard: bool = True,
) -> tuple[dict, np.ndarray]:
    """Loss and task metrics of ``model`` on a whole split (sharded over ranks); returns ``(metrics, outputs)``."""
    outputs = predict(model, split.X, device, shard=shard)
    target = torch.from_numpy(np.asarray(task.targets(split)))
    out_t = (
        torch.from_numpy(outputs).reshape(target.shape)
        if not isinstance(loss_fn, nn.CrossEntropyLoss)
        else torch.from_numpy(outputs)
    )
    loss = float(loss_fn.cpu()(out_t, target))
    loss_fn.to(device)
    return {"loss": loss, **task.metrics(outputs, split, state or {})}, outputs
