"""elf_symbols.sized_symbols lists an object's sized symbols exactly as ``nm -S`` does (name, type
letter, size), for host objects (64-bit) and Cortex-M objects (32-bit), with every kind of symbol the
generated C has: code, data, zero-initialised data, read-only tables, statics, weak symbols."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from tinyml_tinyverse.common.compilation.elf_symbols import sized_symbols, symbol_addresses
from tinyml_tinyverse.common.errors import CompilationError

SOURCE = r"""
#include <stdint.h>
const int16_t table_rodata[37] = {1, 2, 3};
static const float local_rodata[5] = {1.5f};
int32_t global_data[3] = {7, 8, 9};
static int8_t local_data[11] = {1};
int64_t global_bss[13];
static uint8_t local_bss[17];
__attribute__((weak)) int weak_object[4] = {1};
__attribute__((weak)) int weak_function(int x) { return x + 1; }
static int local_function(int x) { static int counter; counter += x; return counter + local_bss[x & 15]; }
int global_function(int x) {
    local_data[x & 7] += (int8_t)x;
    return local_function(x) + table_rodata[x & 31] + (int)local_rodata[x & 3] + global_data[x % 3]
        + (int)global_bss[x % 13] + weak_object[x & 3] + weak_function(x);
}
"""


def _nm(nm: str, obj) -> list[tuple[str, str, int]]:
    out = subprocess.run([nm, "-S", str(obj)], capture_output=True, text=True, check=True).stdout
    rows = [line.split() for line in out.splitlines()]
    return sorted((r[3], r[2], int(r[1], 16)) for r in rows if len(r) == 4 and int(r[1], 16))


@pytest.mark.parametrize(
    "compiler,flags,nm",
    [
        ("gcc", ["-O2"], "nm"),
        ("arm-none-eabi-gcc", ["-O2", "-mcpu=cortex-m4", "-mthumb"], "arm-none-eabi-nm"),
        (
            "arm-none-eabi-gcc",
            ["-Os", "-mcpu=cortex-m0plus", "-mthumb", "-ffunction-sections"],
            "arm-none-eabi-nm",
        ),
    ],
)
def test_the_same_symbols_as_nm(tmp_path, compiler, flags, nm):
    if shutil.which(compiler) is None or shutil.which(nm) is None:
        pytest.fail(f"{compiler} / {nm} missing: `make install` installs them (scripts/system_packages.sh)")
    src, obj = tmp_path / "symbols.c", tmp_path / "symbols.o"
    src.write_text(SOURCE)
    subprocess.run([compiler, *flags, "-c", str(src), "-o", str(obj)], check=True)
    ours = sized_symbols(obj)
    assert ours == _nm(nm, obj)
    letters = {name.split(".")[0]: letter for name, letter, _ in ours}
    assert letters["table_rodata"] == "R" and letters["global_data"] == "D" and letters["global_bss"] == "B"
    assert (
        letters["global_function"] == "T"
        and letters["weak_function"] == "W"
        and letters["weak_object"] == "V"
    )


def test_the_same_addresses_as_nm_in_a_linked_cortex_m_image(tmp_path):
    """The emulator finds its symbols with symbol_addresses: as nm gives them (Thumb functions' even
    addresses, no mapping symbols)."""
    for tool in ("arm-none-eabi-gcc", "arm-none-eabi-nm"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} missing: `make install` installs it (scripts/system_packages.sh)")
    src, elf = tmp_path / "image.c", tmp_path / "image.elf"
    src.write_text(SOURCE + "int main(void) { return global_function(3); }\n")
    flags = ["-O2", "-mcpu=cortex-m4", "-mthumb", "--specs=nosys.specs", "-nostartfiles", "-Wl,-e,main"]
    subprocess.run(["arm-none-eabi-gcc", *flags, str(src), "-o", str(elf)], check=True)
    out = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True, check=True).stdout
    rows = [line.split() for line in out.splitlines()]
    assert symbol_addresses(elf) == {r[2]: int(r[0], 16) for r in rows if len(r) == 3}
    assert symbol_addresses(elf)["main"] % 2 == 0


def test_a_file_that_is_not_elf_is_named(tmp_path):
    bad = tmp_path / "x.o"
    bad.write_bytes(b"not an object")
    with pytest.raises(CompilationError, match="x.o is not an ELF object file"):
        sized_symbols(bad)
