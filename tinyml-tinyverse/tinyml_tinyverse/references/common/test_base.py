"""Testing an ONNX model on a split with onnxruntime: metrics, plots and post-training analysis,
shared by every task's ``test_onnx.py``."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from tinyml_tinyverse.common import run_files
from tinyml_tinyverse.common.errors import DataError, ModelError

from . import onnx_export, reference_outputs
from .artifacts import write_csv, write_yaml
from .cli import MODEL_MODULE_HELP
from .metrics import HEADLINE_METRICS
from .tasks import get_task


def get_args_parser(task: str, description: str = "", add_help: bool = True) -> argparse.ArgumentParser:
    """The arguments every task's ``test_onnx.py`` accepts."""
    p = argparse.ArgumentParser(
        description=description or f"Test a time-series {task} ONNX model", add_help=add_help
    )
    p.add_argument("--dataset-dir", required=True, help="folder written by prepare_dataset")
    p.add_argument("--data-config", default=None, help="YAML file with the data_config dict")
    p.add_argument("--model-path", required=True, help="the ONNX model")
    p.add_argument("--output-dir", required=True, help="where metrics and plots go (the run's testing/)")
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument(
        "--reference-model", default=None, help="best_model.pt whose outputs the ONNX model must match (1e-4)"
    )
    p.add_argument(
        "--threshold", type=float, default=None, help="anomaly threshold (default: chosen on the val split)"
    )
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--horizon", type=int, default=None, help="forecast horizon if the data config has none")
    p.add_argument("--model-module", action="append", default=[], help=MODEL_MODULE_HELP)
    return p


def fit_outputs(outputs: np.ndarray, split, task, model_path) -> np.ndarray:
    """ONNX outputs shaped like the task's targets; a model of another task is a clear error."""
    n = len(split.X)
    if task.record.scores_classes:
        want = (n, len(task.class_names(split)) or int(np.max(split.y)) + 1)
    else:
        want = (n, *np.shape(task.targets(split))[1:])
    if outputs.size != int(np.prod(want)):
        raise ModelError(f"{model_path} gives {outputs.size // max(n, 1)} values per window, but {task.name} on this "
                         f"dataset needs {int(np.prod(want[1:]))} (shape {list(want[1:])}); is it a model for {task.name} on this data?")  # fmt: skip
    return outputs.reshape(want)


def run_test(args: argparse.Namespace, task_name: str) -> dict:
    """Run ``--model-path`` on ``--split`` and write ``test_metrics.yaml`` + plots + analysis; returns the metrics."""
    from tinyml_tinyverse.common.datasets import read_dataset_info

    from .splits import data_modality, read_data_config, with_target_names

    task = get_task(task_name)
    out_dir = Path(args.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if not Path(args.dataset_dir).is_dir():
        raise DataError(f"--dataset-dir {args.dataset_dir} is not a folder; run the dataset stage first")
    data_config = read_data_config(args, task.name)
    load_split = data_modality(args).load_split
    split = load_split(args.dataset_dir, args.split, task.name, data_config, cache_dir=args.cache_dir)
    split = with_target_names(split, read_dataset_info(args.dataset_dir).target_columns)
    if len(split.X) == 0:
        raise DataError(f"the {args.split} split of {args.dataset_dir} is empty; nothing to test")
    print(f"testing {args.model_path} on {len(split.X)} {args.split} windows", flush=True)
    session = onnx_export.onnx_session(args.model_path)
    outputs = onnx_export.run_onnx(session, split.X)
    outputs = fit_outputs(outputs, split, task, args.model_path)

    state: dict = {}
    if task.record.normal_class:  # anomaly detection: the threshold is chosen on val
        val = load_split(args.dataset_dir, "val", task.name, data_config, cache_dir=args.cache_dir)
        val = val if len(val.X) else split
        state = task.fit_state(onnx_export.run_onnx(session, val.X).reshape(val.X.shape), val)
        if args.threshold is not None:
            state["threshold"] = args.threshold
    results = {"model_path": str(args.model_path), "split": args.split, "num_samples": len(split.X)}
    metrics = task.metrics(outputs, split, state)
    if state:
        results["anomaly_threshold"] = state

    if args.reference_model:
        ref = reference_outputs.recorded(args.reference_model, split.X)
        if ref is None:  # not recorded by the training process for this checkpoint and split
            ref = reference_model_outputs(args, split.X)
        ref = ref.reshape(outputs.shape)
        diff = float(np.max(np.abs(ref - outputs)) / max(1.0, float(np.max(np.abs(ref)))))
        results["max_rel_diff_vs_reference"] = diff
        if not diff <= onnx_export.PARITY_TOLERANCE:
            raise ModelError(
                f"{args.model_path} and {args.reference_model} disagree by {diff:.3g} (> {onnx_export.PARITY_TOLERANCE})"
            )

    write_predictions(out_dir / PREDICTIONS_CSV, outputs, split, task, state)
    results["plots"] = task.plots(out_dir, outputs, split, state, metrics)
    extra = task.analysis(out_dir, outputs, split, state, metrics)
    metrics.update({k: v for k, v in extra.items() if v})
    results["metrics"] = metrics
    write_yaml(out_dir / run_files.TEST_METRICS, results)
    print(f"  {metrics_line(metrics)}; results in {out_dir}", flush=True)
    return results


def reference_model_outputs(args: argparse.Namespace, x: np.ndarray) -> np.ndarray:
    """``--reference-model``'s outputs on ``x``, computed here with torch."""
    import torch

    from . import checkpoint as ckpt
    from .evaluation import predict
    from .model_setup import import_model_modules

    import_model_modules(args.model_module)  # the reference model may be one of the user's
    model, _ = ckpt.load_best_model(args.reference_model)
    return predict(model, x, torch.device("cpu"))


PREDICTIONS_CSV = run_files.PREDICTIONS


def _cell(values) -> object:
    """One value as is; several (regression targets, a forecast) joined by spaces."""
    flat = np.asarray(values).reshape(-1)
    return flat[0].item() if flat.size == 1 else " ".join(f"{v:.7g}" for v in flat.tolist())


def write_predictions(path: Path, outputs: np.ndarray, split, task, state: dict) -> None:
    """``predictions.csv``: one row per window, ``file`` (relative to the data folder), ``window``
    (its index within that recording, from 0), ``label`` and ``predicted`` (the class index in
    model_aux.h's label order; for anomaly detection 1 = anomaly, from the threshold; for regression
    and forecasting the values). The chip's pipeline gives output ``k`` of a recording for window ``k``."""
    from tinyml_tinyverse.common.datasets.raw_windows import window_index

    from . import metrics as M

    y = np.asarray(split.y)
    if task.record.scores_classes:
        predicted = np.argmax(outputs, axis=1)
    elif task.record.normal_class:
        predicted = (M.reconstruction_errors(split.X, outputs) > state["threshold"]).astype(np.int64)
    else:
        predicted = outputs
    windows = window_index(split.file_ids)
    rows = [
        {"file": split.files[int(f)], "window": int(w), "label": _cell(label), "predicted": _cell(p)}
        for f, w, label, p in zip(split.file_ids, windows, y, predicted)
    ]
    write_csv(path, rows, columns=["file", "window", "label", "predicted"])


def metrics_line(metrics: dict) -> str:
    """The headline figures of a metrics dict in one line."""
    shown = [f"{k} {metrics[k]:.4f}" for k in HEADLINE_METRICS if isinstance(metrics.get(k), float)]
    return ", ".join(shown) or "no scalar metrics"
