"""Per-layer model summary: output shape, parameters, MACs and activation bytes, with totals.

MACs count the multiply-accumulates of convolutions and linear layers (batch norm folds into the
conv before it; pooling and element-wise layers count 0). Activation bytes are the output values of
each layer at ``bytes_per_value`` bytes each (1 = int8, the deployed case).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from .describe import batch_shape


@dataclass
class SummaryRow:
    """One leaf module of the model."""

    name: str
    type: str
    output_shape: tuple[int, ...]
    params: int
    macs: int
    activation_bytes: int


@dataclass
class ModelSummary:
    """Rows plus totals; ``to_text()`` renders a table."""

    input_shape: tuple[int, ...]
    rows: list[SummaryRow] = field(default_factory=list)
    total_params: int = 0
    total_macs: int = 0
    peak_activation_bytes: int = 0
    bytes_per_value: int = 1

    def to_text(self) -> str:
        head = ("layer", "type", "output shape", "params", "MACs", "act bytes")
        lines = [
            (r.name, r.type, str(r.output_shape), r.params, r.macs, r.activation_bytes) for r in self.rows
        ]
        widths = [max(len(str(x)) for x in col) for col in zip(head, *lines)]
        fmt = "  ".join(f"{{:<{w}}}" if i < 3 else f"{{:>{w}}}" for i, w in enumerate(widths))
        out = [f"input shape (per sample): {self.input_shape}", fmt.format(*head), "-" * (sum(widths) + 10)]
        out += [fmt.format(*map(str, row)) for row in lines]
        out.append("-" * (sum(widths) + 10))
        out.append(f"total params: {self.total_params:,}")
        out.append(f"total MACs: {self.total_macs:,}")
        out.append(
            f"largest activation: {self.peak_activation_bytes:,} bytes at {self.bytes_per_value} byte/value"
        )
        return "\n".join(out)


def layer_macs(module: nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    """Multiply-accumulates of one call of ``module`` on one sample."""
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        return (y[0].numel()) * (module.in_channels // module.groups) * kh * kw
    if isinstance(module, nn.ConvTranspose2d):
        kh, kw = module.kernel_size
        return x[0].numel() * (module.out_channels // module.groups) * kh * kw
    if isinstance(module, nn.Linear):
        return module.in_features * module.out_features
    return 0


@torch.no_grad()
def model_summary(model: nn.Module, input_shape: Sequence[int], bytes_per_value: int = 1) -> ModelSummary:
    """Summarise ``model`` for a per-sample ``input_shape`` ``(C, H, W)`` (or ``(N, C, H, W)``)."""
    shape = batch_shape(input_shape)
    summary = ModelSummary(input_shape=shape[1:], bytes_per_value=bytes_per_value)
    hooks = []

    def hook(name: str):
        def fn(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
            params = sum(p.numel() for p in module.parameters(recurse=False))
            out_shape = tuple(output.shape[1:])
            summary.rows.append(
                SummaryRow(
                    name,
                    type(module).__name__,
                    out_shape,
                    params,
                    layer_macs(module, args[0], output),
                    math.prod(out_shape) * bytes_per_value,
                )
            )

        return fn

    for name, module in model.named_modules():
        if not list(module.children()):
            hooks.append(module.register_forward_hook(hook(name.removeprefix("layers."))))
    was_training = model.training
    model.eval()
    try:
        model(torch.zeros(shape))
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    summary.total_params = sum(p.numel() for p in model.parameters())
    summary.total_macs = sum(r.macs for r in summary.rows)
    summary.peak_activation_bytes = max([r.activation_bytes for r in summary.rows], default=0)
    return summary
