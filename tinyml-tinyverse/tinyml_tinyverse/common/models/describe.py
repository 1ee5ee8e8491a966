"""Describe a torch model as NPU :class:`~.npu_rules.LayerInfo` records and check it.

A dummy input runs through the model with forward hooks on every conv, pool and linear module, so
the records carry real shapes in execution order.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..npu_rules import LayerInfo, NpuViolation, check_npu_rules


def batch_shape(input_shape: Sequence[int]) -> tuple[int, ...]:
    """``(C, H, W)`` -> ``(1, C, H, W)``; a 4-d shape is kept (batch size set to 1)."""
    shape = tuple(int(v) for v in input_shape)
    return (1, *shape) if len(shape) == 3 else (1, *shape[1:])


def _pair(v: int | Sequence[int]) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _info(name: str, module: nn.Module, x: torch.Tensor, y: torch.Tensor) -> LayerInfo | None:
    in_shape, out_shape = tuple(x.shape[1:]), tuple(y.shape[1:])
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        op = "conv" if isinstance(module, nn.Conv2d) else "conv_transpose"
        return LayerInfo(
            name,
            op,
            in_shape,
            out_shape,
            in_channels=module.in_channels,
            out_channels=module.out_channels,
            kernel=_pair(module.kernel_size),
            stride=_pair(module.stride),
            groups=module.groups,
        )
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        op = "maxpool" if isinstance(module, nn.MaxPool2d) else "avgpool"
        stride = module.stride if module.stride is not None else module.kernel_size
        return LayerInfo(
            name, op, in_shape, out_shape, kernel=_pair(module.kernel_size), stride=_pair(stride)
        )
    if isinstance(module, nn.AdaptiveAvgPool2d):
        op = "global_avgpool" if out_shape[-2:] == (1, 1) else "avgpool"
        return LayerInfo(name, op, in_shape, out_shape, kernel=tuple(in_shape[-2:]))
    if isinstance(module, nn.Linear):
        return LayerInfo(
            name,
            "linear",
            in_shape,
            out_shape,
            in_channels=module.in_features,
            out_channels=module.out_features,
        )
    return None


@torch.no_grad()
def describe_model(model: nn.Module, input_shape: Sequence[int]) -> list[LayerInfo]:
    """LayerInfo records of ``model`` for a per-sample ``input_shape`` ``(C, H, W)``, in run order."""
    records: list[LayerInfo] = []
    hooks = []

    def hook(name: str):
        def fn(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
            info = _info(name, module, args[0], output)
            if info is not None:
                records.append(info)

        return fn

    for name, module in model.named_modules():
        if not list(module.children()):
            hooks.append(module.register_forward_hook(hook(name.removeprefix("layers."))))
    was_training = model.training
    model.eval()
    try:
        model(torch.zeros(batch_shape(input_shape)))
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    for info in records:
        if info.op == "conv":
            info.is_first = True
            break
    return records


def check_model_npu(
    model: nn.Module, input_shape: Sequence[int], weight_bitwidth: int = 8
) -> list[NpuViolation]:
    """Every NPU rule ``model`` breaks at ``input_shape`` (empty list: it fits the NPU)."""
    return check_npu_rules(describe_model(model, input_shape), weight_bitwidth=weight_bitwidth)
