"""Time-series forecasting: the resolved config -> ``tinyml_tinyverse.references.timeseries_forecasting``."""

from __future__ import annotations

from pathlib import Path

from tinyml_modelmaker.run_folder import RunPaths

from . import reference_call

TASK = "forecasting"


def train(config: dict, paths: RunPaths, dataset_dir: Path, *, cuda: bool) -> dict:
    """Train (and quantize) with ``timeseries_forecasting.train``; returns its summary."""
    argv = reference_call.train_argv(config, paths, dataset_dir, cuda=cuda)
    return reference_call.run_training(TASK, argv, config, paths)


def test(
    config: dict,
    paths: RunPaths,
    dataset_dir: Path,
    model_path: Path,
    output_dir: Path,
    reference_model: Path | None = None,
) -> dict:
    """Test an ONNX model on the test split with ``timeseries_forecasting.test_onnx``; returns its metrics."""
    return reference_call.run_test_onnx(
        TASK, config, paths, dataset_dir, model_path, output_dir, reference_model
    )
