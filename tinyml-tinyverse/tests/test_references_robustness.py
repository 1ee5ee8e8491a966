"""Robustness of the training references as a user meets it: clear errors instead of torch tracebacks."""

from __future__ import annotations

import pytest
from test_references_train import make_dataset, run_train
from tinyml_tinyverse.common.errors import ModelError


@pytest.fixture(scope="module")
def cls_data(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("robust_cls"), "classification")


def test_diverging_lr_names_the_cause_and_fix(cls_data, tmp_path):
    # a NaN loss used to train on and then fail at the ONNX check as "an op of the model exports wrongly"
    with pytest.raises(ModelError, match=r"training loss became nan in epoch 1.*lower --lr"):
        run_train(
            "classification", cls_data, tmp_path / "out", "--lr", "1e6", "--optimizer", "sgd", "--epochs", "1"
        )


def test_collapsed_training_is_called_out(cls_data, tmp_path):
    # lr 100 with Adam: finite losses, but the model ends up answering one class for everything
    summary = run_train("classification", cls_data, tmp_path / "out", "--lr", "100", "--epochs", "2")
    assert summary["val"]["accuracy"] <= 0.25 + 1e-9
    (warning,) = summary["warnings"]
    assert "no better than always answering the most common class" in warning and "learning rate" in warning


@pytest.mark.parametrize(
    "task, metrics, warns",
    [
        ("regression", {"r2": -0.02}, True),
        ("regression", {"r2": 0.6}, False),
        ("forecasting", {"r2": 0.0}, True),
        ("anomalydetection", {"roc_auc": 0.5}, True),
        ("anomalydetection", {"roc_auc": 0.9}, False),
        ("anomalydetection", {"roc_auc": float("nan")}, False),  # a test split without anomalies
    ],
)
def test_baseline_warning_of_each_task(task, metrics, warns):
    from tinyml_tinyverse.references.common.tasks import get_task

    assert (get_task(task).baseline_warning(metrics, None) is not None) == warns
