"""``plan_model`` (the generated C and its one object, no harness) gives the figures ``compile_model``
reports: flash, RAM, MACs and latency, for int8, packed 4-bit and float models, on a Cortex-M part
(target object and emulator) and a C2000 part (host object, model-based latency)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tinyml_tinyverse.common.compilation import compile_model
from tinyml_tinyverse.common.compilation.plan import LATENCY_JOB, plan_latency, plan_model
from tinyml_tinyverse.common.models import get_model
from tinyml_tinyverse.common.quantization import quantize_onnx

CASES = [  # model, quantization mode (0: float), weight bits, preset, target
    ("CLS_1k_NPU", 2, 8, "default_preset", "MSPM0G3507"),
    ("CLS_4k_NPU", 2, 4, "compress_npu_layer_data", "MSPM0G3507"),
    ("CLS_1k", 1, 8, "default_preset", "F28P65"),
    ("CLS_500_NPU", 0, 8, "default_preset", "CORTEX_M4F"),
]


def _model(tmp_path, name: str, mode: int, bits: int):
    torch.manual_seed(0)
    model = get_model(name).eval()
    shape = tuple(model.input_shape)
    path = tmp_path / "model.onnx"
    torch.onnx.export(model, (torch.randn(1, *shape),), str(path), dynamo=False)
    x = np.random.default_rng(0).standard_normal((16, *shape)).astype(np.float32)
    return (quantize_onnx(path, x, mode=mode, weight_bitwidth=bits) if mode else str(path)), x


@pytest.mark.parametrize("name,mode,bits,preset,target", CASES)
def test_plan_gives_the_figures_of_the_full_compile(tmp_path, name, mode, bits, preset, target):
    model, x = _model(tmp_path, name, mode, bits)
    full = compile_model(model, tmp_path / "full", target_device=target, test_vectors={"x": x[:2]},
                         preset_name=preset, quantization=None if mode else 0).memory  # fmt: skip
    plan = plan_model(model, tmp_path / "plan", target_device=target, x=x[:2], preset_name=preset)
    for key in ("flash", "ram", "macs", "device_size", "latency", "quantization", "precision"):
        assert plan.get(key) == full.get(key), key
    assert full["latency"]["estimated_us"] > 0
    assert plan["checks"] == {"bss_holds_arena": True, "flash_holds_weights": True}


def test_deferred_latency_is_the_same(tmp_path):
    model, x = _model(tmp_path, "CLS_1k_NPU", 2, 8)
    now = plan_model(model, tmp_path / "now", target_device="MSPM0G3507", x=x[:2])
    later = plan_model(model, tmp_path / "later", target_device="MSPM0G3507", x=x[:2], latency=False)
    assert (
        "latency" not in later and later["latency_pending"] and (tmp_path / "later" / LATENCY_JOB).is_file()
    )
    assert plan_latency(tmp_path / "later", "MSPM0G3507") == now["latency"]
    assert {k: v for k, v in later.items() if k != "latency_pending"} == {
        k: v for k, v in now.items() if k != "latency"
    }
    # over the given flash budget: no latency, nothing deferred
    small = plan_model(
        model, tmp_path / "small", target_device="MSPM0G3507", x=x[:2], latency_within=(100, 10**6)
    )
    assert "latency" not in small and "latency_pending" not in small
