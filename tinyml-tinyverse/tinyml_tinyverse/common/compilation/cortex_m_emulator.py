"""One inference of the generated C on a Cortex-M core, run under an instruction-set emulator.

The model (``tinyml_model.c``), a ``main()`` that runs one test vector, and a minimal bare-metal
start-up (``c_templates/cortex_m_startup.c``, ``c_templates/cortex_m.ld``: vector table, ``.data``
copy, ``.bss`` clear, FPU enable) are built with ``arm-none-eabi-gcc`` for the device's core and
linked with newlib and libgcc. The image is loaded into the ``unicorn`` emulator (flash at 0, RAM at
``0x20000000``, sized like the device) and run from its reset vector; every instruction executed
between ``tm_emu_begin()`` and ``tm_emu_end()`` (one call of ``tinyml_model_run``) is counted, and
the output bytes are read back from RAM so they can be compared with the host build's.

Cycles are an estimate from the executed instruction mix with the core's published instruction
timings (loads 2 cycles or 1 when pipelined behind another memory access, taken branches with a
pipeline refill, one-cycle multiplies on cores with a single-cycle multiplier): zero-wait-state
memory, no caches, no bus contention, no interrupts. Cortex-M7 and M33 are costed with the M4
table (the M7's dual issue is not modelled, so its figure is an upper estimate).
"""

from __future__ import annotations

import bisect
import logging
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from string import Template

import numpy as np

from ..errors import CompilationError
from .devices import Device, get_device
from .elf_symbols import flat_image, symbol_addresses
from .toolchain import ARM_GCC, _run_compiler

logger = logging.getLogger(__name__)

FLASH_BASE = 0x00000000
RAM_BASE = 0x20000000
SCS_BASE = 0xE000E000  # system control space: the start-up writes CPACR there
EMULATOR_OPT = "-O2"
MAX_INSTRUCTIONS = 2_000_000_000
TIMEOUT_S = 600

# the emulator's Cortex-M7 has no double-precision FPU: its image uses the single-precision variant
# (the same code for int8 models; a float model's double arithmetic, e.g. inside libm, runs in software)
EMULATOR_FLAG_SUBSTITUTES = {"-mfpu=fpv5-d16": "-mfpu=fpv5-sp-d16"}

# device cpu -> unicorn CPU model name (unicorn has no M0+; the M0 runs the same ARMv6-M code)
_UNICORN_CPU = {
    "cortex-m0plus": "UC_CPU_ARM_CORTEX_M0",
    "cortex-m0": "UC_CPU_ARM_CORTEX_M0",
    "cortex-m3": "UC_CPU_ARM_CORTEX_M3",
    "cortex-m4": "UC_CPU_ARM_CORTEX_M4",
    "cortex-m7": "UC_CPU_ARM_CORTEX_M7",
    "cortex-m33": "UC_CPU_ARM_CORTEX_M33",
}


@dataclass(frozen=True)
class CoreTiming:
    """Published per-instruction cycle counts of a Cortex-M pipeline (the common cases)."""

    name: str
    alu: int = 1
    mul: int = 1
    div: int = 7  # SDIV/UDIV take 2..12 cycles
    load: int = 2
    load_pipelined: int = 1  # a load or store right after another memory access
    store: int = 2
    branch_refill: int = 2  # extra cycles of a taken branch (pipeline refill)
    multi_base: int = 1  # LDM/STM/PUSH/POP: base + one per register
    fp: int = 1
    fp_mac: int = 3
    fp_div: int = 14


V6M = CoreTiming("ARMv6-M (Cortex-M0/M0+)", branch_refill=1, load_pipelined=2, fp=1)
V7M = CoreTiming("ARMv7-M (Cortex-M3/M4)")
_TIMING = {"cortex-m0plus": V6M, "cortex-m0": V6M}


def core_timing(cpu: str) -> CoreTiming:
    return _TIMING.get(cpu, V7M)


@dataclass
class EmulatorRun:
    """What one emulated inference did."""

    instructions: int
    estimated_cycles: int
    output: bytes
    status: int
    cpu: str
    flags: list[str]
    mix: dict[str, int] = field(default_factory=dict)


def emulator_unavailable_reason(device: Device | str) -> str | None:
    """Why one inference cannot be emulated for ``device`` here, or None if it can."""
    dev = device if isinstance(device, Device) else get_device(device)
    if not dev.arm_gcc_flags or dev.cpu not in _UNICORN_CPU:
        return f"{dev.name} has a {dev.cpu} core, which the Cortex-M emulator does not run"
    if shutil.which(ARM_GCC) is None:
        return f"{ARM_GCC} is not on PATH (Debian/Ubuntu: apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi)"
    try:
        import unicorn  # noqa: F401
    except ImportError:
        return "the 'unicorn' Python package is not installed (pip install unicorn)"
    return None


def _template(name: str) -> str:
    return resources.files(__package__).joinpath(f"c_templates/{name}").read_text()


def _c_values(values: np.ndarray, int8: bool) -> str:
    from .codegen_c import fmt_float

    flat = np.asarray(values).ravel()
    items = [str(int(v)) for v in flat] if int8 else [fmt_float(v) for v in flat]
    return ",\n    ".join(", ".join(items[i : i + 16]) for i in range(0, len(items), 16))


def emulator_main_source(x: np.ndarray, int8: bool) -> str:
    """``main.c`` of the image: one call of ``tinyml_model_run`` on the vector ``x``."""
    ctype = "int8_t" if int8 else "float"
    return "\n".join(
        [
            "/* One inference for the Cortex-M emulator (generated by tinyml_tinyverse). */",
            "#include <stdint.h>",
            '#include "tinyml_model.h"',
            "",
            "void tm_emu_begin(void);",
            "void tm_emu_end(void);",
            f"static const {ctype} tm_emu_in[TINYML_MODEL_INPUT_SIZE] = {{\n    {_c_values(x, int8)}\n}};",
            f"{ctype} tm_emu_out[TINYML_MODEL_OUTPUT_SIZE];",
            "volatile int tm_emu_status = 99;",
            "",
            "int main(void)",
            "{",
            "    tm_emu_begin();",
            "    tm_emu_status = tinyml_model_run(tm_emu_in, tm_emu_out);",
            "    tm_emu_end();",
            "    return 0;",
            "}",
            "",
        ]
    )


def _tool(name: str) -> str:
    path = shutil.which(f"arm-none-eabi-{name}")
    if path is None:
        raise CompilationError(f"arm-none-eabi-{name} is not on PATH; install binutils-arm-none-eabi")
    return path


_STARTUP_OBJECTS: dict[tuple, bytes] = {}  # this process's start-up objects, per compiler and flags


def build_image(
    model_dir: Path, device: Device, x: np.ndarray, int8: bool, work: Path, opt: str = EMULATOR_OPT
) -> tuple[Path, list[str]]:
    """Link ``model_dir/tinyml_model.c`` with the start-up and a one-inference ``main`` into an ELF.

    The start-up object is the same for every model (built once per process and compiler flags); the
    model and its ``main`` are compiled and linked by one compiler call (the same ELF as compiling each
    to an object and linking them: the objects are made and linked in the same order)."""
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    (work / "emu_main.c").write_text(emulator_main_source(x, int8))
    ld = Template(_template("cortex_m.ld")).substitute(
        flash_bytes=device.flash_bytes, ram_bytes=device.ram_bytes
    )
    (work / "cortex_m.ld").write_text(ld)
    gcc = shutil.which(ARM_GCC)
    core = [EMULATOR_FLAG_SUBSTITUTES.get(f, f) for f in device.arm_gcc_flags]
    flags = [opt, "-std=c99", "-ffunction-sections", "-fdata-sections", *core]
    startup = work / "cortex_m_startup.o"
    same = (gcc, *flags)
    if same in _STARTUP_OBJECTS:
        startup.write_bytes(_STARTUP_OBJECTS[same])
    else:
        (work / "cortex_m_startup.c").write_text(_template("cortex_m_startup.c"))
        _run_compiler([gcc, *flags, "-fno-tree-loop-distribute-patterns", "-c", str(work / "cortex_m_startup.c"),
                       "-o", str(startup)], f"cortex_m_startup.c for the {device.name} emulator image")  # fmt: skip
        _STARTUP_OBJECTS[same] = startup.read_bytes()
    elf = work / "tinyml_emu.elf"
    sources = [str(Path(model_dir) / "tinyml_model.c"), str(work / "emu_main.c"), str(startup)]
    link = ["-nostartfiles", "-T", str(work / "cortex_m.ld"), "-Wl,--gc-sections"]
    _run_compiler([gcc, *flags, f"-I{model_dir}", *sources, *link, "-o", str(elf), "-lm", "-lc", "-lgcc"],
                  f"the {device.name} emulator image")  # fmt: skip
    return elf, flags


_INSN_RE = re.compile(r"^\s*([0-9a-f]+):\s+[0-9a-f]{4}(?: ?[0-9a-f]{4})?\s+(\S+)\s*(.*)$")
_COND = ("eq", "ne", "cs", "cc", "hs", "lo", "mi", "pl", "vs", "vc", "hi", "ls", "ge", "lt", "gt", "le")


def _classify(mnemonic: str, operands: str, t: CoreTiming) -> tuple[str, int, bool]:
    """``(class, cycles when a taken branch, is_conditional_branch)`` of one instruction."""
    m = mnemonic.split(".")[0]
    regs = (
        len(re.findall(r"\b(?:r\d+|lr|pc|ip|sp|fp|sl|sb)\b", operands.split("{", 1)[1]))
        if "{" in operands
        else 0
    )
    if m in ("b", "bl", "blx", "bx") or re.fullmatch(r"b(" + "|".join(_COND) + ")", m):
        cond = m not in ("b", "bl", "blx", "bx")
        return "branch", t.alu + t.branch_refill + (1 if m == "bl" else 0), cond
    if m in ("cbz", "cbnz"):
        return "branch", t.alu + t.branch_refill, True
    if m in ("push", "pop") or m.startswith(("ldm", "stm")):
        extra = t.branch_refill if "pc" in operands and (m == "pop" or m.startswith("ldm")) else 0
        return "multi", t.multi_base + regs + extra, False
    if m.startswith(("vpush", "vpop", "vldm", "vstm")):
        return "multi", t.multi_base + max(regs, 1), False
    if m.startswith(("vdiv", "vsqrt")):
        return "fp", t.fp_div, False
    if m.startswith(("vmla", "vmls", "vfma", "vfms", "vnml", "vfnm")):
        return "fp", t.fp_mac, False
    if m.startswith(("vldr",)):
        return "load", t.load, False
    if m.startswith(("vstr",)):
        return "store", t.store, False
    if m.startswith("v"):
        return "fp", t.fp, False
    if m.startswith("ldr"):
        return (
            ("branch", t.load + t.branch_refill, False)
            if operands.startswith("pc,")
            else ("load", t.load, False)
        )
    if m.startswith("str"):
        return "store", t.store, False
    if m in ("sdiv", "udiv"):
        return "div", t.div, False
    if m.startswith(
        ("mul", "mla", "mls", "smul", "umul", "smla", "umla", "smlal", "umlal", "smlsd", "smmul", "smmla")
    ):
        return "mul", t.mul, False
    return "alu", t.alu, False


class _Program:
    """Executed-instruction accounting of one ELF: instruction addresses and per-block costs."""

    def __init__(self, elf: Path, timing: CoreTiming):
        text = subprocess.run(
            [_tool("objdump"), "-d", str(elf)], capture_output=True, text=True, check=True
        ).stdout
        self.addrs: list[int] = []
        self.info: list[tuple[str, int, bool]] = []
        for line in text.splitlines():
            m = _INSN_RE.match(line)
            if m is None or m.group(2).startswith("."):
                continue
            self.addrs.append(int(m.group(1), 16))
            self.info.append(_classify(m.group(2), m.group(3), timing))
        order = np.argsort(self.addrs, kind="stable")
        self.addrs = [self.addrs[i] for i in order]
        self.info = [self.info[i] for i in order]
        self.timing = timing
        self._blocks: dict[tuple[int, int], tuple[int, int, bool, dict]] = {}

    def block(self, addr: int, size: int) -> tuple[int, int, bool, dict]:
        """``(instructions, cycles with the final branch taken, ends in a conditional branch, mix)``."""
        key = (addr, size)
        hit = self._blocks.get(key)
        if hit is None:
            lo = bisect.bisect_left(self.addrs, addr)
            hi = bisect.bisect_left(self.addrs, addr + size)
            cycles, prev, mix = 0, "", {}
            for cls, cost, _ in self.info[lo:hi]:
                if cls in ("load", "store") and prev in ("load", "store"):
                    cost = self.timing.load_pipelined
                cycles += cost
                prev = cls
                mix[cls] = mix.get(cls, 0) + 1
            last_cond = hi > lo and self.info[hi - 1][2]
            hit = (hi - lo, cycles, last_cond, mix)
            self._blocks[key] = hit
        return hit

    def totals(self, counts: dict[tuple[int, int, int], int]) -> tuple[int, int, dict[str, int]]:
        """``(instructions, cycles, mix)`` of a run from its block counts: ``(start, size, previous)`` ->
        times executed, ``previous`` the start of the block just before when this one follows it directly
        (else -1). A conditional branch ending that previous block fell through: no pipeline refill."""
        instructions, cycles, mix = 0, 0, {}
        for (addr, size, previous), times in counts.items():
            count, cost, _, block_mix = self.block(addr, size)
            instructions += times * count
            cycles += times * cost
            if previous >= 0 and self.block(previous, addr - previous)[2]:
                cycles -= times * self.timing.branch_refill
            for k, v in block_mix.items():
                mix[k] = mix.get(k, 0) + times * v
        return instructions, cycles, mix


def run_image(elf: Path, device: Device, output_bytes: int, flags: list[str]) -> EmulatorRun:
    """Run the image from its reset vector; count the instructions of one inference."""
    import unicorn
    from unicorn import arm_const

    syms = symbol_addresses(elf)
    for need in ("tm_emu_begin", "tm_emu_end", "tm_emu_out", "tm_emu_status"):
        if need not in syms:
            raise CompilationError(f"the emulator image {elf} has no symbol {need}")
    timing = core_timing(device.cpu)
    program = _Program(elf, timing)
    uc = unicorn.Uc(unicorn.UC_ARCH_ARM, unicorn.UC_MODE_THUMB | unicorn.UC_MODE_MCLASS)
    uc.ctl_set_cpu_model(getattr(arm_const, _UNICORN_CPU[device.cpu]))
    page = 4096
    uc.mem_map(FLASH_BASE, -(-device.flash_bytes // page) * page)
    uc.mem_map(RAM_BASE, -(-device.ram_bytes // page) * page)
    uc.mem_map(SCS_BASE, page)
    image = flat_image(elf)  # what objcopy -O binary writes
    if len(image) > device.flash_bytes:
        raise CompilationError(
            f"the emulator image ({len(image)} bytes) does not fit the flash of {device.name}"
        )
    uc.mem_write(FLASH_BASE, image)
    sp = int.from_bytes(uc.mem_read(0, 4), "little")
    reset = int.from_bytes(uc.mem_read(4, 4), "little")
    uc.reg_write(arm_const.UC_ARM_REG_SP, sp)
    begin, end = syms["tm_emu_begin"] & ~1, syms["tm_emu_end"] & ~1
    try:
        uc.emu_start(reset | 1, begin, timeout=TIMEOUT_S * 1_000_000)
        counts: dict[tuple[int, int, int], int] = {}
        last = [-1, -1]  # the end and the start of the block executed before

        def on_block(_uc, addr, size, _data):  # per executed block: count it, cost it at the end
            key = (addr, size, last[1] if addr == last[0] else -1)
            counts[key] = counts.get(key, 0) + 1
            last[0], last[1] = addr + size, addr

        uc.hook_add(unicorn.UC_HOOK_BLOCK, on_block)
        uc.emu_start(begin | 1, end, timeout=TIMEOUT_S * 1_000_000, count=MAX_INSTRUCTIONS)
    except unicorn.UcError as exc:
        pc = uc.reg_read(arm_const.UC_ARM_REG_PC)
        raise CompilationError(
            f"the {device.name} emulator run of {elf.name} stopped at pc=0x{pc:08x}: {exc} "
            "(a stack overflow past the device's RAM or an unsupported instruction)"
        ) from exc
    if uc.reg_read(arm_const.UC_ARM_REG_PC) & ~1 != end:
        raise CompilationError(
            f"the {device.name} emulator run of {elf.name} did not finish within its limits"
        )
    out = bytes(uc.mem_read(syms["tm_emu_out"], output_bytes))
    status = int.from_bytes(uc.mem_read(syms["tm_emu_status"], 4), "little", signed=True)
    instructions, cycles, mix = program.totals(counts)
    return EmulatorRun(
        instructions=instructions, estimated_cycles=cycles, output=out, status=status,
        cpu=device.cpu, flags=flags, mix=mix,
    )  # fmt: skip


def emulate_inference(
    model_dir: Path, device: Device | str, x: np.ndarray, int8: bool, output_size: int, work: Path,
    opt: str = EMULATOR_OPT,
) -> EmulatorRun:  # fmt: skip
    """Build ``model_dir``'s model for ``device`` and run one inference of ``x`` under the emulator."""
    dev = device if isinstance(device, Device) else get_device(device)
    reason = emulator_unavailable_reason(dev)
    if reason:
        raise CompilationError(f"cannot emulate {dev.name}: {reason}")
    elf, flags = build_image(Path(model_dir), dev, x, int8, Path(work), opt)
    return run_image(elf, dev, output_size * (1 if int8 else 4), flags)


def latency_method(run: EmulatorRun, device: Device) -> str:
    timing = core_timing(device.cpu)
    return (
        f"estimate: instructions counted in one inference of the {' '.join(run.flags)} arm-none-eabi-gcc "
        f"build for {device.cpu}, run under the unicorn emulator; cycles from the executed instruction mix "
        f"with the {timing.name} instruction timings (zero-wait-state memory, no caches, no bus contention"
        + (", dual issue not modelled: an upper estimate" if device.cpu == "cortex-m7" else "")
        + (
            "; the emulator's M7 has no double-precision FPU, so doubles run in software"
            if any(f in EMULATOR_FLAG_SUBSTITUTES for f in device.arm_gcc_flags)
            else ""
        )
        + f"); time at the {device.clock_mhz:g} MHz CPU clock"
    )
