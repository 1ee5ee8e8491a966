"""Standardized regression / forecasting targets.

Targets in physical units (a temperature of 60 degC, a torque of 8 N*m) train slowly when a model
starts near zero. During training the model is wrapped in :class:`ScaledOutput`, which maps its
output ``z`` to ``z * std + mean`` (statistics of the training targets), and the loss is the MSE
of standardized values. For saving and export, :func:`fold_output_scale` folds that affine map into
the model's last ``Linear`` layer, so ``best_model.pt`` and ``model.onnx`` are the plain model
again, giving physical units with no extra ops.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn


class ScaledOutput(nn.Module):
    """``model(x) * std + mean`` with ``mean`` and ``std`` shaped like one target."""

    def __init__(self, model: nn.Module, mean: np.ndarray, std: np.ndarray):
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.as_tensor(np.asarray(mean, np.float32)))
        self.register_buffer("std", torch.as_tensor(np.asarray(std, np.float32)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x)
        return out.reshape(out.shape[0], *self.std.shape) * self.std + self.mean


class StandardizedMSELoss(nn.Module):
    """MSE of ``(output - target) / std``: every target weighs the same whatever its unit."""

    def __init__(self, std: np.ndarray):
        super().__init__()
        self.register_buffer("std", torch.as_tensor(np.asarray(std, np.float32)))

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        diff = (output.reshape(target.shape) - target) / self.std
        return (diff * diff).mean()


def target_scale(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-target mean and std of ``(N, T)`` or ``(N, horizon, V)`` targets (forecasting: per variable)."""
    y = np.asarray(y, np.float64)
    axes = (0,) if y.ndim == 2 else (0, 1)
    mean = np.broadcast_to(y.mean(axis=axes, keepdims=True), (1, *y.shape[1:]))[0]
    std = np.broadcast_to(y.std(axis=axes, keepdims=True), (1, *y.shape[1:]))[0]
    std = np.where(std > 1e-8, std, 1.0)
    return mean.astype(np.float32), std.astype(np.float32)


def fold_output_scale(wrapped: nn.Module, check_x: torch.Tensor) -> nn.Module:
    """The inner model with ``* std + mean`` folded into its last ``Linear`` layer (a copy).

    Returns the wrapper itself (a copy) when the model does not end in a ``Linear`` layer whose
    outputs map one to one onto the targets; the check runs both on ``check_x``.
    """
    if not isinstance(wrapped, ScaledOutput):
        return wrapped
    model = copy.deepcopy(wrapped.model).eval()
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    scale, shift = wrapped.std.reshape(-1), wrapped.mean.reshape(-1)
    if linears and linears[-1].out_features == scale.numel():
        fc = linears[-1]
        with torch.no_grad():
            fc.weight.mul_(scale[:, None])
            if fc.bias is None:
                fc.bias = nn.Parameter(torch.zeros(fc.out_features))
            fc.bias.mul_(scale).add_(shift)
            was_training = wrapped.training
            wrapped.eval()
            ref = wrapped(check_x)
            wrapped.train(was_training)
            got = model(check_x).reshape(ref.shape)
        if torch.allclose(got, ref, rtol=1e-4, atol=1e-4 * float(ref.abs().max().clamp(min=1.0))):
            return model
    return copy.deepcopy(wrapped).eval()
