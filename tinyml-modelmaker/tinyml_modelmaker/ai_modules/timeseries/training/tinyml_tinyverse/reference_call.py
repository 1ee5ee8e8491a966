"""Shared by the task modules: resolved config -> reference-script arguments, and running them.

Training runs in this process (``get_args_parser().parse_args(argv)`` then ``main(args)``), or, for
``training.num_gpus > 1``, as ``python -m torch.distributed.run --nproc_per_node N -m <train module>``
in a subprocess (N CUDA GPUs, or N CPU processes with gloo where there is no CUDA). Testing runs
``test_onnx`` in this process.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from tinyml_tinyverse.common import run_files
from tinyml_tinyverse.common.errors import ModelError

from tinyml_modelmaker.ai_modules.timeseries.constants import REFERENCE_PACKAGES
from tinyml_modelmaker.config import dump_yaml
from tinyml_modelmaker.run_folder import RunPaths


def model_config_arg(config: dict, paths: RunPaths) -> list[str]:
    """``--model-config PATH``: the user's YAML, or the inline mapping written next to the model."""
    model_config = config["training"]["model_config"]
    if model_config is None:
        return []
    if isinstance(model_config, dict):
        path = paths.training_base.parent / run_files.MODEL_CONFIG
        path.parent.mkdir(parents=True, exist_ok=True)
        dump_yaml(model_config, path)
        return ["--model-config", str(path)]
    return ["--model-config", str(Path(model_config).resolve())]


def model_module_args(config: dict) -> list[str]:
    """``--model-module M`` for each ``training.model_module`` (a training process of its own imports them too)."""
    return [arg for spec in config["training"].get("model_module") or [] for arg in ("--model-module", spec)]


def train_argv(
    config: dict, paths: RunPaths, dataset_dir: Path, *, cuda: bool, progress: bool | None = None
) -> list[str]:
    """The reference ``train.py`` arguments of a resolved config.

    ``progress``: progress bars per epoch; default: when stderr is a terminal (a log file gets the
    one-line-per-epoch summary only).
    """
    tr = config["training"]
    argv = [
        "--dataset-dir", str(dataset_dir),
        "--data-config", str(paths.data_config),
        "--output-dir", str(paths.training_base),
        "--quantization-output-dir", str(paths.training_quantization),
        "--cache-dir", str(Path(dataset_dir) / run_files.CACHE_DIR),
        "--model", tr["model_name"],
        "--min-steps", str(tr["min_steps"]),
        "--batch-size", str(tr["batch_size"] or 0),
        "--lr", repr(float(tr["learning_rate"])),
        "--optimizer", tr["optimizer"],
        "--weight-decay", repr(float(tr["weight_decay"])),
        "--lr-scheduler", tr["lr_scheduler"],
        "--warmup-epochs", repr(float(tr["warmup_epochs"])),
        "--early-stopping-patience", str(tr["early_stopping_patience"]),
        "--best-epoch-by", tr["best_epoch_by"],
        "--min-epochs", str(-1 if tr["min_epochs"] is None else tr["min_epochs"]),
        "--ema-decay", repr(float(tr["ema_decay"])),
        "--choose-augmentation", {True: "auto", False: "off"}.get(tr["choose_augmentation"], tr["choose_augmentation"]),
        "--refit", {True: "on", False: "off"}.get(tr["refit"], "auto"),
        "--seed", str(tr["seed"]),
        "--num-gpus", str(tr["num_gpus"] if cuda else 0),
        "--quantization", str(tr["quantization"]),
        "--quantization-method", tr["quantization_method"],
        "--quantization-weight-bitwidth", str(tr["quantization_weight_bitwidth"]),
        "--qat-epochs", str(tr["qat_epochs"]),
        "--calibration-observer", tr["calibration_observer"],
    ]  # fmt: skip
    if tr["training_epochs"] is not None:  # null: the script's default, raised on small data (min_steps)
        argv += ["--epochs", str(tr["training_epochs"])]
    if tr["quantization_accuracy_budget"] is not None:
        argv += ["--quantization-accuracy-budget", repr(float(tr["quantization_accuracy_budget"]))]
    if tr["num_gpus"] == 0:
        argv += ["--device", "cpu"]
    argv += model_config_arg(config, paths)
    argv += model_module_args(config)
    if tr["resume"]:
        argv += ["--resume", "auto"]
    if not (sys.stderr.isatty() if progress is None else progress):
        argv.append("--no-progress")
    return argv


def run_training(task: str, argv: list[str], config: dict, paths: RunPaths) -> dict:
    """Run the task's reference training; returns ``training/base/summary.yaml`` as a dict."""
    import torch

    module_name = f"{REFERENCE_PACKAGES[task]}.train"
    num_gpus = config["training"]["num_gpus"]
    if num_gpus > 1:
        _launch_distributed(module_name, argv, num_gpus)
    else:
        if not torch.cuda.is_available() and num_gpus == 1:
            print("training: no CUDA GPU seen by torch; training on the CPU")
        module = importlib.import_module(module_name)
        args = module.get_args_parser().parse_args(argv)
        result = module.main(args)
        if isinstance(result, dict) and "interrupted_after_epoch" in result:
            return dict(result)
    summary_path = paths.training_base / run_files.SUMMARY
    if not summary_path.is_file():
        raise ModelError(f"training finished without writing {summary_path}; see the messages above")
    return yaml.safe_load(summary_path.read_text()) or {}


def _launch_distributed(module_name: str, argv: list[str], nproc: int) -> None:
    """``torch.distributed.run`` with ``nproc`` processes; a failing worker fails the stage."""
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
        "-m",
        module_name,
        *argv,
    ]
    print("training: launching", " ".join(cmd[:6]), f"... ({nproc} processes)")
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    proc = subprocess.run(cmd, env=env)
    if proc.returncode != 0:
        raise ModelError(
            f"distributed training ({nproc} processes) failed with exit code {proc.returncode}; "
            f"see the messages above, or set training.num_gpus: 1 to train in one process"
        )


def run_test_onnx(
    task: str,
    config: dict,
    paths: RunPaths,
    dataset_dir: Path,
    model_path: Path,
    output_dir: Path,
    reference_model: Path | None = None,
) -> dict[str, Any]:
    """Run the task's ``test_onnx`` on the test split with ``model_path``; returns its results.

    With ``reference_model`` (a ``best_model.pt``) the ONNX outputs must match torch's within 1e-4.
    """
    module = importlib.import_module(f"{REFERENCE_PACKAGES[task]}.test_onnx")
    argv = [
        "--dataset-dir", str(dataset_dir),
        "--data-config", str(paths.data_config),
        "--model-path", str(model_path),
        "--output-dir", str(output_dir),
        "--cache-dir", str(Path(dataset_dir) / run_files.CACHE_DIR),
    ]  # fmt: skip
    if reference_model is not None:
        argv += ["--reference-model", str(reference_model), *model_module_args(config)]
    args = module.get_args_parser().parse_args(argv)
    result = module.main(args)
    if isinstance(result, dict):
        return result
    metrics_path = output_dir / run_files.TEST_METRICS
    return (yaml.safe_load(metrics_path.read_text()) or {}) if metrics_path.is_file() else {}
