"""Target devices: the one table of chips a model can be compiled for.

Torch-free and cheap to import, so the modelmaker can check a config against the target before any
heavy import. Memory figures are the on-chip flash and RAM of the part as published in its data
sheet, ``clock_mhz`` its maximum CPU clock (the latency estimate's clock); generic Cortex-M entries
describe a typical part of that class.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..registry import Registry

DEVICE_REGISTRY = Registry("target device")

NPU_NOTE = (
    "NPU: the generated C runs on the CPU; no NPU instructions are emitted. For an NPU part the model "
    "follows the NPU's rules (layer shapes, power-of-two scales, packed 8/4/2-bit weights), so it is ready "
    "for the NPU, but it is not run on it."
)


@dataclass(frozen=True)
class Device:
    """One target chip."""

    name: str
    family: str  # C2000, MSPM0, AM13, generic
    cpu: str  # e.g. "C28x", "cortex-m0plus"
    flash_bytes: int
    ram_bytes: int
    has_fpu: bool
    has_npu: bool
    arm_gcc_flags: tuple[str, ...] = ()  # empty: arm-none-eabi-gcc cannot build for this core
    description: str = ""
    clock_mhz: float = 0.0  # the CPU clock the latency estimate uses (the part's maximum)

    @property
    def flash_kib(self) -> float:
        return self.flash_bytes / 1024

    @property
    def ram_kib(self) -> float:
        return self.ram_bytes / 1024


def _add(**kw) -> None:
    DEVICE_REGISTRY.register(kw["name"], Device(**kw))


KIB = 1024
_M0P = ("-mcpu=cortex-m0plus", "-mthumb", "-mfloat-abi=soft")
_M4F = ("-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard")
_M7 = ("-mcpu=cortex-m7", "-mthumb", "-mfpu=fpv5-d16", "-mfloat-abi=hard")
_M33 = ("-mcpu=cortex-m33", "-mthumb", "-mfloat-abi=soft")

_add(
    name="F28P55",
    family="C2000",
    cpu="C28x",
    flash_bytes=1024 * KIB,
    ram_bytes=133 * KIB,
    has_fpu=True,
    has_npu=True,
    description="TMS320F28P55x real-time MCU with integrated NPU",
    clock_mhz=150,
)
_add(
    name="F28P65",
    family="C2000",
    cpu="C28x",
    flash_bytes=1280 * KIB,
    ram_bytes=229 * KIB,
    has_fpu=True,
    has_npu=False,
    description="TMS320F28P65x dual-core real-time MCU",
    clock_mhz=200,
)
_add(
    name="F2837",
    family="C2000",
    cpu="C28x",
    flash_bytes=1024 * KIB,
    ram_bytes=204 * KIB,
    has_fpu=True,
    has_npu=False,
    description="TMS320F2837xD dual-core real-time MCU",
    clock_mhz=200,
)
_add(
    name="F28003",
    family="C2000",
    cpu="C28x",
    flash_bytes=384 * KIB,
    ram_bytes=69 * KIB,
    has_fpu=True,
    has_npu=False,
    description="TMS320F28003x real-time MCU",
    clock_mhz=120,
)
_add(
    name="F28004",
    family="C2000",
    cpu="C28x",
    flash_bytes=256 * KIB,
    ram_bytes=100 * KIB,
    has_fpu=True,
    has_npu=False,
    description="TMS320F28004x real-time MCU",
    clock_mhz=100,
)
_add(
    name="F280013",
    family="C2000",
    cpu="C28x",
    flash_bytes=128 * KIB,
    ram_bytes=37 * KIB,
    has_fpu=True,
    has_npu=False,
    description="TMS320F280013x entry real-time MCU",
    clock_mhz=120,
)
_add(
    name="F280015",
    family="C2000",
    cpu="C28x",
    flash_bytes=256 * KIB,
    ram_bytes=37 * KIB,
    has_fpu=True,
    has_npu=False,
    description="TMS320F280015x entry real-time MCU",
    clock_mhz=120,
)
_add(
    name="MSPM0G3507",
    family="MSPM0",
    cpu="cortex-m0plus",
    flash_bytes=128 * KIB,
    ram_bytes=32 * KIB,
    has_fpu=False,
    has_npu=False,
    arm_gcc_flags=_M0P,
    description="MSPM0G3507 Arm Cortex-M0+ MCU",
    clock_mhz=80,
)
_add(
    name="MSPM0G5187",
    family="MSPM0",
    cpu="cortex-m0plus",
    flash_bytes=128 * KIB,
    ram_bytes=32 * KIB,
    has_fpu=False,
    has_npu=True,
    arm_gcc_flags=_M0P,
    description="MSPM0G5187 Arm Cortex-M0+ MCU with NPU",
    clock_mhz=80,
)
_add(
    name="MSPM0L1306",
    family="MSPM0",
    cpu="cortex-m0plus",
    flash_bytes=64 * KIB,
    ram_bytes=4 * KIB,
    has_fpu=False,
    has_npu=False,
    arm_gcc_flags=_M0P,
    description="MSPM0L1306 low-power Arm Cortex-M0+ MCU",
    clock_mhz=32,
)
_add(
    name="AM13E2",
    family="AM13",
    cpu="cortex-m33",
    flash_bytes=512 * KIB,
    ram_bytes=128 * KIB,
    has_fpu=False,
    has_npu=True,
    arm_gcc_flags=_M33,
    description="AM13E2x Arm Cortex-M33 MCU with NPU",
    clock_mhz=200,
)
_add(
    name="CORTEX_M0PLUS",
    family="generic",
    cpu="cortex-m0plus",
    flash_bytes=256 * KIB,
    ram_bytes=32 * KIB,
    has_fpu=False,
    has_npu=False,
    arm_gcc_flags=_M0P,
    description="generic Arm Cortex-M0+ part",
    clock_mhz=48,
)
_add(
    name="CORTEX_M4F",
    family="generic",
    cpu="cortex-m4",
    flash_bytes=1024 * KIB,
    ram_bytes=256 * KIB,
    has_fpu=True,
    has_npu=False,
    arm_gcc_flags=_M4F,
    description="generic Arm Cortex-M4F part",
    clock_mhz=80,
)
_add(
    name="CORTEX_M7",
    family="generic",
    cpu="cortex-m7",
    flash_bytes=2048 * KIB,
    ram_bytes=512 * KIB,
    has_fpu=True,
    has_npu=False,
    arm_gcc_flags=_M7,
    description="generic Arm Cortex-M7 part",
    clock_mhz=216,
)


def get_device(name: str) -> Device:
    """The :class:`Device` called ``name``; an unknown name lists the known ones."""
    return DEVICE_REGISTRY[name]
