"""What each task is (the *what*), apart from how training runs (the *how*, in ``train_base.py``).

A :class:`Task` knows its loss, its metrics, the validation metric that picks the best epoch and
whether higher is better, its plots and its post-training analysis. Tasks are found by name in
``TASK_REGISTRY`` (``classification``, ``regression``, ``forecasting``, ``anomalydetection``).

Every method works on numpy model outputs, so the same code scores torch, ONNX and quantized models:
classification logits ``(N, K)``, regression ``(N, T)``, forecasting ``(N, horizon, V)`` and
anomaly-detection reconstructions shaped like the input.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tinyml_tinyverse.common import run_files
from tinyml_tinyverse.common.errors import ConfigError, DataError
from tinyml_tinyverse.common.registry import Registry
from tinyml_tinyverse.common.task_names import TASK_RECORDS, TaskRecord, get_task_record

from . import metrics as M
from . import plots
from .artifacts import write_csv

if TYPE_CHECKING:  # torch is imported where a loss is built: testing runs without it
    import torch
    from torch import nn

TASK_REGISTRY = Registry("task")


def register_task(cls: type[Task]) -> type[Task]:
    """Class decorator: register a :class:`Task` subclass under its ``name`` (its record's name)."""
    return TASK_REGISTRY.register(cls.name, cls)


def get_task(name: str) -> Task:
    """A task instance by name (``classification``, ``regression``, ``forecasting``, ``anomalydetection``)."""
    return TASK_REGISTRY[name]()


class Task:
    """Base class: one subclass per task, registered in ``TASK_REGISTRY``. What the task is (its
    ``primary_metric``, whether higher is better, its labels) comes from its ``record``
    (``common.task_names``); a subclass says how it is trained and scored."""

    name: str = ""
    primary_metric: str = "loss"
    mode: str = "min"  # "max": higher primary metric is better
    reconstructs_input: bool = False  # the target is the input (autoencoders)
    # the validation metric is a monotone function of the loss (RMSE, reconstruction error): early
    # stopping on the val loss is then stopping on the metric, with no reason to wait for more steps
    loss_is_metric: bool = True

    # -- set-up ----------------------------------------------------------------------------------
    def model_kwargs(self, train: Any, data_config: dict, args: argparse.Namespace) -> dict:
        """Task keyword arguments of ``get_model`` (``num_classes``, ``horizon``)."""
        return {}

    def build_loss(self, train: Any, args: argparse.Namespace) -> nn.Module:
        from torch import nn

        return nn.MSELoss()

    def output_scale(self, train: Any) -> tuple[np.ndarray, np.ndarray] | None:
        """``(mean, std)`` of the training targets when the model should learn standardized values."""
        return None

    def targets(self, split: Any) -> np.ndarray:
        """The array the loss compares the model output with."""
        return split.X if self.reconstructs_input else split.y

    def class_names(self, split: Any) -> list[str]:
        return [str(c) for c in (getattr(split, "class_names", None) or [])]

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.name in TASK_RECORDS:  # what the task is comes from its record
            record = TASK_RECORDS[cls.name]
            cls.primary_metric = record.primary_metric
            cls.mode = "max" if record.higher_is_better else "min"

    @property
    def record(self) -> TaskRecord:
        return get_task_record(self.name)

    def is_better(self, value: float, best: float | None) -> bool:
        if best is None or np.isnan(best):
            return not np.isnan(value)
        return value > best if self.mode == "max" else value < best

    # -- scoring ---------------------------------------------------------------------------------
    def metrics(self, outputs: np.ndarray, split: Any, state: dict) -> dict:
        """Every figure of ``outputs`` on ``split``; ``state`` is what :meth:`fit_state` chose."""
        raise NotImplementedError

    def baseline_warning(self, metrics: dict, split: Any) -> str | None:
        """A sentence when ``metrics`` on ``split`` are no better than a trivial answer (the training
        did not learn: a learning rate too high, labels unrelated to the data), else None."""
        return None

    def fit_state(self, val_outputs: np.ndarray, val: Any) -> dict:
        """Choose post-training settings on the validation split (the anomaly threshold)."""
        return {}

    def progress_metric(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor | None:
        """A cheap running figure for the progress bar (a count summed over batches), or None."""
        return None

    # -- reports ---------------------------------------------------------------------------------
    def plots(self, out_dir: Path, outputs: np.ndarray, split: Any, state: dict, results: dict) -> list[str]:
        """Write the task's plots for a test split; returns the file names."""
        return []

    def analysis(self, out_dir: Path, outputs: np.ndarray, split: Any, state: dict, results: dict) -> dict:
        """Post-training analysis files; returns extra figures for the summary."""
        return {}


@register_task
class ClassificationTask(Task):
    name = "classification"
    loss_is_metric = False  # accuracy keeps rising while a small val split's cross entropy turns up

    def model_kwargs(self, train, data_config, args):
        return {"num_classes": len(self.class_names(train)) or int(np.max(train.y)) + 1}

    def build_loss(self, train, args):
        weights = class_weights(
            getattr(args, "class_weights", None), train.y, self.model_kwargs(train, {}, args)["num_classes"]
        )
        import torch

        return torch.nn.CrossEntropyLoss(
            weight=None if weights is None else torch.tensor(weights, dtype=torch.float32)
        )

    def progress_metric(self, outputs, targets):
        return (outputs.argmax(dim=1) == targets).sum()

    def metrics(self, outputs, split, state):
        num_classes = outputs.shape[1]
        return M.classification_metrics(split.y, outputs, num_classes)

    def baseline_warning(self, metrics, split):
        y = np.asarray(split.y, dtype=np.int64)
        accuracy = metrics.get("accuracy")
        if len(np.unique(y)) < 2 or not isinstance(accuracy, float):
            return None
        majority = np.bincount(y).max() / len(y)
        if accuracy > majority + 1e-9:
            return None
        return (
            f"accuracy {accuracy:.3f} is no better than always answering the most common class "
            f"({majority:.3f}): the model did not learn. Lower the learning rate (training.learning_rate / "
            f"--lr), train longer, or check that the classes differ in the data (the dataset PCA plot)"
        )

    def plots(self, out_dir, outputs, split, state, results):
        names = self.class_names(split) or [str(k) for k in range(outputs.shape[1])]
        plots.plot_confusion_matrix(
            out_dir / "confusion_matrix.png", np.array(results["confusion_matrix"]), names
        )
        probs = M.softmax(outputs)
        curves = {
            names[k]: (fpr, tpr, M.roc_auc(split.y == k, probs[:, k]))
            for k, (fpr, tpr, _) in M.per_class_roc(split.y, probs).items()
        }
        plots.plot_roc(out_dir / "roc_curves.png", curves)
        return ["confusion_matrix.png", "roc_curves.png"]

    def analysis(self, out_dir, outputs, split, state, results):
        names = self.class_names(split) or [str(k) for k in range(outputs.shape[1])]
        probs = M.softmax(outputs)
        rows = []
        for k, (fpr, tpr, thr) in M.per_class_roc(split.y, probs).items():
            rows += [
                {"class": names[k], "threshold": t, "fpr": f, "tpr": p} for f, p, t in zip(fpr, tpr, thr)
            ]
        write_csv(out_dir / run_files.FPR_TPR_THRESHOLDS, rows, ["class", "threshold", "fpr", "tpr"])
        return {
            "file_level": file_level_summary(
                out_dir / run_files.FILE_LEVEL_SUMMARY, probs.argmax(1), split, names
            )
        }


@register_task
class RegressionTask(Task):
    name = "regression"

    def targets(self, split):
        y = np.asarray(split.y, dtype=np.float32)
        return y.reshape(len(y), -1)

    def model_kwargs(self, train, data_config, args):
        return {"num_classes": self.targets(train).shape[1]}

    def output_scale(self, train):
        from .output_scaling import target_scale

        return target_scale(self.targets(train))

    def build_loss(self, train, args):
        from .output_scaling import StandardizedMSELoss

        return StandardizedMSELoss(self.output_scale(train)[1])

    def metrics(self, outputs, split, state):
        y = self.targets(split)
        out = {**M.regression_metrics(y, outputs.reshape(y.shape))}
        if y.shape[1] > 1:
            out["rmse_per_target"] = [M.rmse(y[:, i], outputs[:, i]) for i in range(y.shape[1])]
        return out

    def baseline_warning(self, metrics, split):
        r2 = metrics.get("r2")
        if not isinstance(r2, float) or np.isnan(r2) or r2 > 0:
            return None
        return (
            f"R2 {r2:.3f}: the model predicts no better than the mean of the targets. Lower the learning "
            f"rate (training.learning_rate / --lr), train longer, or check that the inputs carry the target"
        )

    def plots(self, out_dir, outputs, split, state, results):
        y = self.targets(split)
        plots.plot_pred_vs_true(
            out_dir / "pred_vs_true.png", y, outputs.reshape(y.shape), self.class_names(split)
        )
        return ["pred_vs_true.png"]

    def analysis(self, out_dir, outputs, split, state, results):
        y = self.targets(split)
        pred = outputs.reshape(y.shape)
        rows = [
            {
                "index": i,
                **{f"true_{j}": y[i, j] for j in range(y.shape[1])},
                **{f"pred_{j}": pred[i, j] for j in range(y.shape[1])},
            }
            for i in range(len(y))
        ]
        write_csv(out_dir / run_files.TEST_PREDICTIONS, rows)
        return {}


@register_task
class ForecastingTask(Task):
    name = "forecasting"

    def model_kwargs(self, train, data_config, args):
        y = np.asarray(train.y)
        if y.ndim != 3:
            raise DataError(
                f"forecasting targets must be (N, horizon, variables); the training split gives {y.shape}"
            )
        horizon = getattr(args, "horizon", None) or y.shape[1]
        if horizon != y.shape[1]:
            raise ConfigError(
                f"--horizon {horizon} differs from the data's horizon {y.shape[1]}; set horizon in the data config"
            )
        return {"num_classes": y.shape[2], "horizon": int(horizon)}

    def output_scale(self, train):
        from .output_scaling import target_scale

        return target_scale(train.y)

    def build_loss(self, train, args):
        from .output_scaling import StandardizedMSELoss

        return StandardizedMSELoss(self.output_scale(train)[1])

    def metrics(self, outputs, split, state):
        return M.forecasting_metrics(split.y, outputs.reshape(np.shape(split.y)))

    baseline_warning = RegressionTask.baseline_warning

    def plots(self, out_dir, outputs, split, state, results):
        plots.plot_forecast(
            out_dir / "forecast_vs_actual.png",
            split.y,
            outputs.reshape(np.shape(split.y)),
            self.class_names(split),
        )
        return ["forecast_vs_actual.png"]

    def analysis(self, out_dir, outputs, split, state, results):
        rows = [{"horizon_step": i + 1, "smape": s} for i, s in enumerate(results["smape_per_step"])]
        write_csv(out_dir / run_files.SMAPE_PER_STEP, rows)
        return {}


@register_task
class AnomalyDetectionTask(Task):
    name = "anomalydetection"
    reconstructs_input = True

    def class_names(self, split):
        return [str(c) for c in (getattr(split, "class_names", None) or self.record.label_names)]

    def metrics(self, outputs, split, state):
        errors = M.reconstruction_errors(split.X, outputs)
        labels = np.asarray(split.y)
        normal = errors[labels == 0]
        out = {
            "normal_error": float(normal.mean()) if normal.size else float("nan"),
            "anomaly_error": float(errors[labels != 0].mean()) if (labels != 0).any() else float("nan"),
            "roc_auc": M.roc_auc(labels != 0, errors),
        }
        if "threshold" in state:
            out.update(M.binary_metrics(labels != 0, errors > state["threshold"]))
            out["threshold"] = state["threshold"]
        return out

    def baseline_warning(self, metrics, split):
        auc = metrics.get("roc_auc")
        if not isinstance(auc, float) or np.isnan(auc) or auc > 0.55:
            return None
        return (
            f"ROC-AUC {auc:.3f}: the reconstruction error does not tell anomalous windows from normal ones "
            f"(0.5 is chance). Try a larger model, other features (feature_extraction_name), or check that "
            f"the Normal class holds only normal recordings"
        )

    def fit_state(self, val_outputs, val):
        errors = M.reconstruction_errors(val.X, val_outputs)
        labels = np.asarray(val.y) != 0
        normal = errors[~labels]
        if not normal.size:
            raise DataError(
                "the validation split has no Normal windows, so no anomaly threshold can be chosen; add Normal recordings to it"
            )
        return M.select_threshold(normal, errors, labels)

    def plots(self, out_dir, outputs, split, state, results):
        errors = M.reconstruction_errors(split.X, outputs)
        labels = np.asarray(split.y) != 0
        plots.plot_error_histogram(
            out_dir / "reconstruction_error_histogram.png", errors, labels, state["threshold"]
        )
        written = ["reconstruction_error_histogram.png"]
        if labels.any() and not labels.all():
            fpr, tpr, _ = M.roc_curve(labels, errors)
            plots.plot_roc(out_dir / "roc_curves.png", {"anomaly": (fpr, tpr, results["roc_auc"])})
            written.append("roc_curves.png")
        return written

    def analysis(self, out_dir, outputs, split, state, results):
        errors = M.reconstruction_errors(split.X, outputs)
        labels = np.asarray(split.y) != 0
        table = M.threshold_table(errors, labels, state["mean"], state["std"])
        write_csv(out_dir / run_files.THRESHOLD_PERFORMANCE, table)
        fpr, tpr, thr = M.roc_curve(labels, errors)
        write_csv(
            out_dir / run_files.FPR_TPR_THRESHOLDS,
            [{"class": "anomaly", "threshold": t, "fpr": f, "tpr": p} for f, p, t in zip(fpr, tpr, thr)],
        )
        return {}


# -- helpers ----------------------------------------------------------------------------------------


def class_weights(spec: str | None, y: np.ndarray, num_classes: int) -> list[float] | None:
    """``None``/``""`` -> none; ``balanced`` -> inverse class frequency (mean 1); ``"1,2,3"`` -> as given."""
    if not spec:
        return None
    if str(spec).lower() == "balanced":
        counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=num_classes).astype(np.float64)
        weights = np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / num_classes, 0.0)
        return (weights / weights[counts > 0].mean()).tolist()
    try:
        weights = [float(v) for v in str(spec).split(",")]
    except ValueError:
        raise ConfigError(
            f"--class-weights {spec!r}: give 'balanced' or {num_classes} comma-separated numbers"
        ) from None
    if len(weights) != num_classes or min(weights) < 0:
        raise ConfigError(
            f"--class-weights {spec!r}: need {num_classes} non-negative numbers (one per class, in label order), or 'balanced'"
        )
    return weights


def file_level_summary(path: Path, y_pred: np.ndarray, split: Any, names: list[str]) -> dict:
    """Majority vote of each recording's windows; writes one row per recording, returns the accuracy."""
    file_ids = getattr(split, "file_ids", None)
    if file_ids is None or len(file_ids) != len(y_pred):
        return {}
    files = list(getattr(split, "files", None) or [])
    rows, correct = [], 0
    for fid in np.unique(file_ids):
        sel = np.asarray(file_ids) == fid
        votes = np.bincount(y_pred[sel], minlength=len(names))
        true = int(np.bincount(np.asarray(split.y)[sel]).argmax())
        pred = int(votes.argmax())
        correct += pred == true
        rows.append(
            {
                "file": files[int(fid)] if int(fid) < len(files) else int(fid),
                "true": names[true],
                "predicted": names[pred],
                "windows": int(sel.sum()),
                "window_accuracy": float((y_pred[sel] == true).mean()),
                "correct": bool(pred == true),
            }
        )
    write_csv(path, rows)
    return {"files": len(rows), "accuracy": correct / len(rows) if rows else 0.0}
