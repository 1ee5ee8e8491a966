"""An exponential moving average of the weights (``--ema-decay``).

A copy of the model whose floating-point parameters and buffers follow the trained ones as
``ema = d * ema + (1 - d) * w`` after every optimizer step (integer buffers, such as batch norm's
step count, are copied). The decay ramps up as ``min(d, (1 + t) / (10 + t))`` over the first steps,
so a short training is not dominated by the random initial weights. On small data the average of the
last few hundred steps generalises better than the last step's weights; the validation, the best
epoch, the refit and everything after training (export, quantization, compilation) use the average.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class WeightAverage:
    """The running average of ``model``'s weights; ``module`` is the averaged copy."""

    def __init__(self, model: nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay {decay} must lie strictly between 0 and 1")
        self.decay = float(decay)
        self.steps = 0
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)

    def current_decay(self) -> float:
        return min(self.decay, (1.0 + self.steps) / (10.0 + self.steps))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """One step: move the average towards ``model``'s current weights."""
        d = self.current_decay()
        self.steps += 1
        averaged, current = [], []
        mine, theirs = self.module.state_dict(), model.state_dict()
        if list(mine) != list(theirs):
            raise ValueError("the weight average and the trained model have different state_dict keys")
        for a, b in zip(mine.values(), theirs.values()):
            if a.dtype.is_floating_point:
                averaged.append(a)
                current.append(b.detach())
            else:
                a.copy_(b)
        if averaged:
            torch._foreach_lerp_(averaged, current, 1.0 - d)

    def state_dict(self) -> dict:
        return {"decay": self.decay, "steps": self.steps, "module": self.module.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.decay = float(state["decay"])
        self.steps = int(state["steps"])
        self.module.load_state_dict(state["module"])


def make_average(model: nn.Module, decay: float) -> WeightAverage | None:
    """``None`` for ``decay`` 0 (off), else the average starting from ``model``'s weights."""
    return WeightAverage(model, decay) if decay > 0 else None
