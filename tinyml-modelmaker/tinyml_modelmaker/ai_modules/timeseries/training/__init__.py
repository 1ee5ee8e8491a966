"""The training stage: one module per task under ``training/tinyml_tinyverse/`` turns the resolved
config into a call of the tinyverse reference script of that task."""

from __future__ import annotations

import importlib
from types import ModuleType


def get_task_module(task: str) -> ModuleType:
    """``training.tinyml_tinyverse.timeseries_<task>`` (task = classification, regression, ...)."""
    return importlib.import_module(f"{__name__}.tinyml_tinyverse.timeseries_{task}")
