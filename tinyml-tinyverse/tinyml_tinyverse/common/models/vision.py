"""Small-image classification zoo: ``Lenet5`` and ``IMG_CLS_*`` (28 x 28 grey, 32 x 32 colour).

All take ``(N, variables, H, W)`` (``input_features=(H, W)``, ``variables`` = colour channels) and
return logits ``(N, num_classes)``. Defaults: ``input_features=(28, 28), variables=1,
num_classes=10``; the size in an ``IMG_CLS_`` name is the parameter count at these defaults (an RGB
input adds the first conv's extra input channels). Kernels, strides and pools shrink for inputs too
small for them, and a time-series input ``(T, 1)`` gets ``(k, 1)`` kernels, so every model builds
for any input size.
"""

from __future__ import annotations

from typing import Any

from ..utils.py_utils import DictPlus
from .generic_model_spec import GenericModelWithSpec
from .zoo_blocks import add_head, fit_factor, hw

Block = tuple[str, int, int]  # ("conv" | "ds", out_channels, pool after it)


class ImageClassifier(GenericModelWithSpec):
    """Base of the image models: defaults ``(28, 28)`` grey input, 10 classes; subclasses write
    ``gen_model_spec``."""

    task = "classification"
    modality = "vision"

    def __init__(
        self,
        config: dict[str, Any] | None = None,
        input_features: int | tuple[int, int] = (28, 28),
        variables: int = 1,
        num_classes: int = 10,
    ):
        super().__init__(config, input_features=input_features, variables=variables, num_classes=num_classes)
        self._init_model_from_spec()


class SmallImageCNN(ImageClassifier):
    """A first 3 x 3 conv, then depthwise-separable blocks (3 x 3 depthwise + 1 x 1 pointwise, each
    with batch norm and ReLU) with 2 x 2 max pools between them, global average pool, linear."""

    blocks: list[Block] = []

    def gen_model_spec(self) -> dict[str, Any]:
        layers = DictPlus()
        _, h, w = self.input_shape
        for i, (kind, out_c, pool) in enumerate(self.blocks, 1):
            if kind == "conv":
                layers += {f"conv{i}": dict(type="ConvBNReLULayer", out_channels=out_c, kernel_size=hw(3, w))}
            else:
                layers += {f"dw{i}": dict(type="DWConvBNReLULayer", kernel_size=hw(3, w))}
                layers += {f"pw{i}": dict(type="PWConvBNReLULayer", out_channels=out_c)}
            pool = fit_factor(pool, min(h, w) if w > 1 else h)
            if pool > 1:
                layers += {f"pool{i}": dict(type="MaxPoolLayer", kernel_size=hw(pool, w))}
                h, w = h // pool, w if w == 1 else w // pool
        add_head(layers, "gap", int(self.num_classes))
        return dict(model_spec=layers)


class IMG_CLS_1k(SmallImageCNN):
    """~1k-parameter image classifier: conv 3x3 (8), two depthwise-separable blocks (16, 20), pools,
    global average pool + linear. Simple images (a few shapes or symbols) on the smallest devices.
    Default input (N, 1, 28, 28), output logits (N, 10)."""

    blocks = [("conv", 8, 2), ("ds", 16, 2), ("ds", 20, 1)]


class IMG_CLS_4k(SmallImageCNN):
    """~4k-parameter image classifier: conv 3x3 (16), two depthwise-separable blocks (32, 64), pools,
    global average pool + linear. Digits, symbols, simple objects at 28 x 28 or 32 x 32.
    Default input (N, 1, 28, 28), output logits (N, 10)."""

    blocks = [("conv", 16, 2), ("ds", 32, 2), ("ds", 64, 1)]


class IMG_CLS_20k(SmallImageCNN):
    """~20k-parameter image classifier: conv 3x3 (24), three depthwise-separable blocks (48, 96,
    128), pools, global average pool + linear. Harder small-image problems (many classes, colour).
    Default input (N, 1, 28, 28), output logits (N, 10)."""

    blocks = [("conv", 24, 2), ("ds", 48, 2), ("ds", 96, 1), ("ds", 128, 1)]


class Lenet5(ImageClassifier):
    """LeNet-5 style classifier (~62k parameters at the defaults): conv 5x5 (6, 'same') - max pool 2 -
    conv 5x5 (16, 'valid') - max pool 2 - dropout - linear 120 - linear 84 - linear, with ReLU (and
    batch norm after the convs) instead of the original's tanh and subsampling. Digits and symbols,
    given enough examples (its linear layers hold most of its weights: on a few hundred images the
    IMG_CLS_ models generalise better). Default input (N, 1, 28, 28) (MNIST size; 32 x 32 colour works
    too), output logits (N, 10)."""

    def gen_model_spec(self) -> dict[str, Any]:
        layers = DictPlus()
        _, h, w = self.input_shape
        side = min(h, w) if w > 1 else h
        layers += {"conv1": dict(type="ConvBNReLULayer", out_channels=6, kernel_size=hw(5, w))}
        pool = fit_factor(2, side, 5)
        if pool > 1:
            layers += {"pool1": dict(type="MaxPoolLayer", kernel_size=hw(pool, w))}
            side //= pool
        valid = side >= 9  # 'valid' 5x5 as LeNet-5 where the map is large enough, else 'same'
        pad = 0 if valid else None
        layers += {"conv2": dict(type="ConvBNReLULayer", out_channels=16, kernel_size=hw(5, w), padding=pad)}
        side = side - 4 if valid else side
        pool = fit_factor(2, side, 3)
        if pool > 1:
            layers += {"pool2": dict(type="MaxPoolLayer", kernel_size=hw(pool, w))}
        layers += {"flatten": dict(type="ReshapeLayer", ndim=2)}
        layers += {"dropout1": dict(type="DropoutLayer", p=0.25)}
        layers += {"fc1": dict(type="LinearLayer", out_features=120)}
        layers += {"relu1": dict(type="ReLULayer")}
        layers += {"fc2": dict(type="LinearLayer", out_features=84)}
        layers += {"relu2": dict(type="ReLULayer")}
        layers += {"fc": dict(type="LinearLayer", out_features=int(self.num_classes))}
        return dict(model_spec=layers)


MODELS = {
    "Lenet5": Lenet5,
    "IMG_CLS_1k": IMG_CLS_1k,
    "IMG_CLS_4k": IMG_CLS_4k,
    "IMG_CLS_20k": IMG_CLS_20k,
}
