"""Names the time-series modality knows: task types, target devices, presets, models per task.

Torch-free. The tasks are the time-series records of ``tinyml_tinyverse.common.task_names``; the
other names come from tinyverse's registries and tables. The model names allowed for a task follow
its record's prefix (``CLS_`` classification, ``REGR_`` regression, ``FCST_`` forecasting, ``AD_``
anomaly detection); the full check against ``MODEL_REGISTRY`` happens in the runner, right before
any data work.
"""

from __future__ import annotations

from tinyml_tinyverse.common.compilation.devices import DEVICE_REGISTRY
from tinyml_tinyverse.common.compilation.presets import PRESET_REGISTRY
from tinyml_tinyverse.common.task_names import task_records

from ...config import LazyNames

TARGET_MODULE = "timeseries"
RECORDS = task_records(TARGET_MODULE)  # the tasks of this modality (tinyml_tinyverse.common.task_names)

# task type -> the task name used inside tinyverse
TASK_TYPES = {r.task_type: r.name for r in RECORDS}

# task -> model name prefix (the record's first)
MODEL_PREFIXES = {r.name: r.model_prefixes[0] for r in RECORDS}

# tinyverse task name -> reference script package
REFERENCE_PACKAGES = {r.name: f"tinyml_tinyverse.references.timeseries_{r.name}" for r in RECORDS}

# the dataset generators for ``dataset.input_data_path: generated://<name>`` (the tasks' example data)
GENERATORS = tuple(g for r in RECORDS for g in r.generators)

SPLIT_TYPES = LazyNames("tinyml_tinyverse.common.datasets.splitting", "SPLIT_TYPES")
# the training script's registries live with torch, which a config check must not import: these two are
# kept here, and tests/test_schema_defaults.py fails when they differ from OPTIMIZER_ / SCHEDULER_REGISTRY
OPTIMIZERS = ("adam", "adamw", "sgd")
LR_SCHEDULERS = ("cosine", "step", "none")
QUANTIZATION_MODES = (0, 1, 2)  # 0 float only, 1 generic int8, 2 NPU style (power-of-two scales)
QUANTIZATION_METHODS = ("PTQ", "QAT")
WEIGHT_BITWIDTHS = (8, 4, 2)
AUTO_BITWIDTH = "auto"  # 8 or 4 bits per layer by measured sensitivity (quantization 2)


def lowest_bitwidth(bits: int | str) -> int:
    """The narrowest weight width a setting may give a layer (``auto``: 4): for lower bounds of flash."""
    return 4 if bits == AUTO_BITWIDTH else int(bits)


CALIBRATION_OBSERVERS = LazyNames("tinyml_tinyverse.common.quantization.observers", "OBSERVER_REGISTRY")
BEST_EPOCH_BY = ("loss", "metric")  # what picks the best epoch: the val loss or the val metric
REFIT_MODES = ("auto", True, False)  # refit on train + val for the chosen epoch count (auto: small val split)
CHOOSE_AUGMENTATION = (
    "auto",
    "off",
    True,
    False,
)  # small data: try Shift, keep it if the val loss is lower (YAML off = False)
COMPILATION_PRESETS = tuple(PRESET_REGISTRY)
SEARCH_PRUNERS = ("successive_halving", "hyperband", "median", "none")


def target_devices() -> list[str]:
    """Names of the devices a model can be compiled for (from tinyverse's device table)."""
    return sorted(DEVICE_REGISTRY.keys())


def task_of(task_type: str) -> str:
    """The tinyverse task name of a modelmaker task type."""
    return TASK_TYPES[task_type]
