"""``memory_report.json``: RAM and flash of the compiled model, checked against ``size`` output.

Fields (bytes):
- ``ram.arena_bytes``: the static activation arena; ``ram.arena_lower_bound_bytes``: the liveness
  bound of the emitted schedule (the largest total of word-aligned buffers alive at one step,
  fused and in-place layers included, and for int8 models the float wrapper's int8 input and
  outputs, which live in the arena); no plan can use less, and the planner usually meets it;
  ``ram.largest_layer_io_bytes``: the largest input + output of one layer (the model input
  included); ``ram.scratch_bytes``: buffers outside the arena (0: the float wrapper's are in it);
  ``ram.io_bytes``: the caller's input and output buffers.
- ``flash.weights_bytes``: all ``const`` arrays (weights, bias, multipliers, shifts, tables);
  ``flash.code_bytes``: the rest of ``.text + .data`` of the model object (code and layer
  parameter blocks), measured on the host or, where built, the Cortex-M object.
- ``macs``: multiply-accumulates per layer and in total.
- ``host_size`` / ``device_size``: ``size`` of ``tinyml_model.o`` for the host and, when
  ``arm-none-eabi-gcc`` is available for the target core, for the device.
- ``checks``: the measured sections must hold what the generator planned (``.bss`` >= arena +
  scratch, ``.text + .data`` >= weights).
- ``accelerator``: what runs the model: the CPU (no NPU instructions are emitted; for NPU parts the
  model follows the NPU's rules, so it is ready for the NPU, not run on it).
- ``c28x`` (C2000 parts): the figures in 16-bit words, the unit of the C28x (``int8_t`` is a 16-bit
  ``int_least8_t`` there); sizes otherwise come from the host build and say so.
- ``latency`` (added by ``compile_model``, see ``latency.py``): instructions, estimated cycles and
  microseconds of one inference on the target's instruction set, and how they were made.
"""

from __future__ import annotations

from ..errors import CompilationError
from .codegen_c import GeneratedModel
from .devices import NPU_NOTE, Device


def build_memory_report(
    gm: GeneratedModel,
    host_size: dict | None,
    device: Device,
    device_size: dict | None,
    device_note: str | None,
) -> dict:
    """The memory report of a generated model and its measured object sizes (``host_size`` None: the
    host object was not built; the checks then hold on the device object)."""
    measured = device_size or host_size
    assert measured is not None, "build_memory_report needs the host or the device object's sizes"
    flash_measured = int(measured["text"]) + int(measured["data"])
    io = dict(input=gm.input_size * gm.elem_bytes, output=gm.output_size * gm.elem_bytes)
    ram_static = int(measured["data"]) + int(measured["bss"])
    report = dict(
        precision=gm.precision,
        target_device=device.name,
        ram=dict(
            arena_bytes=gm.arena_bytes,
            arena_lower_bound_bytes=gm.arena_lower_bound_bytes,
            largest_layer_io_bytes=gm.largest_layer_io_bytes,
            scratch_bytes=gm.scratch_bytes,
            io_bytes=io,
            static_bytes_measured=ram_static,
            total_bytes=ram_static + io["input"] + io["output"],
        ),
        flash=dict(
            weights_bytes=gm.weights_bytes,
            code_bytes=max(0, flash_measured - gm.weights_bytes),
            total_bytes=flash_measured,
            measured_on="device" if device_size else "host",
        ),
        accelerator=accelerator_note(device),
        macs=dict(total=sum(layer["macs"] for layer in gm.layers), per_layer=gm.layers),
        host_size=None if host_size is None else {k: int(host_size[k]) for k in ("text", "data", "bss")},
        device_size=None
        if device_size is None
        else {k: device_size[k] for k in ("text", "data", "bss", "flags")},
        device_size_note=device_note,
    )
    if device.family == "C2000":
        report["c28x"] = c28x_words(gm)
        report["flash"]["measured_on"] = "host (x86-64 object; the C28x build needs TI's compiler)"
    checked = host_size or measured
    report["checks"] = dict(
        bss_holds_arena=int(checked["bss"]) >= gm.arena_bytes + gm.scratch_bytes,
        flash_holds_weights=int(checked["text"]) + int(checked["data"]) >= gm.weights_bytes,
    )
    return report


_C28X_WORDS = {"int8_t": 1, "uint8_t": 1, "int16_t": 1, "int32_t": 2, "float": 2}


def c28x_words(gm: GeneratedModel) -> dict:
    """Data figures of the model on a C28x core, in 16-bit words (its smallest addressable unit)."""
    weights = sum(_C28X_WORDS[t] * n for t, n in gm.const_elements.items())
    per_value = 1 if gm.precision == "int8" else 2
    arena_values = gm.arena_bytes // gm.elem_bytes
    return dict(
        unit="16-bit words",
        weights_words=weights,
        arena_words=arena_values * per_value,
        io_words=dict(input=gm.input_size * per_value, output=gm.output_size * per_value),
        note="int8_t is int_least8_t (one 16-bit word) on C28x; code size is not measured here (needs TI's cl2000)",
    )


def accelerator_note(device: Device) -> str:
    if device.has_npu:
        return f"CPU ({device.cpu}) of {device.name}. {NPU_NOTE}"
    return f"CPU ({device.cpu})"


def target_notes(device: Device) -> list[str]:
    """Honest labels for the compile report."""
    notes = []
    if device.has_npu:
        notes.append(accelerator_note(device))
    if device.family == "C2000":
        notes.append(
            "C2000: sizes are host-measured (x86-64 object) and the C28x figures of memory_report.json (c28x) are "
            "in 16-bit words; the latency is a model-based estimate, not a measurement"
        )
    return notes


def fit_problems(report: dict, device: Device) -> list[str]:
    """What of the model's flash and RAM does not fit ``device`` (empty: it fits)."""
    problems = []
    flash = report["flash"]
    if flash["total_bytes"] > device.flash_bytes:
        problems.append(
            f"flash: the model needs {flash['total_bytes']} bytes ({flash['weights_bytes']} weights + "
            f"{flash['code_bytes']} code) but {device.name} has {device.flash_bytes} bytes"
        )
    ram = report["ram"]
    if ram["total_bytes"] > device.ram_bytes:
        problems.append(
            f"RAM: the model needs {ram['total_bytes']} bytes (arena {ram['arena_bytes']}, scratch "
            f"{ram['scratch_bytes']}, input/output {ram['io_bytes']['input'] + ram['io_bytes']['output']}) "
            f"but {device.name} has {device.ram_bytes} bytes"
        )
    return problems


def check_fit(report: dict, device: Device) -> None:
    """Raise :class:`CompilationError` naming both figures when the model exceeds the device's flash or RAM."""
    problems = fit_problems(report, device)
    if problems:
        raise CompilationError(
            f"the model does not fit {device.name}: " + "; ".join(problems) + ". " + _fit_hint(report)
        )


def _fit_hint(report: dict) -> str:
    """What could still make it fit, given how the model is already stored."""
    hint = "Choose a smaller model or a larger target_device"
    quant = report.get("quantization")
    if not quant:
        return hint + ", or quantize it (training.quantization: 1 or 2; int8 needs a quarter of the bytes)"
    if quant.get("weight_bitwidth", 8) == 8 and quant.get("mode") == 2:
        return hint + (
            ", or pack the weights into 4 or 2 bits (training.quantization_weight_bitwidth: 4, "
            "compilation.preset_name: compress_npu_layer_data)"
        )
    return hint
