"""Forecasting zoo (``FCST_*_NPU``): CNNs predicting the next ``horizon`` steps of some variables.

Input ``(N, variables, input_features, 1)``; output ``(N, horizon, num_classes)`` where
``num_classes`` is the number of forecast variables (default: ``variables``). Defaults:
``input_features=64, variables=1, horizon=1``; the size in the name is the parameter count at these
defaults. All keep to the NPU rules for any number of variables (see
``classification.py``).
"""

from __future__ import annotations

from typing import Any

from ..errors import ModelError
from ..utils.py_utils import DictPlus
from .classification import ZooCNN
from .zoo_blocks import MIN_SIZE, add_conv_stages, add_head, flatten_min_rows


class ZooForecaster(ZooCNN):
    """Conv stages, flatten, linear head with ``horizon * num_classes`` outputs, reshaped."""

    task = "forecasting"
    head = "flatten"

    def __init__(
        self,
        config: dict[str, Any] | None = None,
        input_features: int | tuple[int, int] = 64,
        variables: int = 1,
        num_classes: int | None = None,
        horizon: int = 1,
    ):
        super(ZooCNN, self).__init__(
            config,
            input_features=input_features,
            variables=variables,
            num_classes=num_classes,
            horizon=horizon,
        )
        if self.num_classes is None:
            self.num_classes = self.variables
        if not isinstance(self.horizon, int) or self.horizon < 1:
            raise ModelError(f"{type(self).__name__}: horizon must be a positive int, got {self.horizon!r}")
        self._init_model_from_spec()

    def gen_model_spec(self) -> dict[str, Any]:
        layers = DictPlus()
        rows = flatten_min_rows(self.stages) if self.head == "flatten" else MIN_SIZE
        add_conv_stages(layers, self.stages, self.input_shape, npu=self.npu, min_rows=rows)
        add_head(layers, self.head, self.horizon * self.num_classes, self.hidden, self.dropout)
        layers += {"forecast": dict(type="ReshapeLayer", shape=[self.horizon, self.num_classes])}
        return dict(model_spec=layers)


class FCST_500_NPU(ZooForecaster):
    """~500-parameter NPU forecaster: 3 conv blocks (4-8 channels), flatten + linear.

    Predicting the next samples of slowly varying signals (temperature, load).
    Default input (N, 1, 64, 1), output (N, horizon=1, 1).
    """

    stages = [(4, 5, 1, 2), (8, 3, 1, 2), (8, 3, 1, 2)]


class FCST_1k_NPU(ZooForecaster):
    """~1k-parameter NPU forecaster: 3 conv blocks (4-16 channels), flatten + linear.

    Predicting the next samples of slowly varying signals (temperature, load).
    Default input (N, 1, 64, 1), output (N, horizon=1, 1).
    """

    stages = [(4, 5, 1, 2), (8, 5, 1, 2), (16, 5, 1, 2)]


class FCST_2k_NPU(ZooForecaster):
    """~2k-parameter NPU forecaster: 3 conv blocks (8-16 channels), flatten + linear.

    Predicting the next samples of slowly varying signals (temperature, load).
    Default input (N, 1, 64, 1), output (N, horizon=1, 1).
    """

    stages = [(8, 5, 1, 2), (16, 5, 1, 2), (16, 3, 1, 2)]


class FCST_4k_NPU(ZooForecaster):
    """~4k-parameter NPU forecaster: 4 conv blocks (8-24 channels), flatten + linear.

    Predicting the next samples of slowly varying signals (temperature, load).
    Default input (N, 1, 64, 1), output (N, horizon=1, 1).
    """

    stages = [(8, 5, 1, 2), (16, 5, 1, 2), (24, 5, 1, 2), (24, 3, 1, 2)]


class FCST_8k_NPU(ZooForecaster):
    """~8k-parameter NPU forecaster: 4 conv blocks (8-32 channels), flatten + linear.

    Predicting the next samples of slowly varying signals (temperature, load).
    Default input (N, 1, 64, 1), output (N, horizon=1, 1).
    """

    stages = [(8, 5, 1, 2), (16, 5, 1, 2), (32, 5, 1, 2), (32, 5, 1, 2)]


class FCST_20k_NPU(ZooForecaster):
    """~20k-parameter NPU forecaster: 4 conv blocks (16-48 channels), flatten + hidden linear + linear.

    Predicting the next samples of slowly varying signals (temperature, load).
    Default input (N, 1, 64, 1), output (N, horizon=1, 1).
    """

    stages = [(16, 5, 1, 2), (32, 5, 1, 2), (48, 5, 1, 2), (48, 3, 1, 2)]
    hidden = 16


MODELS = {
    "FCST_500_NPU": FCST_500_NPU,
    "FCST_1k_NPU": FCST_1k_NPU,
    "FCST_2k_NPU": FCST_2k_NPU,
    "FCST_4k_NPU": FCST_4k_NPU,
    "FCST_8k_NPU": FCST_8k_NPU,
    "FCST_20k_NPU": FCST_20k_NPU,
}
