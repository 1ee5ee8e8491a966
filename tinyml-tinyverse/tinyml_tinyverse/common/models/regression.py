"""Regression zoo (``REGR_*_NPU``): CNNs mapping a window to ``num_classes`` target values.

Input ``(N, variables, input_features, 1)``; output ``(N, num_classes)`` where ``num_classes`` is
the number of targets. Defaults: ``input_features=512, variables=1, num_classes=1``; the size in
the name is the parameter count at these defaults. All keep to the NPU rules for any number of
variables (see ``classification.py``).
"""

from __future__ import annotations

from typing import Any

from .classification import ZooCNN


class ZooRegressor(ZooCNN):
    """Conv stages, then a linear head with one output per target value."""

    task = "regression"

    def __init__(
        self,
        config: dict[str, Any] | None = None,
        input_features: int | tuple[int, int] = 512,
        variables: int = 1,
        num_classes: int = 1,
    ):
        super().__init__(config, input_features=input_features, variables=variables, num_classes=num_classes)


class REGR_500_NPU(ZooRegressor):
    """~500-parameter NPU regressor: 3 conv blocks (4-8 channels), flatten + linear.

    Estimating values (speed, torque, temperature) from a sensor window.
    Default input (N, 1, 512, 1), output (N, 1).
    """

    stages = [(4, 5, 2, 4), (8, 5, 1, 4), (8, 3, 1, 4)]
    head = "flatten"


class REGR_1k_NPU(ZooRegressor):
    """~1k-parameter NPU regressor: 3 conv blocks (4-16 channels), global average pool + linear.

    Estimating values (speed, torque, temperature) from a sensor window.
    Default input (N, 1, 512, 1), output (N, 1).
    """

    stages = [(4, 5, 2, 4), (8, 5, 1, 2), (16, 5, 1, 2)]


class REGR_2k_NPU(ZooRegressor):
    """~2k-parameter NPU regressor: 4 conv blocks (8-16 channels), global average pool + linear.

    Estimating values (speed, torque, temperature) from a sensor window.
    Default input (N, 1, 512, 1), output (N, 1).
    """

    stages = [(8, 5, 2, 4), (12, 5, 1, 2), (16, 3, 1, 2), (16, 3, 1, 1)]


class REGR_4k_NPU(ZooRegressor):
    """~4k-parameter NPU regressor: 4 conv blocks (8-24 channels), global average pool + linear.

    Estimating values (speed, torque, temperature) from a sensor window.
    Default input (N, 1, 512, 1), output (N, 1).
    """

    stages = [(8, 7, 2, 4), (16, 5, 1, 2), (24, 3, 1, 2), (24, 3, 1, 1)]


class REGR_8k_NPU(ZooRegressor):
    """~8k-parameter NPU regressor: 5 conv blocks (8-32 channels), global average pool + linear.

    Estimating values (speed, torque, temperature) from a sensor window.
    Default input (N, 1, 512, 1), output (N, 1).
    """

    stages = [(8, 7, 2, 4), (16, 5, 1, 2), (24, 5, 1, 2), (32, 3, 1, 2), (32, 3, 1, 1)]


class REGR_20k_NPU(ZooRegressor):
    """~20k-parameter NPU regressor: 5 conv blocks (8-64 channels), GAP + hidden linear + linear.

    Estimating values (speed, torque, temperature) from a sensor window.
    Default input (N, 1, 512, 1), output (N, 1).
    """

    stages = [(8, 7, 2, 4), (16, 5, 1, 2), (32, 5, 1, 2), (48, 5, 1, 2), (64, 3, 1, 1)]
    hidden = 16


MODELS = {
    "REGR_500_NPU": REGR_500_NPU,
    "REGR_1k_NPU": REGR_1k_NPU,
    "REGR_2k_NPU": REGR_2k_NPU,
    "REGR_4k_NPU": REGR_4k_NPU,
    "REGR_8k_NPU": REGR_8k_NPU,
    "REGR_20k_NPU": REGR_20k_NPU,
}
