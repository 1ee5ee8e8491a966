"""Anomaly-detection zoo (``AD_*_NPU``): convolutional autoencoders; output shaped like the input.

Input and output ``(N, variables, input_features, 1)`` (or ``(N, variables, H, W)``); the anomaly
score is the reconstruction error. Defaults: ``input_features=128, variables=1``; ``num_classes`` is
accepted and ignored. The size in the name is the parameter count at these defaults.

Encoder: ConvBNReLU + max pool 2 per stage. Decoder: nearest upsample 2 + ConvBNReLU per stage. The
last conv makes ``4 * variables`` channels (the NPU wants multiples of 4); they are averaged in
groups of 4 by reshape -> average pool (4, 1) -> reshape, which equals one conv to ``variables``
channels. Odd lengths pool with ``ceil_mode`` and the output is cropped back to the input size. Several
variables are permuted to ``(1, T, V)`` first so the first conv has one input channel (NPU rule).
"""

from __future__ import annotations

from typing import Any

from ..utils.py_utils import DictPlus
from .generic_model_spec import GenericModelWithSpec
from .zoo_blocks import fold_variables, hw


class ZooAutoencoder(GenericModelWithSpec):
    """Conv encoder/decoder; subclasses set ``channels`` (encoder widths) and ``kernel``."""

    task = "anomalydetection"
    channels: list[int] = []
    kernel = 3

    def __init__(
        self,
        config: dict[str, Any] | None = None,
        input_features: int | tuple[int, int] = 128,
        variables: int = 1,
        num_classes: int = 2,
    ):
        super().__init__(config, input_features=input_features, variables=variables, num_classes=num_classes)
        self._init_model_from_spec()

    def gen_model_spec(self) -> dict[str, Any]:
        v = self.input_shape[0]
        layers = DictPlus()
        _, h, w = fold_variables(layers, self.input_shape)  # several variables -> (1, T, V)
        folded = "fold_variables" in layers
        pooled = []
        for i, ch in enumerate(self.channels, 1):
            if i == 1 and folded:  # the first conv spans all variables
                args = dict(kernel_size=(self.kernel, w), padding=(self.kernel // 2, 0))
                w = 1
            else:
                args = dict(kernel_size=hw(self.kernel, w))
            layers += {f"enc{i}": dict(type="ConvBNReLULayer", out_channels=ch, **args)}
            if h >= 4:  # pool while at least 2 rows remain
                odd = h % 2 == 1 or (w > 1 and w % 2 == 1)
                layers += {f"enc{i}_pool": dict(type="MaxPoolLayer", kernel_size=hw(2, w), ceil_mode=odd)}
                h, w = (h + 1) // 2, w if w == 1 else (w + 1) // 2
                pooled.append(i)
        for i, ch in reversed(list(enumerate(self.channels, 1))):
            if i in pooled:
                layers += {f"dec{i}_up": dict(type="UpsampleLayer", scale_factor=hw(2, w))}
                h, w = h * 2, w if w == 1 else w * 2
            layers += {
                f"dec{i}": dict(type="ConvBNReLULayer", out_channels=ch, kernel_size=hw(self.kernel, w))
            }
        layers += {"out_conv": dict(type="ConvLayer", out_channels=4 * v, kernel_size=hw(self.kernel, w))}
        layers += {"out_group": dict(type="ReshapeLayer", shape=[v, 4, h * w])}
        layers += {"out_mean": dict(type="AvgPoolLayer", kernel_size=(4, 1))}
        layers += {"out_ungroup": dict(type="ReshapeLayer", shape=[v, h, w])}
        layers += {"out_crop": dict(type="CropPadLayer", size=list(self.input_shape[1:]))}
        return dict(model_spec=layers)


class AD_500_NPU(ZooAutoencoder):
    """~500-parameter NPU autoencoder: encoder 4-8 channels, mirrored decoder."""

    channels = [4, 8]


class AD_1k_NPU(ZooAutoencoder):
    """~1k-parameter NPU autoencoder: encoder 4-8-8 channels, mirrored decoder."""

    channels = [4, 8, 8]


class AD_2k_NPU(ZooAutoencoder):
    """~2k-parameter NPU autoencoder: encoder 8-12-12 channels, mirrored decoder."""

    channels = [8, 12, 12]


class AD_4k_NPU(ZooAutoencoder):
    """~4k-parameter NPU autoencoder: encoder 8-12-16 channels (kernel 5), mirrored decoder."""

    channels = [8, 12, 16]
    kernel = 5


class AD_8k_NPU(ZooAutoencoder):
    """~8k-parameter NPU autoencoder: encoder 8-16-24 channels (kernel 5), mirrored decoder."""

    channels = [8, 16, 24]
    kernel = 5


class AD_20k_NPU(ZooAutoencoder):
    """~20k-parameter NPU autoencoder: encoder 16-24-24-32 channels (kernel 5), mirrored decoder."""

    channels = [16, 24, 24, 32]
    kernel = 5


MODELS = {
    "AD_500_NPU": AD_500_NPU,
    "AD_1k_NPU": AD_1k_NPU,
    "AD_2k_NPU": AD_2k_NPU,
    "AD_4k_NPU": AD_4k_NPU,
    "AD_8k_NPU": AD_8k_NPU,
    "AD_20k_NPU": AD_20k_NPU,
}
