"""Optimizers and learning-rate schedules.

Schedules are per optimizer step: a linear warmup over ``warmup_epochs`` followed by a cosine decay
to ``min_lr_ratio * lr`` or by steps of ``gamma`` every ``step_size`` epochs. Weight decay is not
applied to biases and normalisation parameters (1-D tensors). The optimizers and the schedule are
those of :mod:`.optimizers` (torch's arithmetic without importing ``torch._dynamo``).
"""

from __future__ import annotations

import math

import torch

from tinyml_tinyverse.common.registry import Registry

from .optimizers import SGD, Adam, AdamW, LambdaSchedule, Optimizer

OPTIMIZER_REGISTRY = Registry("optimizer")
SCHEDULER_REGISTRY = Registry("lr scheduler")


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Two groups: weights with ``weight_decay``, biases and norm parameters without."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (no_decay if p.ndim <= 1 else decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


@OPTIMIZER_REGISTRY.register("adamw")
def adamw(model: torch.nn.Module, lr: float, weight_decay: float, momentum: float) -> Optimizer:
    return AdamW(param_groups(model, weight_decay), lr=lr)


@OPTIMIZER_REGISTRY.register("adam")
def adam(model: torch.nn.Module, lr: float, weight_decay: float, momentum: float) -> Optimizer:
    return Adam(param_groups(model, weight_decay), lr=lr)


@OPTIMIZER_REGISTRY.register("sgd")
def sgd(model: torch.nn.Module, lr: float, weight_decay: float, momentum: float) -> Optimizer:
    return SGD(param_groups(model, weight_decay), lr=lr, momentum=momentum, nesterov=momentum > 0)


def build_optimizer(
    name: str, model: torch.nn.Module, lr: float, weight_decay: float = 0.0, momentum: float = 0.9
) -> Optimizer:
    """An optimizer by name (``adamw``, ``adam``, ``sgd``; any case)."""
    return OPTIMIZER_REGISTRY[name.lower()](model, lr, weight_decay, momentum)


def warmup_factor(step: int, warmup_steps: int) -> float:
    """Linear ramp from ``1 / (warmup_steps + 1)`` to 1."""
    return (step + 1) / (warmup_steps + 1) if step < warmup_steps else 1.0


@SCHEDULER_REGISTRY.register("cosine")
def cosine_factor(step: int, total: int, warmup: int, steps_per_epoch: int, **kw) -> float:
    if step < warmup:
        return warmup_factor(step, warmup)
    min_ratio = kw.get("min_lr_ratio", 0.01)
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


@SCHEDULER_REGISTRY.register("step")
def step_factor(step: int, total: int, warmup: int, steps_per_epoch: int, **kw) -> float:
    if step < warmup:
        return warmup_factor(step, warmup)
    epochs = total // max(1, steps_per_epoch)
    step_size = kw.get("step_size") or max(1, epochs // 3)
    return kw.get("gamma", 0.1) ** ((step - warmup) // (step_size * steps_per_epoch))


@SCHEDULER_REGISTRY.register("none")
def constant_factor(step: int, total: int, warmup: int, steps_per_epoch: int, **kw) -> float:
    return warmup_factor(step, warmup)


def build_scheduler(
    optimizer: Optimizer,
    name: str,
    *,
    epochs: int,
    steps_per_epoch: int,
    warmup_epochs: float = 0.0,
    **kwargs,
) -> LambdaSchedule:
    """A per-step schedule (``LambdaLR``'s arithmetic) for schedule ``name`` (``cosine``, ``step``, ``none``) with warmup."""
    factor = SCHEDULER_REGISTRY[(name or "none").lower()]
    total = max(1, epochs * steps_per_epoch)
    warmup = min(int(round(warmup_epochs * steps_per_epoch)), total - 1)

    def lr_lambda(step: int) -> float:
        return factor(step, total, warmup, steps_per_epoch, **kwargs)

    return LambdaSchedule(optimizer, lr_lambda)
