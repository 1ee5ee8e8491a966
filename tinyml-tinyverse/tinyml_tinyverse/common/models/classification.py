"""Classification zoo: small CNNs for time-series windows (``CLS_*``).

All take ``(N, variables, input_features, 1)`` (or ``(N, variables, H, W)`` for an ``(H, W)``
input) and return logits ``(N, num_classes)``. Defaults: ``input_features=512, variables=1,
num_classes=2``; the size in the name is the parameter count at these defaults. ``_NPU`` models keep
to the NPU rules (``npu_rules.py``) for any number of variables: several variables are reshaped
``(V, T, 1) -> (1, V, T)`` so the first conv has one input channel and a ``(V, k)`` kernel
(``zoo_blocks.add_folded_first_conv``).
"""

from __future__ import annotations

from typing import Any

from ..utils.py_utils import DictPlus
from .generic_model_spec import GenericModelWithSpec
from .zoo_blocks import MIN_SIZE, Stage, add_conv_stages, add_head, flatten_min_rows


class ZooCNN(GenericModelWithSpec):
    """Conv stages then a head; subclasses set ``stages``, ``head`` and optionally ``hidden``/``dropout``."""

    task = "classification"
    stages: list[Stage] = []
    head = "gap"
    hidden = 0
    dropout = 0.0
    npu = False  # set to True for every subclass named *_NPU

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        if "npu" not in cls.__dict__:
            cls.npu = cls.__name__.endswith("_NPU")

    def __init__(
        self,
        config: dict[str, Any] | None = None,
        input_features: int | tuple[int, int] = 512,
        variables: int = 1,
        num_classes: int = 2,
    ):
        super().__init__(config, input_features=input_features, variables=variables, num_classes=num_classes)
        self._init_model_from_spec()

    def out_features(self) -> int:
        return int(self.num_classes)

    def gen_model_spec(self) -> dict[str, Any]:
        layers = DictPlus()
        rows = flatten_min_rows(self.stages) if self.head == "flatten" else MIN_SIZE
        add_conv_stages(layers, self.stages, self.input_shape, npu=self.npu, min_rows=rows)
        add_head(layers, self.head, self.out_features(), self.hidden, self.dropout)
        return dict(model_spec=layers)


# -- NPU models ---------------------------------------------------------------------------------
class CLS_100_NPU(ZooCNN):
    """~100-parameter NPU classifier: 2 conv blocks, pools, flatten + linear.

    Simple signals with a few clearly different classes, on the smallest devices.
    Default input (N, 1, 512, 1), output logits (N, 2).
    """

    stages = [(4, 5, 2, 4), (4, 3, 1, 4), (None, 0, 1, 4)]
    head = "flatten"


class CLS_500_NPU(ZooCNN):
    """~500-parameter NPU classifier: 3 conv blocks (4-8 channels), flatten + linear.

    Simple signals with a few clearly different classes, on the smallest devices.
    Default input (N, 1, 512, 1), output logits (N, 2).
    """

    stages = [(4, 5, 2, 4), (8, 3, 1, 4), (8, 3, 1, 4)]
    head = "flatten"


class CLS_1k_NPU(ZooCNN):
    """~1k-parameter NPU classifier: 3 conv blocks (4-16 channels), global average pool + linear.

    Simple signals with a few clearly different classes, on the smallest devices.
    Default input (N, 1, 512, 1), output logits (N, 2).
    """

    stages = [(4, 5, 2, 4), (8, 5, 1, 2), (16, 5, 1, 2)]


class CLS_2k_NPU(ZooCNN):
    """~2k-parameter NPU classifier: 4 conv blocks (8-16 channels), global average pool + linear.

    Typical sensor windows (vibration, motor current, audio features).
    Default input (N, 1, 512, 1), output logits (N, 2).
    """

    stages = [(8, 5, 2, 4), (12, 5, 1, 2), (16, 3, 1, 2), (16, 3, 1, 1)]


class CLS_4k_NPU(ZooCNN):
    """~4k-parameter NPU classifier: 4 conv blocks (8-24 channels), global average pool + linear.

    Typical sensor windows (vibration, motor current, audio features).
    Default input (N, 1, 512, 1), output logits (N, 2).
    """

    stages = [(8, 7, 2, 4), (16, 5, 1, 2), (24, 3, 1, 2), (24, 3, 1, 1)]


class CLS_6k_NPU(ZooCNN):
    """~6k-parameter NPU classifier: 4 conv blocks (8-32 channels), global average pool + linear.

    Typical sensor windows (vibration, motor current, audio features).
    Default input (N, 1, 512, 1), output logits (N, 2).
    """

    stages = [(8, 7, 2, 4), (16, 5, 1, 2), (24, 5, 1, 2), (32, 5, 1, 1)]


class CLS_8k_NPU(ZooCNN):
    """~8k-parameter NPU classifier: 5 conv blocks (8-32 channels), global average pool + linear.

    Typical sensor windows (vibration, motor current, audio features).
    Default input (N, 1, 512, 1), output logits (N, 2).
    """

    stages = [(8, 7, 2, 4), (16, 5, 1, 2), (24, 5, 1, 2), (32, 3, 1, 2), (32, 3, 1, 1)]


class CLS_13k_NPU(ZooCNN):
    """~13k-parameter NPU classifier: 5 conv blocks (8-48 channels), global average pool + linear.

    Harder problems: many classes or subtle differences between them.
    Default input (N, 1, 512, 1), output logits (N, 2).
    """

    stages = [(8, 7, 2, 4), (16, 5, 1, 2), (32, 5, 1, 2), (40, 3, 1, 2), (48, 3, 1, 1)]


class CLS_20k_NPU(ZooCNN):
    """~20k-parameter NPU classifier: 5 conv blocks (8-64 channels), global average pool + linear.

    Harder problems: many classes or subtle differences between them.
    Default input (N, 1, 512, 1), output logits (N, 2).
    """

    stages = [(8, 7, 2, 4), (16, 5, 1, 2), (32, 5, 1, 2), (48, 5, 1, 2), (64, 3, 1, 1)]


class CLS_55k_NPU(ZooCNN):
    """~55k-parameter NPU classifier: 5 conv blocks (16-96 channels), GAP + hidden linear + linear.

    Harder problems: many classes or subtle differences between them.
    Default input (N, 1, 512, 1), output logits (N, 2).
    """

    stages = [(16, 7, 2, 4), (32, 5, 1, 2), (48, 5, 1, 2), (64, 5, 1, 2), (96, 3, 1, 1)]
    hidden = 32


# -- general (non-NPU) models -------------------------------------------------------------------
class CLS_1k(ZooCNN):
    """~1k-parameter classifier, not NPU-bound: wide first kernel, odd channel counts, dropout.

    Simple signals with a few clearly different classes, on the smallest devices.
    Default input (N, 1, 512, 1), output logits (N, 2).
    """

    stages = [(6, 9, 2, 4), (10, 5, 1, 4), (12, 3, 1, 2)]
    dropout = 0.1


class CLS_4k(ZooCNN):
    """~4k-parameter classifier, not NPU-bound: 4 conv blocks up to 24 channels, dropout.

    Typical sensor windows (vibration, motor current, audio features).
    Default input (N, 1, 512, 1), output logits (N, 2).
    """

    stages = [(10, 9, 2, 4), (16, 7, 1, 2), (20, 5, 1, 2), (24, 3, 1, 1)]
    dropout = 0.1


class CLS_13k(ZooCNN):
    """~13k-parameter classifier, not NPU-bound: 5 conv blocks up to 48 channels, dropout.

    Harder problems: many classes or subtle differences between them.
    Default input (N, 1, 512, 1), output logits (N, 2).
    """

    stages = [(12, 9, 2, 4), (20, 7, 1, 2), (30, 5, 1, 2), (36, 5, 1, 2), (40, 3, 1, 1)]
    dropout = 0.2


class CLS_RES_3k(ZooCNN):
    """~3k-parameter residual classifier: stem, two residual blocks (AddLayer skips), GAP + linear.

    Typical sensor windows (vibration, motor current, audio features).
    Default input (N, 1, 512, 1), output logits (N, 2).
    """

    def gen_model_spec(self) -> dict[str, Any]:
        layers = DictPlus()
        _, h, w = add_conv_stages(layers, [(8, 7, 2, 4)], self.input_shape, prefix="stem_")
        for b, ch in enumerate((8, 20), 1):
            src = "stem_pool1" if "stem_pool1" in layers else "stem_conv1"
            src = src if b == 1 else f"res{b - 1}_pool"
            k = (3, 1) if w == 1 else (3, 3)
            if b > 1:
                layers += {f"res{b}_proj": dict(type="PWConvBNReLULayer", out_channels=ch, inputs=src)}
                src = f"res{b}_proj"
            layers += {
                f"res{b}_conv1": dict(type="ConvBNReLULayer", out_channels=ch, kernel_size=k, inputs=src)
            }
            layers += {f"res{b}_conv2": dict(type="ConvBNLayer", out_channels=ch, kernel_size=k)}
            layers += {f"res{b}_add": dict(type="AddLayer", inputs=[src, f"res{b}_conv2"])}
            layers += {f"res{b}_relu": dict(type="ReLULayer")}
            pool = 2 if h // 2 >= 3 else 1
            layers += {f"res{b}_pool": dict(type="MaxPoolLayer", kernel_size=(pool, 1) if w == 1 else pool)}
            h //= pool
        add_head(layers, "gap", self.out_features())
        return dict(model_spec=layers)


class CNN_TS_GEN_BASE_13K(ZooCNN):
    """TimeSeries_Generic_13k_t: ~13k-parameter general time-series classifier.

    Input ``(N, variables, input_features, 1)``, defaults 512 x 1, 2 classes; 5 conv blocks
    (8-48 channels, kernels 3-9), pooling, global average pool, linear.
    """

    stages = [(8, 9, 2, 2), (16, 7, 1, 2), (32, 5, 1, 2), (48, 3, 1, 2), (40, 3, 1, 1)]

    def __init__(
        self,
        config: dict[str, Any] | None = None,
        input_features: int | tuple[int, int] = 512,
        variables: int = 1,
        num_classes: int = 2,
    ):
        super().__init__(config, input_features=input_features, variables=variables, num_classes=num_classes)


MODELS = {
    "CLS_100_NPU": CLS_100_NPU,
    "CLS_500_NPU": CLS_500_NPU,
    "CLS_1k_NPU": CLS_1k_NPU,
    "CLS_2k_NPU": CLS_2k_NPU,
    "CLS_4k_NPU": CLS_4k_NPU,
    "CLS_6k_NPU": CLS_6k_NPU,
    "CLS_8k_NPU": CLS_8k_NPU,
    "CLS_13k_NPU": CLS_13k_NPU,
    "CLS_20k_NPU": CLS_20k_NPU,
    "CLS_55k_NPU": CLS_55k_NPU,
    "CLS_1k": CLS_1k,
    "CLS_4k": CLS_4k,
    "CLS_13k": CLS_13k,
    "CLS_RES_3k": CLS_RES_3k,
    "TimeSeries_Generic_13k_t": CNN_TS_GEN_BASE_13K,
}
