"""quantization_weight_bitwidth: auto and quantization_accuracy_budget through a whole run: each layer gets
8 or 4-bit weights, the memory report shows them, the C is bit-exact, the run prints float vs int8 per class."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from conftest import write_yaml
from tinyml_modelmaker.run_tinyml_modelmaker import main


def test_auto_weight_widths_run_is_bit_exact_and_reports_each_layer(tmp_path, capsys):
    cfg = {
        "common": {"task_type": "generic_timeseries_classification", "target_device": "MSPM0G3507",
                   "projects_path": str(tmp_path / "projects"), "run_name": "run1"},
        "dataset": {"dataset_name": "motor", "input_data_path": "generated://motor_fault",
                    "generator_config": {"files_per_class": 4, "length": 4096}},
        "data_processing_feature_extraction": {"feature_extraction_name": "Generic_256Input_FFTBIN_16Feature_8Frame",
                                               "variables": 3},
        "training": {"model_name": "CLS_1k_NPU", "training_epochs": 2, "quantization": 2, "quantization_method": "PTQ",
                     "quantization_weight_bitwidth": "auto", "quantization_accuracy_budget": 0.05},
        "testing": {"enable": False},
        "compilation": {"preset_name": "compress_npu_layer_data"},
    }  # fmt: skip
    assert main([str(write_yaml(tmp_path / "auto.yaml", cfg))]) == 0
    out = capsys.readouterr().out
    assert "weight widths chosen by sensitivity (budget 0.05)" in out
    assert "float against int8 on the validation split" in out and "int8 recall" in out
    root = Path(cfg["common"]["projects_path"]) / "motor" / "run" / "run1"
    memory = json.loads((root / "compilation" / "memory_report.json").read_text())
    layer_bits = memory["quantization"]["layer_bits"]
    assert len(layer_bits) == 4 and set(layer_bits.values()) <= {4, 8}
    summary = yaml.safe_load((root / "run_summary.yaml").read_text())
    quant = summary["training"]["quantization"]
    assert quant["layer_bits"] == layer_bits and quant["accuracy_budget"]["budget"] == 0.05
    assert quant["accuracy_budget"]["float"] - quant["accuracy_budget"]["int8"] <= 0.05
    assert {r["class"] for r in quant["per_class"]} == set(summary["training"]["class_names"])
    compiled = summary["compilation"]
    assert compiled["passed"] and compiled["max_abs_diff"] == 0  # host and emulated Cortex-M0+ builds
