"""Bring your own model: a GenericModelWithSpec registered at run time, overridden by model_config,
trained, quantized for the NPU and compiled through the modelmaker's Python entry point."""

from __future__ import annotations

import pytest
from test_end_to_end import make_config, run_dir
from tinyml_modelmaker import run_project
from tinyml_tinyverse.common.models import MODEL_REGISTRY
from tinyml_tinyverse.common.models.generic_model_spec import GenericModelWithSpec
from tinyml_tinyverse.common.utils.py_utils import DictPlus


class CLS_TEST_OWN_NPU(GenericModelWithSpec):
    """A tiny NPU classifier written the way docs/adding_custom_models.md shows."""

    task = "classification"

    def __init__(self, config, input_features=128, variables=1, num_classes=2, width=4):
        self.width = width
        super().__init__(config, input_features=input_features, variables=variables, num_classes=num_classes)
        self._init_model_from_spec()

    def gen_model_spec(self):
        layers = DictPlus()
        layers += {"conv1": dict(type="ConvBNReLULayer", out_channels=self.width, kernel_size=(5, 1))}
        layers += {"pool1": dict(type="MaxPoolLayer", kernel_size=(2, 1))}
        layers += {"conv2": dict(type="ConvBNReLULayer", out_channels=2 * self.width, kernel_size=(3, 1))}
        layers += {"pool2": dict(type="MaxPoolLayer", kernel_size=(2, 1))}
        layers += {"flatten": dict(type="ReshapeLayer", ndim=2)}
        layers += {"fc": dict(type="LinearLayer", out_features=self.num_classes)}
        return dict(model_spec=layers)


@pytest.fixture
def registered():
    MODEL_REGISTRY.register("CLS_TEST_OWN_NPU", CLS_TEST_OWN_NPU)
    yield
    dict.pop(MODEL_REGISTRY, "CLS_TEST_OWN_NPU", None)


def test_own_model_end_to_end(registered, tmp_path):
    cfg = make_config(tmp_path, "classification", quantization=2, quantization_method="PTQ")
    cfg["data_processing_feature_extraction"]["variables"] = 1
    cfg["training"].update(model_name="CLS_TEST_OWN_NPU", model_config={"width": 8})
    cfg["compilation"]["enable"] = True
    summary = run_project(cfg)
    assert summary["stages"]["compilation"]["status"] == "done"
    assert summary["compilation"]["passed"] is True and summary["compilation"]["npu_check"] == "passed"
    # width 8 from model_config: conv1 1->8 (k5, no bias) + BN, conv2 8->16 (k3) + BN, fc 16*32 -> 4 outputs
    # (the pre-training check builds the model with a placeholder of 4 classes)
    expected = 5 * 8 + 2 * 8 + 8 * 16 * 3 + 2 * 16 + (16 * 32 * 4 + 4)
    assert summary["model_check"]["parameters"] == expected
    assert (run_dir(cfg) / "training" / "model_config.yaml").is_file()
