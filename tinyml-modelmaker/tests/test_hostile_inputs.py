"""Hostile inputs of issue 10 through the public CLI, each in its own process with a timeout and a
memory limit: every one must end in a clear one-line error (naming the file / line / key / limit) or a
correct result. The inputs and the classification are those of ``benchmarks/hostile_inputs.py``, which
runs the whole battery (ONNX importer cases included) and prints the counts.
"""

from __future__ import annotations

import importlib.util
import sys

import pytest
from conftest import REPO_ROOT

_spec = importlib.util.spec_from_file_location(
    "hostile_inputs", REPO_ROOT / "benchmarks" / "hostile_inputs.py"
)
battery = importlib.util.module_from_spec(_spec)
sys.modules["hostile_inputs"] = battery
_spec.loader.exec_module(battery)

ISSUE_CASES = [
    # YAML: size, nesting, aliases, encoding, duplicate keys; every YAML the user hands us
    "yaml_huge_value",
    "yaml_deep_nesting",
    "yaml_alias_bomb",
    "config_is_dev_zero",
    "yaml_non_utf8",
    "yaml_duplicate_model_name",
    "yaml_duplicate_section",
    "model_config_duplicate_key",
    "model_config_huge",
    "model_config_wrong_variables",
    "augmenter_config_deep",
    "spec_yaml_duplicate_layer",
    # data
    "data_dev_zero",
    "data_fifo",
    "data_classes_differ_in_case",
    "data_symlink_outside",
    "data_symlink_class_folder_outside",
    "data_symlink_inside",
    "generated_data_concurrent",
    "class_folder_with_newline",
    # archives
    "zip_bomb",
    "zip_lying_header",
    # models that do not fit, damaged checkpoints
    "compile_weights_too_large",
    "compile_input_too_large",
    "compile_dim_2_pow_31",
    "checkpoint_random_bytes",
    "checkpoint_truncated",
    # malformed ONNX models, compile only (the fuzz: tinyml-tinyverse/tests/test_onnx_fuzz.py)
    "onnx_zero_bytes",
    "onnx_dangling_input",
    "onnx_wrong_attribute_length",
    "onnx_recursive_function",
    "onnx_zero_dimension",
    "onnx_no_nodes",
    "onnx_int64_input",
    "onnx_unknown_op",
    "onnx_cycle",
    "onnx_nan_weight",
    "onnx_external_data_outside",
    "onnx_auto_pad_and_pads",
    "onnx_float32_overflow",
]
CASES = {c.name: c for c in battery.CASES}
TIMEOUT_S = 120  # a hang counts as a failure; the slowest case here (generation in two processes) takes ~15 s


@pytest.mark.parametrize("name", ISSUE_CASES)
def test_hostile_input_gets_a_clear_answer(name):
    case = CASES[name]
    outcome, message, _, output = battery.run_case(case, timeout=TIMEOUT_S, mem_gb=6)
    assert outcome in ("clear", "correct"), f"{name}: {outcome}: {message}\n{output[-3000:]}"
    assert "Traceback" not in output


def test_hostile_class_names_compile_and_read_back():
    """Class folders named with quotes, a backslash, a ??= trigraph, 'names', a leading digit, non-ASCII and
    a tab: a short training and the compile stage (-std=c99 -Werror) pass, and model_aux.h gives the names
    back byte for byte."""
    outcome, message, _, output = battery.run_case(CASES["c_hostile_class_names"], timeout=600, mem_gb=6)
    assert outcome == "correct", f"{outcome}: {message}\n{output[-3000:]}"


def test_battery_classifies_a_traceback_and_a_hang(tmp_path):
    """The battery itself: a traceback, a hang and a silent success where an error was due are told apart."""
    py = sys.executable
    case = battery.Case("probe", "probe", lambda tmp: None, "error", match="x")
    run = battery._run([[py, "-c", "raise KeyError('k')"]], tmp_path, 30, 6)
    assert battery.classify(case, run, None)[0] == "traceback"
    run = battery._run([[py, "-c", "import time; time.sleep(30)"]], tmp_path, 1, 6)
    assert battery.classify(case, run, None)[0] == "hang"
    run = battery._run([[py, "-c", "pass"]], tmp_path, 30, 6)
    assert battery.classify(case, run, None)[0] == "silent-wrong"
    run = battery._run(
        [[py, "-c", "import sys; print('ERROR: x is wrong', file=sys.stderr); sys.exit(2)"]], tmp_path, 30, 6
    )
    assert battery.classify(case, run, None)[0] == "clear"
