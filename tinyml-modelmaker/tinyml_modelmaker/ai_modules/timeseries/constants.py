"""Names the time-series modality knows: task types, target devices, presets, models per task.

Torch-free. The model names allowed for a task follow the naming convention of the model zoo
(``CLS_`` classification, ``REGR_`` regression, ``FCST_`` forecasting, ``AD_`` anomaly detection);
the full check against ``MODEL_REGISTRY`` happens in the runner, right before any data work.
"""

from __future__ import annotations

from tinyml_tinyverse.common.compilation.devices import DEVICE_REGISTRY
from tinyml_tinyverse.common.task_names import MODEL_PREFIXES  # noqa: F401  (task -> model name prefix)

TARGET_MODULE = "timeseries"

TASK_TYPE_CLASSIFICATION = "generic_timeseries_classification"
TASK_TYPE_REGRESSION = "generic_timeseries_regression"
TASK_TYPE_FORECASTING = "generic_timeseries_forecasting"
TASK_TYPE_ANOMALYDETECTION = "generic_timeseries_anomalydetection"

# task type -> the task name used inside tinyverse
TASK_TYPES = {
    TASK_TYPE_CLASSIFICATION: "classification",
    TASK_TYPE_REGRESSION: "regression",
    TASK_TYPE_FORECASTING: "forecasting",
    TASK_TYPE_ANOMALYDETECTION: "anomalydetection",
}


# tinyverse task name -> reference script package
REFERENCE_PACKAGES = {task: f"tinyml_tinyverse.references.timeseries_{task}" for task in MODEL_PREFIXES}

# tinyverse task name -> dataset generator for ``dataset.input_data_path: generated://<name>``
GENERATORS = ("motor_fault", "regression", "forecasting", "anomaly")

SPLIT_TYPES = ("amongst_files", "within_files")
OPTIMIZERS = ("adam", "adamw", "sgd")
LR_SCHEDULERS = ("cosine", "step", "none")
QUANTIZATION_MODES = (0, 1, 2)  # 0 float only, 1 generic int8, 2 NPU style (power-of-two scales)
QUANTIZATION_METHODS = ("PTQ", "QAT")
WEIGHT_BITWIDTHS = (8, 4, 2)
AUTO_BITWIDTH = "auto"  # 8 or 4 bits per layer by measured sensitivity (quantization 2)


def lowest_bitwidth(bits: int | str) -> int:
    """The narrowest weight width a setting may give a layer (``auto``: 4): for lower bounds of flash."""
    return 4 if bits == AUTO_BITWIDTH else int(bits)


CALIBRATION_OBSERVERS = ("minmax", "percentile", "mse")
BEST_EPOCH_BY = ("loss", "metric")  # what picks the best epoch: the val loss or the val metric
REFIT_MODES = ("auto", True, False)  # refit on train + val for the chosen epoch count (auto: small val split)
COMPILATION_PRESETS = ("default_preset", "compress_npu_layer_data")
SEARCH_PRUNERS = ("successive_halving", "hyperband", "median", "none")


def target_devices() -> list[str]:
    """Names of the devices a model can be compiled for (from tinyverse's device table)."""
    return sorted(DEVICE_REGISTRY.keys())


def task_of(task_type: str) -> str:
    """The tinyverse task name of a modelmaker task type."""
    return TASK_TYPES[task_type]


def model_prefix(task_type: str) -> str:
    """The model-name prefix of a task type, e.g. ``CLS_`` for classification."""
    return MODEL_PREFIXES[TASK_TYPES[task_type]]
