"""``plan_model``: the memory report of a model without the verification harness.

``compile_model`` proves the generated C bit-exact by building and running a host harness over test
vectors; its flash and RAM figures come from elsewhere: the generator's plan (arena from the
schedule, weights) and the section sizes of ``tinyml_model.c`` built alone for the target (the host
where no target compiler is installed). ``plan_model`` does only that part: it generates the C,
builds that one object and returns the same ``memory_report.json`` fields (``flash``, ``ram``,
``macs``, ``quantization``; ``checks`` on the measured object), and, when asked and the model fits
the device, the same ``latency`` (one inference under the emulator, its output compared with the
integer reference the harness is checked against). For sizing many candidates, as the model search
does; a model that is to be deployed goes through ``compile_model``. The emulator is the slow part:
``latency=False`` leaves its input in ``out_dir`` so that :func:`plan_latency` can run it later.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from ..quantization.quantized_graph import QuantizedGraph
from .codegen_c import generate
from .compile import _npu_check, _resolve_model, _test_inputs, harness_io, model_memory, quantization_record
from .cortex_m_emulator import emulator_unavailable_reason
from .devices import get_device
from .fit_check import check_model_fits
from .latency import measure_latency
from .memory_report import fit_problems
from .presets import PRESET_REGISTRY

LATENCY_JOB = "latency_job.npz"  # the emulator's input and the reference output, for plan_latency


@dataclass(frozen=True)
class _Outputs:
    """What ``measure_latency`` reads of a generated model on a Cortex-M part."""

    precision: str
    output_size: int


def plan_model(
    model: str | Path | onnx.ModelProto | QuantizedGraph,
    out_dir: str | Path,
    *,
    target_device: str,
    preset_name: str = "default_preset",
    x: np.ndarray | None = None,
    latency: bool = True,
    latency_within: tuple[int, int] | None = None,
) -> dict:
    """The ``memory_report.json`` dict ``compile_model`` would write for ``model`` (see the module doc).

    ``model`` is compiled as given (a QDQ ONNX model or a QuantizedGraph stays as quantized; a float
    model stays float). ``x``: model inputs; the first is the one the latency is measured on, as
    ``compile_model`` measures it on the first of its ``test_vectors``. ``latency=False`` skips the
    emulator (``latency`` is then absent), as does a model over the device's flash or RAM, or over
    ``latency_within`` (flash, RAM bytes: a tighter budget, such as a search's). The C is written to ``out_dir`` (``tinyml_model.c`` and
    its object); nothing is verified against the reference, so a generator bug is not caught here.
    """
    from ..errors import ConfigError

    device = get_device(target_device)
    if preset_name not in PRESET_REGISTRY:
        raise ConfigError(f"unknown preset_name {preset_name!r}; choose one of {', '.join(PRESET_REGISTRY)}")
    out_dir = Path(out_dir)
    check_model_fits(model, device, quantization=None, calibrated=False)
    resolved, proto = _resolve_model(model, None, None, 8)
    _npu_check(proto, device, resolved)
    gm = generate(resolved, pack_sub_byte=preset_name == "compress_npu_layer_data")
    src_dir, build = out_dir / "sources", out_dir / "build"
    src_dir.mkdir(parents=True, exist_ok=True)
    (src_dir / "tinyml_model.h").write_text(gm.header)
    (src_dir / "tinyml_model.c").write_text(gm.source)
    memory = model_memory(gm, resolved.name, device, src_dir, build, host_object=False)
    int8 = isinstance(resolved, QuantizedGraph)
    within = latency_within is None or (
        memory["flash"]["total_bytes"] <= latency_within[0]
        and memory["ram"]["total_bytes"] <= latency_within[1]
    )
    if within and not fit_problems(memory, device):
        xs = _test_inputs(resolved, None if x is None else {"x": x}, None)[0]
        inputs, expected = harness_io(resolved, xs[:1])
        if device.family == "C2000" or emulator_unavailable_reason(device):  # no emulator run: at once
            memory["latency"] = measure_latency(
                gm, device, src_dir, inputs[0], expected[0], build / "emulator"
            )
        else:
            np.savez(out_dir / LATENCY_JOB, x=inputs[0], expected=expected[0], precision=gm.precision,
                     output_size=gm.output_size)  # fmt: skip
            if latency:
                memory["latency"] = plan_latency(out_dir, device.name)
            else:
                memory["latency_pending"] = True
    if int8:
        memory["quantization"] = quantization_record(resolved, preset_name)
    return memory


def plan_latency(out_dir: str | Path, target_device: str) -> dict:
    """The ``latency`` of a model :func:`plan_model` wrote to ``out_dir`` with ``latency=False``: one
    inference of its Cortex-M build under the emulator (see ``latency.py``)."""
    out_dir = Path(out_dir)
    with np.load(out_dir / LATENCY_JOB) as job:
        outputs = _Outputs(str(job["precision"]), int(job["output_size"]))
        x, expected = job["x"], job["expected"]
    return measure_latency(outputs, get_device(target_device), out_dir / "sources", x, expected,
                           out_dir / "build" / "emulator")  # fmt: skip
