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
