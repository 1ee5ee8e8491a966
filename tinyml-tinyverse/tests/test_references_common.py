"""Unit tests of the pieces under references/common: metrics, schedules, checkpoints, helpers."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch
from scipy.stats import mannwhitneyu
from tinyml_tinyverse.common.errors import ConfigError, UnknownNameError
from tinyml_tinyverse.common.utils.py_utils import DictPlus
from tinyml_tinyverse.references.common import checkpoint, metrics
from tinyml_tinyverse.references.common.artifacts import write_model_aux_h
from tinyml_tinyverse.references.common.optim import build_optimizer, build_scheduler
from tinyml_tinyverse.references.common.tasks import class_weights, get_task
from tinyml_tinyverse.references.common.train_base import auto_batch_size, auto_workers

# -- metrics ----------------------------------------------------------------------------------------


def test_confusion_matrix_and_per_class_scores():
    y_true = np.array([0, 0, 0, 1, 1, 2])
    y_pred = np.array([0, 0, 1, 1, 2, 2])
    cm = metrics.confusion_matrix(y_true, y_pred, 3)
    assert cm.tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    p, r, f1 = metrics.precision_recall_f1(cm)
    np.testing.assert_allclose(p, [1.0, 0.5, 0.5])
    np.testing.assert_allclose(r, [2 / 3, 0.5, 1.0])
    np.testing.assert_allclose(f1, [0.8, 0.5, 2 / 3])
    assert metrics.macro_f1(cm) == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert metrics.accuracy(y_true, y_pred) == pytest.approx(4 / 6)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_roc_auc_equals_mann_whitney_statistic_with_ties(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 200)
    scores = np.round(rng.normal(size=200) + y, 1)  # rounding makes ties
    u = mannwhitneyu(scores[y == 1], scores[y == 0]).statistic
    assert metrics.roc_auc(y, scores) == pytest.approx(u / ((y == 1).sum() * (y == 0).sum()))
    fpr, tpr, thr = metrics.roc_curve(y, scores)
    assert fpr[0] == tpr[0] == 0 and fpr[-1] == tpr[-1] == 1 and np.all(np.diff(thr) < 0)
    assert math.isnan(metrics.roc_auc(np.ones(5), np.arange(5)))


def test_classification_metrics_from_logits():
    logits = np.array([[3.0, 0.0], [0.0, 2.0], [1.0, 0.0], [0.0, 1.0]])
    m = metrics.classification_metrics(np.array([0, 1, 1, 1]), logits, 2)
    assert m["accuracy"] == 0.75 and m["confusion_matrix"] == [[1, 0], [1, 2]]
    assert m["roc_auc"] == pytest.approx(1.0)  # scores still rank every positive above the negative
    np.testing.assert_allclose(metrics.softmax(logits).sum(axis=1), 1.0)


def test_regression_and_forecasting_metrics():
    y = np.array([[1.0], [2.0], [3.0], [4.0]])
    assert metrics.r2_score(y, y) == 1.0
    assert metrics.r2_score(y, np.full_like(y, 2.5)) == pytest.approx(0.0)
    pred = y + np.array([[1.0], [-1.0], [1.0], [-1.0]])
    assert metrics.mae(y, pred) == 1.0 and metrics.rmse(y, pred) == 1.0
    assert metrics.r2_score(y, pred) == pytest.approx(1 - 4 / 5)
    t = np.array([[[1.0], [2.0]], [[1.0], [4.0]]])  # (N=2, horizon=2, V=1)
    p = np.array([[[1.0], [2.0]], [[3.0], [4.0]]])
    np.testing.assert_allclose(
        metrics.smape_per_step(t, p), [50.0, 0.0]
    )  # 2*2/(1+3) = 100% on one of two windows
    assert metrics.forecasting_metrics(t, p)["smape"] == pytest.approx(25.0)


def test_anomaly_threshold_selection_and_table():
    rng = np.random.default_rng(0)
    normal = rng.normal(1.0, 0.1, 200)
    anomalies = rng.normal(2.0, 0.1, 50)
    errors = np.r_[normal, anomalies]
    labels = np.r_[np.zeros(200), np.ones(50)]
    chosen = metrics.select_threshold(normal, errors, labels)
    assert metrics.binary_metrics(labels, errors > chosen["threshold"])["f1"] > 0.97
    only_normal = metrics.select_threshold(normal)
    assert only_normal["k"] == 3.0 and only_normal["threshold"] == pytest.approx(
        normal.mean() + 3 * normal.std()
    )
    table = metrics.threshold_table(errors, labels, chosen["mean"], chosen["std"])
    assert [row["k"] for row in table] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5]
    recalls = [row["recall"] for row in table]
    assert recalls == sorted(recalls, reverse=True)  # a higher threshold never finds more anomalies


def test_class_weights():
    y = np.array([0, 0, 0, 1])
    w = class_weights("balanced", y, 2)
    assert w[1] / w[0] == pytest.approx(3.0) and np.mean(w) == pytest.approx(1.0)
    assert class_weights("1,2", y, 2) == [1.0, 2.0]
    assert class_weights(None, y, 2) is None
    with pytest.raises(ConfigError, match="2 comma-separated"):
        class_weights("1,x", y, 2)


def test_task_registry_suggests_close_names():
    assert get_task("classification").mode == "max"
    with pytest.raises(UnknownNameError, match="regression"):
        get_task("regresion")


# -- optimizers and schedules -----------------------------------------------------------------------


def test_warmup_then_cosine_schedule():
    model = torch.nn.Linear(2, 2)
    opt = build_optimizer("AdamW", model, lr=1.0, weight_decay=0.1)
    assert [g["weight_decay"] for g in opt.param_groups] == [0.1, 0.0]  # no decay on the bias
    sched = build_scheduler(opt, "cosine", epochs=4, steps_per_epoch=10, warmup_epochs=1)
    lrs = []
    for _ in range(40):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert (
        lrs[0] == pytest.approx(1 / 11) and lrs[9] == pytest.approx(10 / 11) and lrs[10] == pytest.approx(1.0)
    )
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    assert lrs[-1] == pytest.approx(0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * 29 / 30)))


def test_step_schedule_and_sgd():
    model = torch.nn.Linear(2, 2)
    opt = build_optimizer("sgd", model, lr=1.0, momentum=0.9)
    assert opt.param_groups[0]["momentum"] == 0.9
    sched = build_scheduler(opt, "step", epochs=6, steps_per_epoch=1, warmup_epochs=0)
    lrs = []
    for _ in range(6):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.01])


def test_batch_size_and_workers_fit_the_data():
    assert auto_batch_size(40) == 8
    assert auto_batch_size(5000) == 128
    assert auto_batch_size(10**6) == 256
    assert auto_workers(500) == 0 and auto_workers(500, requested=3) == 3


# -- checkpoints ------------------------------------------------------------------------------------


def test_rng_state_round_trip_through_weights_only_file(tmp_path):
    checkpoint.save_atomic({"rng": checkpoint.rng_state()}, tmp_path / "c.pt")
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    random.random(), np.random.rand(), torch.rand(3)  # move every generator on
    checkpoint.set_rng_state(checkpoint.load(tmp_path / "c.pt")["rng"])
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected


def test_failed_write_keeps_the_previous_file(tmp_path):
    path = tmp_path / "checkpoint.pt"
    checkpoint.save_atomic({"epoch": 1}, path)
    with pytest.raises(Exception):  # noqa: B017 - a lambda cannot be pickled
        checkpoint.save_atomic({"epoch": 2, "bad": lambda: 0}, path)
    assert checkpoint.load(path) == {"epoch": 1}
    assert not list(tmp_path.glob("*.tmp"))
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="junk.pt"):
        checkpoint.load(tmp_path / "junk.pt")


def test_plain_makes_configs_loadable_with_weights_only(tmp_path):
    spec = DictPlus()
    spec += {"conv": {"type": "Conv", "kernel_size": (5, 1), "scale": np.float32(0.5)}}
    checkpoint.save_atomic(
        {"model_kwargs": checkpoint.plain({"config": {"layers": spec}})}, tmp_path / "m.pt"
    )
    back = checkpoint.load(tmp_path / "m.pt")["model_kwargs"]["config"]["layers"]
    assert back == {"conv": {"type": "Conv", "kernel_size": (5, 1), "scale": 0.5}} and type(back) is dict


def test_model_aux_header_escapes_and_deduplicates(tmp_path):
    write_model_aux_h(tmp_path / "model_aux.h", ["a-b", "A B", 'q"x'], "classification")
    text = (tmp_path / "model_aux.h").read_text()
    assert "#define TINYML_MODEL_CLASS_A_B 0" in text and "#define TINYML_MODEL_CLASS_A_B_1 1" in text
    assert (
        '"q\\"x"' in text
        and '#define TINYML_MODEL_TASK "classification"' in text
        and "#define TINYML_MODEL_NUM_CLASSES 3" in text
    )


# -- standardized targets ---------------------------------------------------------------------------


def test_output_scale_folds_into_last_linear_and_falls_back_to_the_wrapper(tmp_path):
    from tinyml_tinyverse.references.common.output_scaling import (
        ScaledOutput,
        fold_output_scale,
        target_scale,
    )

    y = np.random.default_rng(0).normal([[50.0, -3.0]], [[10.0, 0.5]], size=(100, 2))
    mean, std = target_scale(y)
    np.testing.assert_allclose(mean, y.mean(0), rtol=1e-5) and np.testing.assert_allclose(
        std, y.std(0), rtol=1e-5
    )
    x = torch.randn(4, 3)
    wrapped = ScaledOutput(
        torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2)), mean, std
    )
    folded = fold_output_scale(wrapped, x)
    assert isinstance(folded, torch.nn.Sequential)  # the plain model again, no extra ops
    torch.testing.assert_close(folded(x), wrapped(x), rtol=1e-5, atol=1e-4)
    no_linear = ScaledOutput(torch.nn.Conv1d(3, 2, 1), mean.reshape(2, 1), std.reshape(2, 1))
    kept = fold_output_scale(no_linear, torch.randn(2, 3, 1))
    assert isinstance(kept, ScaledOutput)
    torch.testing.assert_close(kept(x[:2, :, None]), no_linear(x[:2, :, None]))


def test_the_int8_model_closer_to_the_float_one_is_kept():
    """QAT against PTQ: fidelity to the float model's outputs, no labels; a tie keeps QAT."""
    import types

    from tinyml_tinyverse.references.common.quantize import closest_to_float, fidelity
    from tinyml_tinyverse.references.common.tasks import get_task

    classification, regression = get_task("classification"), get_task("regression")
    ref = np.array([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0], [0.0, 2.0]])
    assert fidelity(classification, ref, ref * 0.5) == 1.0  # same classes, other scale
    assert fidelity(classification, ref, ref[:, ::-1]) == 0.0
    assert fidelity(regression, ref, ref) == 1.0 and fidelity(regression, ref, ref + 1.0) < 0.5

    class Shifted:  # an int8 model that runs the float model and moves one logit
        def __init__(self, shift):
            self.shift = shift

        def run_dequantized(self, x):
            return [model(torch.from_numpy(x)).detach().numpy() + self.shift]

    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(8, 2)).eval()
    x = np.random.default_rng(0).normal(size=(64, 1, 8, 1)).astype(np.float32)
    splits = {"train": types.SimpleNamespace(X=x), "val": types.SimpleNamespace(X=x[:8])}
    args = types.SimpleNamespace(seed=0)
    kept, scores = closest_to_float(
        args, classification, model, splits, {"QAT": Shifted([5.0, 0.0]), "PTQ": Shifted([0.0, 0.0])}, False
    )
    assert kept == "PTQ" and scores["PTQ"] == 1.0 > scores["QAT"]
    kept, _ = closest_to_float(
        args, classification, model, splits, {"QAT": Shifted(0.0), "PTQ": Shifted(0.0)}, True
    )
    assert kept == "QAT"
