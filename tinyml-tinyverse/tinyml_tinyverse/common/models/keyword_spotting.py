"""Keyword-spotting zoo: depthwise-separable CNNs (``KWS_*``) on MFCC or log-mel features.

The DS-CNN of Zhang et al., "Hello Edge: Keyword Spotting on Microcontrollers" (2017): a first
conv with a ``10 x 4`` kernel (time x features) and stride 2, then depthwise-separable blocks
(3 x 3 depthwise + 1 x 1 pointwise, batch norm and ReLU), global average pool, linear. Input
``(N, 1, frames, features)``; defaults ``input_features=(49, 10)`` (1 s of 10 MFCC every 20 ms,
``GoogleSpeechCommands_MFCC_Default``), ``variables=1``, ``num_classes=12`` (ten words, silence,
unknown); the size in the name is the parameter count at these defaults.
"""

from __future__ import annotations

from typing import Any

from ..utils.py_utils import DictPlus
from .generic_model_spec import GenericModelWithSpec
from .zoo_blocks import add_head, fit_factor


class DSCNN(GenericModelWithSpec):
    """A ``(10, 4)`` stride-2 conv of ``channels`` then ``blocks`` depthwise-separable blocks."""

    task = "classification"
    modality = "audio"
    channels = 16
    blocks = 1

    def __init__(
        self,
        config: dict[str, Any] | None = None,
        input_features: int | tuple[int, int] = (49, 10),
        variables: int = 1,
        num_classes: int = 12,
    ):
        super().__init__(config, input_features=input_features, variables=variables, num_classes=num_classes)
        self._init_model_from_spec()

    def gen_model_spec(self) -> dict[str, Any]:
        layers = DictPlus()
        _, h, w = self.input_shape
        kh, kw = min(10, h), min(4, w)
        sh, sw = fit_factor(2, h), fit_factor(2, w, 2) if w > 1 else 1
        conv = dict(kernel_size=(kh, kw), stride=(sh, sw), padding=(kh // 2, kw // 2))
        layers += {"conv1": dict(type="ConvBNReLULayer", out_channels=self.channels, **conv)}
        k = (3, 3) if w > 1 else (3, 1)
        for i in range(1, self.blocks + 1):
            layers += {f"dw{i}": dict(type="DWConvBNReLULayer", kernel_size=k)}
            layers += {f"pw{i}": dict(type="PWConvBNReLULayer", out_channels=self.channels)}
        add_head(layers, "gap", int(self.num_classes))
        return dict(model_spec=layers)


class KWS_4k(DSCNN):
    """~4k-parameter keyword spotter (DS-CNN): (10, 4) stride-2 conv of 24 channels, three
    depthwise-separable blocks, global average pool + linear. A few keywords on the smallest parts.
    Default input (N, 1, 49, 10) (MFCC frames x coefficients), output logits (N, 12)."""

    channels, blocks = 24, 3


class KWS_20k(DSCNN):
    """~20k-parameter keyword spotter (DS-CNN): (10, 4) stride-2 conv of 60 channels, four
    depthwise-separable blocks, global average pool + linear. Ten keywords, Cortex-M4 class parts.
    Default input (N, 1, 49, 10) (MFCC frames x coefficients), output logits (N, 12)."""

    channels, blocks = 60, 4


class KWS_80k(DSCNN):
    """~80k-parameter keyword spotter (DS-CNN): (10, 4) stride-2 conv of 128 channels, four
    depthwise-separable blocks, global average pool + linear. The most accurate of the zoo's
    spotters; needs about 40 KB of RAM. Default input (N, 1, 49, 10), output logits (N, 12)."""

    channels, blocks = 128, 4


MODELS = {"KWS_4k": KWS_4k, "KWS_20k": KWS_20k, "KWS_80k": KWS_80k}
