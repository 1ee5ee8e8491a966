"""``memory_report.json``: RAM and flash of the compiled model, checked against ``size`` output.

Fields (bytes):
- ``ram.arena_bytes``: the static activation arena; ``ram.arena_lower_bound_bytes``: the largest
  total of intermediate tensors alive at one step (no plan can use less);
  ``ram.largest_layer_io_bytes``: the largest input + output of one layer (the model input
  included, which lives in the caller's buffer); ``ram.scratch_bytes``: the float
  wrapper's int8 buffers; ``ram.io_bytes``: the caller's input and output buffers.
- ``flash.weights_bytes``: all ``const`` arrays (weights, bias, multipliers, shifts, tables);
  ``flash.code_bytes``: the rest of ``.text + .data`` of the model object (code and layer
  parameter blocks), measured on the host or, where built, the Cortex-M object.
- ``macs``: multiply-accumulates per layer and in total.
- ``host_size`` / ``device_size``: ``size`` of ``tinyml_model.o`` for the host and, when
  ``arm-none-eabi-gcc`` is available for the target core, for the device.
- ``checks``: the measured sections must hold what the generator planned (``.bss`` >= arena +
  scratch, ``.text + .data`` >= weights).
"""

from __future__ import annotations

from ..errors import CompilationError
from .codegen_c import GeneratedModel
from .devices import Device


def build_memory_report(
    gm: GeneratedModel, host_size: dict, device: Device, device_size: dict | None, device_note: str | None
) -> dict:
    """The memory report of a generated model and its measured object sizes."""
    measured = device_size or host_size
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
        macs=dict(total=sum(layer["macs"] for layer in gm.layers), per_layer=gm.layers),
        host_size={k: int(host_size[k]) for k in ("text", "data", "bss")},
        device_size=None
        if device_size is None
        else {k: device_size[k] for k in ("text", "data", "bss", "flags")},
        device_size_note=device_note,
    )
    report["checks"] = dict(
        bss_holds_arena=int(host_size["bss"]) >= gm.arena_bytes + gm.scratch_bytes,
        flash_holds_weights=int(host_size["text"]) + int(host_size["data"]) >= gm.weights_bytes,
    )
    return report


def check_fit(report: dict, device: Device) -> None:
    """Raise :class:`CompilationError` naming both figures when the model exceeds the device's flash or RAM."""
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
