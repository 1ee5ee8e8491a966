"""Layer types usable by name in a layer spec, with shape inference.

Each layer type is a small class registered in :data:`LAYER_REGISTRY`. It is created from one spec
entry (``dict(type='ConvBNReLULayer', out_channels=8, kernel_size=(5, 1))``), checks its
arguments, computes its output shape from its input shape and builds its ``nn.Module``.

Shapes are per sample: ``(C, H, W)`` for feature maps, ``(F,)`` (or any other tuple) after a
``ReshapeLayer``. Sizes (``kernel_size``, ``stride``, ``padding`` ...) accept an int (used for both
H and W, as in torch), a tuple or a YAML list. Convolutions pad 'same' by default (``kernel // 2``
per dimension, times the dilation); pooling pads 0.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any

import torch
from torch import nn

from ..errors import ModelError
from ..registry import Registry, closest_names

LAYER_REGISTRY = Registry("layer type")

REQUIRED = object()  # marker for spec arguments without a default

Shape = tuple[int, ...]


def to_pair(value: Any, key: str, layer: str) -> tuple[int, int]:
    """``5`` -> ``(5, 5)``, ``[5, 1]`` / ``(5, 1)`` -> ``(5, 1)``; anything else is a ModelError."""
    if isinstance(value, bool):
        value = None
    if isinstance(value, int):
        return (value, value)
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return (int(value[0]), int(value[1]))
    raise ModelError(
        f"layer {layer!r}: {key}={value!r} is not a size; write an int or a pair such as (5, 1) or [5, 1]"
    )


class Layer:
    """Base of all layer types: argument checking and the build interface.

    Subclasses set ``args`` (accepted spec keys with defaults; :data:`REQUIRED` for none) and
    implement :meth:`out_shape` and :meth:`module`.
    """

    args: dict[str, Any] = {}
    min_inputs = 1
    max_inputs = 1

    def __init__(self, name: str, **spec: Any):
        self.name = name
        unknown = [k for k in spec if k not in self.args]
        if unknown:
            hints = []
            for k in unknown:
                close = closest_names(k, self.args)
                hints.append(
                    f"{k!r}" + (f" (did you mean {' or '.join(map(repr, close))}?)" if close else "")
                )
            raise ModelError(
                f"layer {name!r} ({self.type_name}): unknown argument(s) {', '.join(hints)}; "
                f"accepted: {', '.join(self.args) or '(none)'}"
            )
        missing = [k for k, v in self.args.items() if v is REQUIRED and k not in spec]
        if missing:
            raise ModelError(f"layer {name!r} ({self.type_name}): missing argument(s) {', '.join(missing)}")
        self.cfg = {k: spec.get(k, v) for k, v in self.args.items()}

    @property
    def type_name(self) -> str:
        return type(self).__name__

    def error(self, message: str) -> ModelError:
        return ModelError(f"layer {self.name!r} ({self.type_name}): {message}")

    def count(self, key: str) -> int:
        """A positive int argument (channels, features, groups)."""
        value = self.cfg[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise self.error(f"{key}={value!r} must be a positive int")
        return value

    def pair(self, key: str) -> tuple[int, int]:
        return to_pair(self.cfg[key], key, self.name)

    def check_given(self, key: str, inferred: int, in_shape: Shape) -> None:
        """A user-given ``in_channels`` / ``in_features`` must match the inferred one."""
        given = self.cfg.get(key)
        if given is not None and given != inferred:
            raise self.error(
                f"{key}={given} is given but the incoming shape {tuple(in_shape)} gives {key}={inferred}; "
                f"remove {key} (it is inferred) or fix it"
            )

    def feature_map(self, in_shape: Shape) -> tuple[int, int, int]:
        if len(in_shape) != 3:
            raise self.error(
                f"needs a (C, H, W) feature map but gets shape {tuple(in_shape)}; "
                "put it before the ReshapeLayer, or reshape back with ReshapeLayer(shape=[C, H, W])"
            )
        return tuple(in_shape)  # type: ignore[return-value]

    def out_shape(self, in_shapes: list[Shape]) -> Shape:
        raise NotImplementedError

    def module(self, in_shapes: list[Shape]) -> nn.Module:
        raise NotImplementedError

    def build(self, in_shapes: list[Shape]) -> tuple[nn.Module, Shape]:
        """Check the input shapes, then return the module and its per-sample output shape."""
        out = tuple(int(v) for v in self.out_shape(in_shapes))
        if any(v < 1 for v in out):
            raise self.error(
                f"output shape {out} from input {tuple(in_shapes[0])} has a dimension below 1; "
                "use a smaller kernel/stride/pool (for time series with W = 1, sizes such as (2, 1))"
            )
        return self.module(in_shapes), out


def register_layer(cls: type[Layer]) -> type[Layer]:
    """Class decorator: make a layer type usable as ``type='<ClassName>'`` in a spec."""
    return LAYER_REGISTRY.register(cls.__name__, cls)


# -- convolutions -------------------------------------------------------------------------------
def conv_out(size: int, kernel: int, stride: int, pad: int, dilation: int = 1) -> int:
    return (size + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1


class _ConvBase(Layer):
    args = dict(
        in_channels=None,
        out_channels=REQUIRED,
        kernel_size=REQUIRED,
        stride=1,
        padding=None,
        dilation=1,
        groups=1,
        bias=True,
    )
    batchnorm = False
    relu = False

    def geometry(self, in_shape: Shape) -> dict[str, Any]:
        c, _, _ = self.feature_map(in_shape)
        self.check_given("in_channels", c, in_shape)
        k, s, d = self.pair("kernel_size"), self.pair("stride"), self.pair("dilation")
        pad = self.cfg["padding"]
        if pad is None or pad == "same":
            p = (d[0] * (k[0] // 2), d[1] * (k[1] // 2))
        else:
            p = to_pair(pad, "padding", self.name)
        groups = self.groups(c)
        out_c = self.out_channels(c)
        if c % groups or out_c % groups:
            raise self.error(f"groups={groups} must divide in_channels={c} and out_channels={out_c}")
        return dict(in_c=c, out_c=out_c, k=k, s=s, p=p, d=d, groups=groups)

    def groups(self, in_c: int) -> int:
        return self.count("groups")

    def out_channels(self, in_c: int) -> int:
        return self.count("out_channels")

    def out_shape(self, in_shapes: list[Shape]) -> Shape:
        g = self.geometry(in_shapes[0])
        _, h, w = in_shapes[0]
        return (
            g["out_c"],
            conv_out(h, g["k"][0], g["s"][0], g["p"][0], g["d"][0]),
            conv_out(w, g["k"][1], g["s"][1], g["p"][1], g["d"][1]),
        )

    def module(self, in_shapes: list[Shape]) -> nn.Module:
        g = self.geometry(in_shapes[0])
        conv = nn.Conv2d(
            g["in_c"],
            g["out_c"],
            g["k"],
            stride=g["s"],
            padding=g["p"],
            dilation=g["d"],
            groups=g["groups"],
            bias=bool(self.cfg["bias"]),
        )
        if not self.batchnorm:
            return conv
        parts = [("conv", conv), ("bn", nn.BatchNorm2d(g["out_c"]))]
        if self.relu:
            parts.append(("relu", nn.ReLU()))
        return nn.Sequential(OrderedDict(parts))


@register_layer
class ConvLayer(_ConvBase):
    """``nn.Conv2d``; ``in_channels`` inferred, 'same' padding by default."""


@register_layer
class ConvBNLayer(_ConvBase):
    """Conv2d (no bias) + BatchNorm2d."""

    args = {**_ConvBase.args, "bias": False}
    batchnorm = True


@register_layer
class ConvBNReLULayer(_ConvBase):
    """Conv2d (no bias) + BatchNorm2d + ReLU: the quantization-friendly block."""

    args = {**_ConvBase.args, "bias": False}
    batchnorm = True
    relu = True


@register_layer
class DWConvBNReLULayer(_ConvBase):
    """Depthwise conv (groups = in_channels) + BatchNorm2d + ReLU; ``out_channels`` defaults to in."""

    args = {k: v for k, v in _ConvBase.args.items() if k != "groups"}
    args.update(out_channels=None, bias=False)
    batchnorm = True
    relu = True

    def groups(self, in_c: int) -> int:
        return in_c

    def out_channels(self, in_c: int) -> int:
        return in_c if self.cfg["out_channels"] is None else self.count("out_channels")


@register_layer
class PWConvBNReLULayer(_ConvBase):
    """Pointwise (1 x 1) conv + BatchNorm2d + ReLU."""

    args = dict(in_channels=None, out_channels=REQUIRED, stride=1, bias=False)
    batchnorm = True
    relu = True

    def __init__(self, name: str, **spec: Any):
        super().__init__(name, **spec)
        self.cfg.update(kernel_size=1, padding=0, dilation=1, groups=1)


@register_layer
class ConvTransposeLayer(Layer):
    """``nn.ConvTranspose2d``; default padding ``(kernel - stride) // 2`` so stride s scales H by s."""

    args = dict(
        in_channels=None,
        out_channels=REQUIRED,
        kernel_size=REQUIRED,
        stride=1,
        padding=None,
        output_padding=0,
        bias=True,
    )

    def geometry(self, in_shape: Shape) -> dict[str, Any]:
        c, _, _ = self.feature_map(in_shape)
        self.check_given("in_channels", c, in_shape)
        k, s = self.pair("kernel_size"), self.pair("stride")
        if self.cfg["padding"] is None:
            p = (max(0, (k[0] - s[0]) // 2), max(0, (k[1] - s[1]) // 2))
        else:
            p = self.pair("padding")
        return dict(in_c=c, out_c=self.count("out_channels"), k=k, s=s, p=p, op=self.pair("output_padding"))

    def out_shape(self, in_shapes: list[Shape]) -> Shape:
        g = self.geometry(in_shapes[0])
        _, h, w = in_shapes[0]
        size = [(n - 1) * g["s"][i] - 2 * g["p"][i] + g["k"][i] + g["op"][i] for i, n in enumerate((h, w))]
        return (g["out_c"], size[0], size[1])

    def module(self, in_shapes: list[Shape]) -> nn.Module:
        g = self.geometry(in_shapes[0])
        return nn.ConvTranspose2d(
            g["in_c"],
            g["out_c"],
            g["k"],
            stride=g["s"],
            padding=g["p"],
            output_padding=g["op"],
            bias=bool(self.cfg["bias"]),
        )


# -- pooling and resizing -----------------------------------------------------------------------
def pool_out(size: int, kernel: int, stride: int, pad: int, ceil_mode: bool) -> int:
    span = size + 2 * pad - kernel
    out = (math.ceil(span / stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


class _PoolBase(Layer):
    args = dict(kernel_size=REQUIRED, stride=None, padding=0, ceil_mode=False)

    def geometry(self, in_shape: Shape) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
        self.feature_map(in_shape)
        k = self.pair("kernel_size")
        s = k if self.cfg["stride"] is None else self.pair("stride")
        return k, s, self.pair("padding")

    def out_shape(self, in_shapes: list[Shape]) -> Shape:
        k, s, p = self.geometry(in_shapes[0])
        c, h, w = in_shapes[0]
        ceil = bool(self.cfg["ceil_mode"])
        return (c, pool_out(h, k[0], s[0], p[0], ceil), pool_out(w, k[1], s[1], p[1], ceil))


@register_layer
class MaxPoolLayer(_PoolBase):
    """``nn.MaxPool2d``; stride defaults to the kernel, padding 0."""

    def module(self, in_shapes: list[Shape]) -> nn.Module:
        k, s, p = self.geometry(in_shapes[0])
        return nn.MaxPool2d(k, stride=s, padding=p, ceil_mode=bool(self.cfg["ceil_mode"]))


@register_layer
class AvgPoolLayer(_PoolBase):
    """``nn.AvgPool2d``; stride defaults to the kernel, padding 0."""

    def module(self, in_shapes: list[Shape]) -> nn.Module:
        k, s, p = self.geometry(in_shapes[0])
        return nn.AvgPool2d(k, stride=s, padding=p, ceil_mode=bool(self.cfg["ceil_mode"]))


@register_layer
class GlobalAvgPoolLayer(Layer):
    """Average over H and W: ``(C, H, W) -> (C, 1, 1)`` (exports as GlobalAveragePool)."""

    args: dict[str, Any] = {}

    def out_shape(self, in_shapes: list[Shape]) -> Shape:
        return (self.feature_map(in_shapes[0])[0], 1, 1)

    def module(self, in_shapes: list[Shape]) -> nn.Module:
        return nn.AdaptiveAvgPool2d(1)


@register_layer
class AdaptiveAvgPoolLayer(Layer):
    """``nn.AdaptiveAvgPool2d(output_size)``; for ONNX export H and W should divide evenly."""

    args = dict(output_size=REQUIRED)

    def out_shape(self, in_shapes: list[Shape]) -> Shape:
        c = self.feature_map(in_shapes[0])[0]
        return (c, *self.pair("output_size"))

    def module(self, in_shapes: list[Shape]) -> nn.Module:
        return nn.AdaptiveAvgPool2d(self.pair("output_size"))


@register_layer
class UpsampleLayer(Layer):
    """``nn.Upsample`` by an integer ``scale_factor`` (int or (sh, sw)); mode 'nearest' by default."""

    args = dict(scale_factor=REQUIRED, mode="nearest")

    def out_shape(self, in_shapes: list[Shape]) -> Shape:
        c, h, w = self.feature_map(in_shapes[0])
        sh, sw = self.pair("scale_factor")
        return (c, h * sh, w * sw)

    def module(self, in_shapes: list[Shape]) -> nn.Module:
        sh, sw = self.pair("scale_factor")
        return nn.Upsample(scale_factor=(float(sh), float(sw)), mode=self.cfg["mode"])


class CropPad(nn.Module):
    """Crop (keep the start) or zero-pad (at the end) H and W to a fixed size."""

    def __init__(self, in_hw: tuple[int, int], out_hw: tuple[int, int]):
        super().__init__()
        self.in_hw, self.out_hw = tuple(in_hw), tuple(out_hw)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (h, w), (oh, ow) = self.in_hw, self.out_hw
        if oh < h or ow < w:
            x = x[:, :, : min(h, oh), : min(w, ow)]
        if oh > h or ow > w:
            x = nn.functional.pad(x, (0, max(0, ow - w), 0, max(0, oh - h)))
        return x


@register_layer
class CropPadLayer(Layer):
    """Crop or zero-pad H and W to ``size`` (e.g. to give an autoencoder its input size back)."""

    args = dict(size=REQUIRED)

    def out_shape(self, in_shapes: list[Shape]) -> Shape:
        c = self.feature_map(in_shapes[0])[0]
        return (c, *self.pair("size"))

    def module(self, in_shapes: list[Shape]) -> nn.Module:
        _, h, w = in_shapes[0]
        if (h, w) == self.pair("size"):
            return nn.Identity()
        return CropPad((h, w), self.pair("size"))


class Reshape(nn.Module):
    """Reshape every sample to a fixed shape (exports as one Reshape with a constant shape)."""

    def __init__(self, shape: tuple[int, ...]):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape((-1, *self.shape))

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


@register_layer
class ReshapeLayer(Layer):
    """``ndim=2`` (default) flattens each sample to ``(F,)``; ``shape=[...]`` gives any per-sample shape."""

    args = dict(ndim=2, shape=None)

    def target(self, in_shape: Shape) -> Shape:
        numel = math.prod(in_shape)
        if self.cfg["shape"] is None:
            if self.cfg["ndim"] != 2:
                raise self.error(f"ndim={self.cfg['ndim']} needs shape=[...]; only ndim=2 flattens")
            return (numel,)
        shape = tuple(int(v) for v in self.cfg["shape"])
        if math.prod(shape) != numel:
            raise self.error(
                f"shape {shape} holds {math.prod(shape)} values but the input {in_shape} has {numel}"
            )
        return shape

    def out_shape(self, in_shapes: list[Shape]) -> Shape:
        return self.target(in_shapes[0])

    def module(self, in_shapes: list[Shape]) -> nn.Module:
        if self.cfg["shape"] is None:
            return nn.Flatten(1)
        return Reshape(self.target(in_shapes[0]))


class Permute(nn.Module):
    """Reorder the per-sample axes (the batch axis stays first); exports as one Transpose."""

    def __init__(self, dims: tuple[int, ...]):
        super().__init__()
        self.dims = tuple(dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, *(d + 1 for d in self.dims))

    def extra_repr(self) -> str:
        return f"dims={self.dims}"


@register_layer
class PermuteLayer(Layer):
    """Reorder per-sample axes, e.g. ``dims=[2, 1, 0]`` turns ``(V, T, 1)`` into ``(1, T, V)``."""

    args = dict(dims=REQUIRED)

    def dims(self, in_shape: Shape) -> tuple[int, ...]:
        dims = tuple(int(d) for d in self.cfg["dims"])
        if sorted(dims) != list(range(len(in_shape))):
            raise self.error(
                f"dims={list(dims)} is not an order of the {len(in_shape)} axes of {tuple(in_shape)}"
            )
        return dims

    def out_shape(self, in_shapes: list[Shape]) -> Shape:
        return tuple(in_shapes[0][d] for d in self.dims(in_shapes[0]))

    def module(self, in_shapes: list[Shape]) -> nn.Module:
        return Permute(self.dims(in_shapes[0]))


# -- fully connected ----------------------------------------------------------------------------
@register_layer
class LinearLayer(Layer):
    """``nn.Linear``; ``in_features`` inferred from the flat input."""

    args = dict(in_features=None, out_features=REQUIRED, bias=True)
    batchnorm = False

    def in_features(self, in_shape: Shape) -> int:
        if len(in_shape) != 1:
            raise self.error(
                f"needs a flat (F,) input but gets shape {tuple(in_shape)}; "
                "add dict(type='ReshapeLayer', ndim=2) before it"
            )
        self.check_given("in_features", in_shape[0], in_shape)
        return in_shape[0]

    def out_shape(self, in_shapes: list[Shape]) -> Shape:
        self.in_features(in_shapes[0])
        return (self.count("out_features"),)

    def module(self, in_shapes: list[Shape]) -> nn.Module:
        fin, fout = self.in_features(in_shapes[0]), self.count("out_features")
        lin = nn.Linear(fin, fout, bias=bool(self.cfg["bias"]))
        if not self.batchnorm:
            return lin
        return nn.Sequential(OrderedDict([("fc", lin), ("bn", nn.BatchNorm1d(fout)), ("relu", nn.ReLU())]))


@register_layer
class LinearBNReLULayer(LinearLayer):
    """Linear (no bias) + BatchNorm1d + ReLU."""

    args = dict(in_features=None, out_features=REQUIRED, bias=False)
    batchnorm = True


# -- element-wise and normalisation -------------------------------------------------------------
@register_layer
class BatchNormLayer(Layer):
    """BatchNorm2d on (C, H, W) inputs, BatchNorm1d on (F,) inputs; ``num_features`` is inferred."""

    args: dict[str, Any] = dict(num_features=None)

    def out_shape(self, in_shapes: list[Shape]) -> Shape:
        if in_shapes[0]:
            self.check_given("num_features", in_shapes[0][0], in_shapes[0])
        return in_shapes[0]

    def module(self, in_shapes: list[Shape]) -> nn.Module:
        shape = in_shapes[0]
        if len(shape) == 3:
            return nn.BatchNorm2d(shape[0])
        if len(shape) == 1:
            return nn.BatchNorm1d(shape[0])
        raise self.error(f"needs a (C, H, W) or (F,) input, got {tuple(shape)}")


class _ElementWise(Layer):
    args: dict[str, Any] = {}
    factory: Any = nn.Identity

    def out_shape(self, in_shapes: list[Shape]) -> Shape:
        return in_shapes[0]

    def module(self, in_shapes: list[Shape]) -> nn.Module:
        return type(self).factory()


@register_layer
class DropoutLayer(_ElementWise):
    """``nn.Dropout(p)`` (training only)."""

    args = dict(p=0.5)

    def module(self, in_shapes: list[Shape]) -> nn.Module:
        return nn.Dropout(float(self.cfg["p"]))


@register_layer
class ReLULayer(_ElementWise):
    """``nn.ReLU``."""

    factory = nn.ReLU


@register_layer
class SigmoidLayer(_ElementWise):
    """``nn.Sigmoid``."""

    factory = nn.Sigmoid


@register_layer
class TanhLayer(_ElementWise):
    """``nn.Tanh``."""

    factory = nn.Tanh


@register_layer
class IdentityLayer(_ElementWise):
    """``nn.Identity`` (a named pass-through, handy as a skip-connection source)."""


# -- skip connections ---------------------------------------------------------------------------
class Add(nn.Module):
    """Element-wise sum of all inputs."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


class Concat(nn.Module):
    """Concatenate inputs along one per-sample axis (0 = channels)."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return torch.cat(xs, dim=self.dim + 1)


@register_layer
class AddLayer(Layer):
    """Sum of the layers named in ``inputs`` (all the same shape): residual connections."""

    args: dict[str, Any] = {}
    min_inputs, max_inputs = 2, 64

    def out_shape(self, in_shapes: list[Shape]) -> Shape:
        if any(tuple(s) != tuple(in_shapes[0]) for s in in_shapes):
            raise self.error(f"all inputs need the same shape, got {[tuple(s) for s in in_shapes]}")
        return in_shapes[0]

    def module(self, in_shapes: list[Shape]) -> nn.Module:
        return Add()


@register_layer
class ConcatLayer(Layer):
    """Concatenation of the layers named in ``inputs`` along ``dim`` (0 = channels, per sample)."""

    args = dict(dim=0)
    min_inputs, max_inputs = 2, 64

    def out_shape(self, in_shapes: list[Shape]) -> Shape:
        dim = int(self.cfg["dim"])
        first = in_shapes[0]
        if not 0 <= dim < len(first):
            raise self.error(f"dim={dim} is outside the per-sample shape {tuple(first)}")
        rest = [tuple(v for i, v in enumerate(s) if i != dim) for s in in_shapes]
        if len(set(rest)) != 1 or any(len(s) != len(first) for s in in_shapes):
            raise self.error(f"inputs differ outside dim={dim}: {[tuple(s) for s in in_shapes]}")
        return tuple(sum(s[dim] for s in in_shapes) if i == dim else v for i, v in enumerate(first))

    def module(self, in_shapes: list[Shape]) -> nn.Module:
        return Concat(int(self.cfg["dim"]))
