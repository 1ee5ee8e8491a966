"""The task names and the model-name prefix of each task (torch-free; shared by tinyverse and modelmaker).

A model named ``CLS_...`` classifies, ``REGR_...`` regresses, ``AD_...`` detects anomalies and
``FCST_...`` forecasts; a model class may also say so itself with a ``task`` attribute.
"""

from __future__ import annotations

TASKS = ("classification", "regression", "anomalydetection", "forecasting")

# task -> model name prefix (the naming convention of the model zoo)
MODEL_PREFIXES = {
    "classification": "CLS_",
    "regression": "REGR_",
    "forecasting": "FCST_",
    "anomalydetection": "AD_",
}


def task_from_name(name: str) -> str | None:
    """The task a model name's prefix stands for (``CLS_4k`` -> ``classification``), or None."""
    for task, prefix in MODEL_PREFIXES.items():
        if name.startswith(prefix):
            return task
    return None
