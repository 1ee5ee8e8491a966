"""The latency of one inference on the target, for ``memory_report.json`` (``latency``).

- Cortex-M parts (MSPM0, AM13, generic ``CORTEX_M*``): one inference of the real
  ``arm-none-eabi-gcc`` build runs under the instruction-set emulator
  (:mod:`.cortex_m_emulator`); the executed instructions are counted, the cycles estimated from
  the instruction mix, and the output bytes must equal the host build's (a mismatch fails the
  compile).
- C2000 parts (C28x): no emulator runs here; a clearly labelled model-based estimate from the
  layer sizes.

Every figure is an estimate and says how it was made (``method``); ``estimated_us`` is at the
device's CPU clock (``clock_mhz``, the part's maximum).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import CompilationError
from .cortex_m_emulator import emulate_inference, emulator_unavailable_reason, latency_method
from .devices import Device

# C28x model: cycles per multiply-accumulate of the C loops, per output value written, per layer.
# Assumed, not measured: int8 values are 16-bit words on C28x and the loops are compiled by TI's cl2000.
C28X_CYCLES_PER_MAC = 3.0
C28X_CYCLES_PER_OUTPUT = 20.0
C28X_CYCLES_PER_LAYER = 200.0


def _us(cycles: float, clock_mhz: float) -> float | None:
    return round(cycles / clock_mhz, 2) if clock_mhz else None


def c28x_estimate(gm, device: Device) -> dict:
    """A model-based estimate for a C2000 (C28x) part: no emulator runs here."""
    macs = sum(layer["macs"] for layer in gm.layers)
    outputs = sum(int(np.prod(layer["output_shape"])) for layer in gm.layers)
    cycles = int(
        macs * C28X_CYCLES_PER_MAC + outputs * C28X_CYCLES_PER_OUTPUT + len(gm.layers) * C28X_CYCLES_PER_LAYER
    )
    return dict(
        cortex_m_instructions=None,
        estimated_cycles=cycles,
        estimated_us=_us(cycles, device.clock_mhz),
        clock_mhz=device.clock_mhz,
        method=(
            f"model-based estimate for the {device.cpu} core, not measured (no C28x emulator here): "
            f"{C28X_CYCLES_PER_MAC:g} cycles per multiply-accumulate ({macs}), {C28X_CYCLES_PER_OUTPUT:g} per "
            f"output value ({outputs}) and {C28X_CYCLES_PER_LAYER:g} per layer ({len(gm.layers)}), assumed for "
            "TI cl2000 -O2 code; measure on the part for a real figure"
        ),
    )


def measure_latency(
    gm, device: Device, model_dir: Path, x: np.ndarray, host_output: np.ndarray, work: Path
) -> dict:
    """``latency`` of ``memory_report.json``: emulated on Cortex-M, modelled on C2000, else why not.

    ``x`` is one model input (int8 or float, as ``tinyml_model_run`` takes it) and ``host_output``
    the host build's output for it; the emulator must give the same bytes (float models: within
    1e-5 of the largest output, since the host and the FPU may contract differently).
    """
    if device.family == "C2000":
        return c28x_estimate(gm, device)
    reason = emulator_unavailable_reason(device)
    if reason:
        return dict(cortex_m_instructions=None, estimated_cycles=None, estimated_us=None,
                    clock_mhz=device.clock_mhz, method=f"not measured: {reason}")  # fmt: skip
    int8 = gm.precision == "int8"
    run = emulate_inference(model_dir, device, x, int8, gm.output_size, work)
    got = np.frombuffer(run.output, dtype=np.int8 if int8 else np.float32).astype(np.float64)
    want = np.asarray(host_output, dtype=np.float64).ravel()
    if int8:
        same = np.array_equal(got, want)
    else:
        same = float(np.abs(got - want).max(initial=0.0)) <= 1e-5 * max(
            float(np.abs(want).max(initial=0.0)), 1e-6
        )
    if run.status != 0 or not same:
        raise CompilationError(
            f"the {device.name} build of the model gives other outputs under the emulator than the host build "
            f"(status {run.status}; emulator {got.tolist()[:16]}, host {want.tolist()[:16]}); sources kept in {model_dir}"
        )
    return dict(
        cortex_m_instructions=run.instructions,
        estimated_cycles=run.estimated_cycles,
        estimated_us=_us(run.estimated_cycles, device.clock_mhz),
        clock_mhz=device.clock_mhz,
        method=latency_method(run, device),
        output_matches_host_build=True,
    )
