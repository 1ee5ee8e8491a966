"""Metrics in plain numpy, so the same code scores torch outputs, ONNX outputs and quantized outputs.

Classification: accuracy, confusion matrix, per-class precision / recall / F1, macro F1, ROC curves
and ROC-AUC (one-vs-rest). Regression: MAE, RMSE, R2. Forecasting: the same plus SMAPE per horizon
step. Anomaly detection: binary precision / recall / F1 at a reconstruction-error threshold and the
choice of that threshold.
"""

from __future__ import annotations

import numpy as np

# the figures shown in result tables and one-line summaries, in this order (those a task has)
HEADLINE_METRICS = (
    "accuracy",
    "f1_macro",
    "roc_auc",
    "mae",
    "rmse",
    "r2",
    "smape",
    "precision",
    "recall",
    "f1",
)

# -- classification ---------------------------------------------------------------------------------


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``(N, K)`` logits, computed stably in float64."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Fraction of equal labels (0.0 for empty input)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return float((y_true == y_pred).mean()) if y_true.size else 0.0


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """``(K, K)`` int64 counts; row = true class, column = predicted class."""
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)), 1)
    return cm


def precision_recall_f1(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-class precision, recall and F1 from a confusion matrix (0 where undefined)."""
    tp = np.diag(cm).astype(np.float64)
    predicted = cm.sum(axis=0).astype(np.float64)
    actual = cm.sum(axis=1).astype(np.float64)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return precision, recall, f1


def macro_f1(cm: np.ndarray) -> float:
    """Mean F1 over the classes present in the true labels."""
    _, _, f1 = precision_recall_f1(cm)
    present = cm.sum(axis=1) > 0
    return float(f1[present].mean()) if present.any() else 0.0


def roc_curve(y_true: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Binary ROC curve: ``fpr, tpr, thresholds`` with thresholds decreasing; ties form one point.

    ``y_true`` is 1 for the positive class. The first point is (0, 0) at threshold +inf.
    """
    y_true = np.asarray(y_true).astype(bool)
    scores = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-scores, kind="mergesort")
    scores, y_true = scores[order], y_true[order]
    last_of_tie = (
        np.r_[np.flatnonzero(np.diff(scores)), scores.size - 1] if scores.size else np.array([], int)
    )
    tps = np.cumsum(y_true)[last_of_tie]
    fps = (last_of_tie + 1) - tps
    pos, neg = y_true.sum(), (~y_true).sum()
    tpr = np.r_[0.0, tps / pos] if pos else np.zeros(tps.size + 1)
    fpr = np.r_[0.0, fps / neg] if neg else np.zeros(fps.size + 1)
    thresholds = np.r_[np.inf, scores[last_of_tie]]
    return fpr, tpr, thresholds


def roc_auc(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Area under the binary ROC curve; NaN when only one class is present."""
    y_true = np.asarray(y_true).astype(bool)
    if y_true.all() or not y_true.any():
        return float("nan")
    fpr, tpr, _ = roc_curve(y_true, scores)
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))


def per_class_roc(
    y_true: np.ndarray, probs: np.ndarray
) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """One-vs-rest ROC curve of every class that has both positives and negatives."""
    curves = {}
    for k in range(probs.shape[1]):
        positive = np.asarray(y_true) == k
        if positive.any() and not positive.all():
            curves[k] = roc_curve(positive, probs[:, k])
    return curves


def macro_roc_auc(y_true: np.ndarray, probs: np.ndarray) -> float:
    """Mean one-vs-rest ROC-AUC over the classes with both positives and negatives (NaN if none)."""
    aucs = [roc_auc(np.asarray(y_true) == k, probs[:, k]) for k in range(probs.shape[1])]
    aucs = [a for a in aucs if not np.isnan(a)]
    return float(np.mean(aucs)) if aucs else float("nan")


def classification_metrics(y_true: np.ndarray, logits: np.ndarray, num_classes: int) -> dict:
    """Every classification figure of ``(N, K)`` logits against int labels."""
    probs = softmax(logits)
    y_pred = probs.argmax(axis=1)
    cm = confusion_matrix(y_true, y_pred, num_classes)
    precision, recall, f1 = precision_recall_f1(cm)
    return {
        "accuracy": accuracy(y_true, y_pred),
        "f1_macro": macro_f1(cm),
        "roc_auc": macro_roc_auc(y_true, probs),
        "precision_per_class": precision.tolist(),
        "recall_per_class": recall.tolist(),
        "f1_per_class": f1.tolist(),
        "confusion_matrix": cm.tolist(),
    }


# -- regression and forecasting ---------------------------------------------------------------------


def mae(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean absolute error over all elements."""
    return float(np.mean(np.abs(np.asarray(y_pred, np.float64) - np.asarray(y_true, np.float64))))


def rmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Root mean squared error over all elements."""
    return float(np.sqrt(np.mean((np.asarray(y_pred, np.float64) - np.asarray(y_true, np.float64)) ** 2)))


def r2_score(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Coefficient of determination, averaged over output columns (uniform average)."""
    y_true = np.asarray(y_true, np.float64).reshape(len(y_true), -1)
    y_pred = np.asarray(y_pred, np.float64).reshape(len(y_pred), -1)
    ss_res = ((y_true - y_pred) ** 2).sum(axis=0)
    ss_tot = ((y_true - y_true.mean(axis=0)) ** 2).sum(axis=0)
    r2 = np.where(ss_tot > 0, 1.0 - ss_res / np.where(ss_tot > 0, ss_tot, 1.0), 0.0)
    return float(r2.mean())


def smape_per_step(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Symmetric MAPE in percent (0..200) per horizon step of ``(N, horizon, V)`` arrays."""
    y_true = np.asarray(y_true, np.float64)
    y_pred = np.asarray(y_pred, np.float64)
    denom = np.abs(y_true) + np.abs(y_pred)
    ratio = np.divide(2.0 * np.abs(y_pred - y_true), denom, out=np.zeros_like(denom), where=denom > 0)
    return 100.0 * ratio.mean(axis=tuple(i for i in range(ratio.ndim) if i != 1))


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    """MAE, RMSE and R2."""
    return {"mae": mae(y_true, y_pred), "rmse": rmse(y_true, y_pred), "r2": r2_score(y_true, y_pred)}


def forecasting_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    """MAE, RMSE, R2, mean SMAPE and SMAPE per horizon step of ``(N, horizon, V)`` arrays."""
    steps = smape_per_step(y_true, y_pred)
    return {
        **regression_metrics(y_true, y_pred),
        "smape": float(steps.mean()),
        "smape_per_step": steps.tolist(),
    }


# -- anomaly detection ------------------------------------------------------------------------------

THRESHOLD_KS = tuple(np.round(np.arange(0.0, 4.5 + 1e-9, 0.5), 2))


def reconstruction_errors(x: np.ndarray, x_hat: np.ndarray) -> np.ndarray:
    """Mean squared reconstruction error per sample."""
    diff = np.asarray(x_hat, np.float64) - np.asarray(x, np.float64)
    return (diff.reshape(len(diff), -1) ** 2).mean(axis=1)


def binary_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    """Accuracy, precision, recall and F1 of the positive class (1 = anomaly)."""
    y_true, y_pred = np.asarray(y_true).astype(bool), np.asarray(y_pred).astype(bool)
    tp = int((y_true & y_pred).sum())
    fp = int((~y_true & y_pred).sum())
    fn = int((y_true & ~y_pred).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "accuracy": accuracy(y_true, y_pred),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "false_positive_rate": fp / int((~y_true).sum()) if (~y_true).any() else 0.0,
    }


def threshold_table(
    errors: np.ndarray, y_true: np.ndarray, mean: float, std: float, ks=THRESHOLD_KS
) -> list[dict]:
    """Binary metrics at every threshold ``mean + k * std``."""
    rows = []
    for k in ks:
        threshold = mean + float(k) * std
        rows.append({"k": float(k), "threshold": threshold, **binary_metrics(y_true, errors > threshold)})
    return rows


def select_threshold(
    normal_errors: np.ndarray, errors: np.ndarray | None = None, y_true: np.ndarray | None = None
) -> dict:
    """Choose the anomaly threshold ``mean + k * std`` of the normal reconstruction errors.

    With labelled anomalies (``errors``, ``y_true`` holding both classes) ``k`` maximises Youden's J
    (recall - false-positive rate, blind to the class ratio of the split) over k = 0, 0.1, ..., 4.5
    (ties: the larger k, fewer false alarms); with normal data only, k = 3.
    """
    mean, std = float(np.mean(normal_errors)), float(np.std(normal_errors))
    k = 3.0
    if errors is not None and y_true is not None and 0 < int(np.sum(y_true)) < len(y_true):
        ks = np.round(np.arange(0.0, 4.5 + 1e-9, 0.1), 2)
        table = threshold_table(errors, y_true, mean, std, ks=ks)
        best = max(table, key=lambda row: (round(row["recall"] - row["false_positive_rate"], 12), row["k"]))
        k = best["k"]
    return {"threshold": mean + k * std, "k": k, "mean": mean, "std": std}
