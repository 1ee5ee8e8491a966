"""The Cortex-M emulator counts executed blocks and costs them once at the end: the instructions,
cycles and instruction mix equal the straightforward sum over every executed block in order (the
accounting it replaced), on real images of an int8 model (ARMv6-M and ARMv7-M timings) and a float
model."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from test_compile_plan import _model as quantized_model
from tinyml_tinyverse.common.compilation import cortex_m_emulator as emu
from tinyml_tinyverse.common.compilation.plan import plan_model

pytestmark = pytest.mark.skipif(
    emu.emulator_unavailable_reason("CORTEX_M4F") is not None,
    reason=str(emu.emulator_unavailable_reason("CORTEX_M4F")),
)


def _sequential(program: emu._Program, blocks: list[tuple[int, int]]) -> tuple[int, int, dict]:
    """Instructions, cycles and mix summed block by block in execution order."""
    n, cycles, pending, mix = 0, 0, None, {}
    for addr, size in blocks:
        if pending is not None and addr == pending:  # the previous conditional branch fell through
            cycles -= program.timing.branch_refill
        count, cost, cond, block_mix = program.block(addr, size)
        n += count
        cycles += cost
        pending = addr + size if cond else None
        for k, v in block_mix.items():
            mix[k] = mix.get(k, 0) + v
    return n, cycles, mix


@pytest.mark.parametrize(
    "name,mode,target",
    [("CLS_1k_NPU", 2, "MSPM0G3507"), ("CLS_1k", 1, "CORTEX_M4F"), ("CLS_500_NPU", 0, "CORTEX_M4F")],
)
def test_block_counts_give_the_sequential_sum(tmp_path, monkeypatch, name, mode, target):
    import unicorn

    compiled, x = quantized_model(tmp_path, name, mode, 8)
    plan_model(compiled, tmp_path / "plan", target_device=target, x=x[:1], latency=False)
    job = np.load(tmp_path / "plan" / "latency_job.npz")
    device = emu.get_device(target)
    int8 = str(job["precision"]) == "int8"
    elf, flags = emu.build_image(tmp_path / "plan" / "sources", device, job["x"], int8, tmp_path / "emu")

    executed: list[tuple[int, int]] = []
    add = unicorn.Uc.hook_add

    def recording_hook_add(self, kind, callback, *args, **kwargs):  # every block the emulator runs, in order
        def both(uc, addr, size, data):
            executed.append((addr, size))
            return callback(uc, addr, size, data)

        return add(self, kind, both, *args, **kwargs)

    monkeypatch.setattr(unicorn.Uc, "hook_add", recording_hook_add)
    run = emu.run_image(elf, device, int(job["output_size"]) * (1 if int8 else 4), flags)
    n, cycles, mix = _sequential(emu._Program(elf, emu.core_timing(device.cpu)), executed)
    assert len(executed) > 100
    assert (run.instructions, run.estimated_cycles, run.mix) == (n, cycles, mix)
    assert list(run.mix) == list(mix)  # the same order of classes as well
    _check_image_as_built_in_steps(tmp_path, elf, flags)


def _check_image_as_built_in_steps(tmp_path, elf, flags):
    """The image of one compiler call is the one of compiling the model and ``main`` to objects and
    linking them with the start-up; the bytes the emulator loads are what ``objcopy -O binary`` writes."""
    import subprocess

    from tinyml_tinyverse.common.compilation.elf_symbols import flat_image

    gcc, work, sources = shutil.which("arm-none-eabi-gcc"), tmp_path / "emu", tmp_path / "plan" / "sources"
    objects = []
    for src in (sources / "tinyml_model.c", work / "emu_main.c"):
        objects.append(str(tmp_path / (src.stem + "_step.o")))
        subprocess.run([gcc, *flags, f"-I{sources}", "-c", str(src), "-o", objects[-1]], check=True)
    core = [f for f in flags if f.startswith(("-m", "-f")) and "sections" not in f]
    stepwise = tmp_path / "stepwise.elf"
    subprocess.run([gcc, *core, "-nostartfiles", "-T", str(work / "cortex_m.ld"), "-Wl,--gc-sections", *objects,
                    str(work / "cortex_m_startup.o"), "-o", str(stepwise), "-lm", "-lc", "-lgcc"], check=True)  # fmt: skip
    assert stepwise.read_bytes() == elf.read_bytes()
    binary = tmp_path / "image.bin"
    subprocess.run([shutil.which("arm-none-eabi-objcopy"), "-O", "binary", str(elf), str(binary)], check=True)
    assert flat_image(elf) == binary.read_bytes()
