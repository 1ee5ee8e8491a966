"""Anomaly-detection zoo (``AD_*_NPU``): convolutional autoencoders; output shaped like the input.

Input and output ``(N, variables, input_features, 1)`` (or ``(N, variables, H, W)``); the anomaly
score is the reconstruction error. Defaults: ``input_features=128, variables=1``; ``num_classes`` is
accepted and ignored. The size in the name is the parameter count at these defaults.

Encoder: ConvBNReLU + max pool 2 per stage. Decoder: nearest upsample 2 + ConvBNReLU per stage. The
last conv makes ``4 * variables`` channels (the NPU wants multiples of 4); they are averaged in
groups of 4 by reshape -> average pool (4, 1) -> reshape, which equals one conv to ``variables``
channels. Odd lengths pool with ``ceil_mode``; the decoder conv at that level then has an even kernel that
trims the extra row, so the output has the input size exactly for any length (no crop op). Several
variables go through a folded first conv with one input channel (``zoo_blocks.add_folded_first_conv``).
"""

from __future__ import annotations

from typing import Any

from ..errors import ModelError
from ..utils.py_utils import DictPlus
from .generic_model_spec import GenericModelWithSpec
from .zoo_blocks import add_folded_first_conv, hw


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
        v, h, w = self.input_shape
        k = self.kernel
        layers = DictPlus()
        sizes = []  # (h, w) before each pooling, to size the decoder exactly
        for i, ch in enumerate(self.channels, 1):
            if i == 1 and v > 1 and w == 1:  # NPU: one input channel on the first conv
                add_folded_first_conv(layers, (v, h, w), ch, k, 1, "ConvBNReLULayer", "enc1")
            else:
                layers += {f"enc{i}": dict(type="ConvBNReLULayer", out_channels=ch, kernel_size=hw(k, w))}
            if h >= 4:  # pool while at least 2 rows remain
                odd = h % 2 == 1 or (w > 1 and w % 2 == 1)
                layers += {f"enc{i}_pool": dict(type="MaxPoolLayer", kernel_size=hw(2, w), ceil_mode=odd)}
                sizes.append((h, w))
                h, w = (h + 1) // 2, w if w == 1 else (w + 1) // 2
            else:
                sizes.append(None)
        for i, ch in reversed(list(enumerate(self.channels, 1))):
            target = sizes[i - 1]
            conv = dict(type="ConvBNReLULayer", out_channels=ch, kernel_size=hw(k, w))
            if target is not None:
                layers += {f"dec{i}_up": dict(type="UpsampleLayer", scale_factor=hw(2, w))}
                h, w = h * 2, w if w == 1 else w * 2
                # an odd size came out of a ceil-mode pool one larger: an even kernel trims it back
                trim_h, trim_w = h - target[0], w - target[1]
                if trim_h or trim_w:
                    kh, kw = (k + trim_h, k + trim_w) if w > 1 else (k + trim_h, 1)
                    conv.update(kernel_size=(kh, kw), padding=((k - 1) // 2, (k - 1) // 2 if w > 1 else 0))
                    h, w = target
            layers += {f"dec{i}": conv}
        layers += {"out_conv": dict(type="ConvLayer", out_channels=4 * v, kernel_size=hw(k, w))}
        layers += {"out_group": dict(type="ReshapeLayer", shape=[v, 4, h * w])}
        layers += {"out_mean": dict(type="AvgPoolLayer", kernel_size=(4, 1))}
        layers += {"out_ungroup": dict(type="ReshapeLayer", shape=[v, h, w])}
        return dict(model_spec=layers)

    def _init_model_from_spec(self, model_spec: Any = None) -> None:
        super()._init_model_from_spec(model_spec)
        if tuple(self.output_shape) != tuple(self.input_shape):  # guards the size arithmetic above
            raise ModelError(
                f"{type(self).__name__}: output {self.output_shape} differs from input {self.input_shape}"
            )


class AD_500_NPU(ZooAutoencoder):
    """~500-parameter NPU autoencoder: encoder 4-8 channels, mirrored decoder.

    Learning normal behaviour; the reconstruction error is the anomaly score.
    Default input and output (N, 1, 128, 1).
    """

    channels = [4, 8]


class AD_1k_NPU(ZooAutoencoder):
    """~1k-parameter NPU autoencoder: encoder 4-8-8 channels, mirrored decoder.

    Learning normal behaviour; the reconstruction error is the anomaly score.
    Default input and output (N, 1, 128, 1).
    """

    channels = [4, 8, 8]


class AD_2k_NPU(ZooAutoencoder):
    """~2k-parameter NPU autoencoder: encoder 8-12-12 channels, mirrored decoder.

    Learning normal behaviour; the reconstruction error is the anomaly score.
    Default input and output (N, 1, 128, 1).
    """

    channels = [8, 12, 12]


class AD_4k_NPU(ZooAutoencoder):
    """~4k-parameter NPU autoencoder: encoder 8-12-16 channels (kernel 5), mirrored decoder.

    Learning normal behaviour; the reconstruction error is the anomaly score.
    Default input and output (N, 1, 128, 1).
    """

    channels = [8, 12, 16]
    kernel = 5


class AD_8k_NPU(ZooAutoencoder):
    """~8k-parameter NPU autoencoder: encoder 8-16-24 channels (kernel 5), mirrored decoder.

    Learning normal behaviour; the reconstruction error is the anomaly score.
    Default input and output (N, 1, 128, 1).
    """

    channels = [8, 16, 24]
    kernel = 5


class AD_20k_NPU(ZooAutoencoder):
    """~20k-parameter NPU autoencoder: encoder 16-24-24-32 channels (kernel 5), mirrored decoder.

    Learning normal behaviour; the reconstruction error is the anomaly score.
    Default input and output (N, 1, 128, 1).
    """

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
