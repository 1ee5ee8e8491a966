"""Host and Cortex-M builds of real C with the real compilers."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tinyml_tinyverse.common.compilation import toolchain
from tinyml_tinyverse.common.compilation.devices import get_device
from tinyml_tinyverse.common.errors import CompilationError

MAIN_C = """
#include <stdio.h>
#include <stdlib.h>
#include "weights.h"

int main(int argc, char **argv) {
    long acc = 0;
    int i;
    int scale = argc > 1 ? atoi(argv[1]) : 1;
    for (i = 0; i < N_WEIGHTS; ++i) acc += (long)weights[i] * scale;
    printf("%ld\\n", acc);
    return 0;
}
"""

WEIGHTS_H = """
#ifndef WEIGHTS_H
#define WEIGHTS_H
#include <stdint.h>
#define N_WEIGHTS 5
extern const int8_t weights[N_WEIGHTS];
extern int8_t arena[300];
#endif
"""

WEIGHTS_C = """
#include "weights.h"
const int8_t weights[N_WEIGHTS] = {1, -2, 3, -4, 100};
int8_t arena[300];
"""

MATH_C = """
#include "mathy.h"
int main(void) {
    volatile double x = 2.0;
    return (int)(sqrt(x) * 100.0) == 141 ? 0 : 1;
}
"""


def _write(folder: Path, files: dict[str, str]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in files.items():
        (folder / name).write_text(text)
        paths.append(folder / name)
    return paths


def test_build_and_run_host(tmp_path):
    src = tmp_path / "src"
    _write(src, {"main.c": MAIN_C, "weights.c": WEIGHTS_C, "weights.h": WEIGHTS_H})
    exe = toolchain.build_host([src / "main.c", src / "weights.c"], tmp_path / "bin" / "app")
    assert exe.is_file() and not (tmp_path / "bin" / "app.tmp").exists()
    proc = toolchain.run_binary(exe, ["3"], check=True)
    assert proc.stdout.strip() == str((1 - 2 + 3 - 4 + 100) * 3)
    sizes = toolchain.section_sizes(exe)
    assert sizes["text"] > 0 and sizes["bss"] >= 300


def test_libm_linked_only_when_needed(tmp_path, monkeypatch):
    # math.h is reached through a local header: the include scan must follow it.
    _write(tmp_path, {"main.c": MATH_C, "mathy.h": "#include <math.h>\n"})
    seen = []
    real_run = toolchain._run_compiler
    monkeypatch.setattr(toolchain, "_run_compiler", lambda cmd, what: (seen.append(cmd), real_run(cmd, what)))
    exe = toolchain.build_host([tmp_path / "main.c"], tmp_path / "m")
    assert seen[-1][-1] == "-lm"
    assert toolchain.run_binary(exe).returncode == 0
    _write(tmp_path, {"plain.c": "int main(void) { return 3; }\n"})
    exe = toolchain.build_host([tmp_path / "plain.c"], tmp_path / "p")
    assert "-lm" not in seen[-1]
    assert toolchain.run_binary(exe).returncode == 3
    with pytest.raises(CompilationError, match="exited with code 3"):
        toolchain.run_binary(exe, check=True)
    obj = toolchain.build_host([tmp_path / "main.c"], tmp_path / "m.o", extra_flags=("-c",))
    assert "-lm" not in seen[-1] and toolchain._elf_machine(obj) is not None
    assert toolchain.section_sizes(obj)["text"] > 0


def test_compile_error_names_command_and_message(tmp_path):
    _write(tmp_path, {"bad.c": "int main(void) { int unused; return 0; }\n"})
    with pytest.raises(CompilationError) as info:
        toolchain.build_host([tmp_path / "bad.c"], tmp_path / "bad")
    msg = str(info.value)
    assert "-Werror" in msg and "bad.c" in msg and "unused" in msg
    assert not (tmp_path / "bad").exists() and not (tmp_path / "bad.tmp").exists()
    with pytest.raises(CompilationError, match="not found"):
        toolchain.build_host([tmp_path / "nope.c"], tmp_path / "x")


def test_run_binary_timeout(tmp_path):
    _write(tmp_path, {"spin.c": "int main(void) { volatile int x = 1; while (x) {} return 0; }\n"})
    exe = toolchain.build_host([tmp_path / "spin.c"], tmp_path / "spin")
    with pytest.raises(CompilationError, match="did not finish within"):
        toolchain.run_binary(exe, timeout=0.5)


def test_missing_host_compiler(monkeypatch):
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(CompilationError, match="no host C compiler"):
        toolchain.find_host_compiler()
    monkeypatch.setenv("CC", "no-such-cc")
    with pytest.raises(CompilationError, match="no-such-cc"):
        toolchain.find_host_compiler()


def test_parse_berkeley_size():
    text = (
        "   text    data     bss     dec     hex filename\n"
        "    120       4      16     140      8c a.o\n"
        "     30       0       8      38      26 b.o\n"
    )
    assert toolchain.parse_berkeley_size(text) == dict(text=150, data=4, bss=24)
    with pytest.raises(CompilationError):
        toolchain.parse_berkeley_size("garbage\n")


@pytest.mark.skipif(
    shutil.which("arm-none-eabi-gcc") is None, reason="needs gcc-arm-none-eabi (CI installs it)"
)
def test_build_for_cortex_m(tmp_path):
    src = tmp_path / "src"
    _write(src, {"weights.c": WEIGHTS_C, "weights.h": WEIGHTS_H})
    result = toolchain.build_for_device(
        [src / "weights.c"], "MSPM0G3507", tmp_path / "obj", include_dirs=[src]
    )
    assert result is not None
    assert "-mcpu=cortex-m0plus" in result["flags"] and "-Os" in result["flags"]
    assert result["compiler"].endswith("arm-none-eabi-gcc")
    # 5 const weights in .text (rodata counts as text for size), 300 arena bytes in .bss.
    assert result["text"] >= 5 and result["bss"] == 300 and result["data"] == 0
    obj = tmp_path / "obj" / "weights.o"
    assert toolchain._elf_machine(obj) == 40  # really an ARM object
    assert result["objects"]["weights.c"] == toolchain.section_sizes(obj)
    m7 = toolchain.build_for_device([src / "weights.c"], get_device("CORTEX_M7"), tmp_path / "m7", [src])
    assert "-mcpu=cortex-m7" in m7["flags"]


def test_build_for_device_absent_cases(tmp_path, monkeypatch, caplog):
    _write(tmp_path, {"w.c": "const int w[2] = {1, 2};\n"})
    caplog.set_level("INFO")
    assert toolchain.build_for_device([tmp_path / "w.c"], "F28P55", tmp_path / "o") is None
    assert "C28x" in toolchain.device_build_unavailable_reason("F28P55")
    assert "C28x" in caplog.text
    monkeypatch.setenv("PATH", "/nonexistent")
    assert toolchain.build_for_device([tmp_path / "w.c"], "CORTEX_M4F", tmp_path / "o") is None
    assert "gcc-arm-none-eabi" in toolchain.device_build_unavailable_reason("CORTEX_M4F")


@pytest.mark.skipif(
    shutil.which("arm-none-eabi-gcc") is None, reason="needs gcc-arm-none-eabi (CI installs it)"
)
def test_build_for_device_compile_error(tmp_path):
    _write(tmp_path, {"e.c": "int f(void) { return undefined_name; }\n"})
    with pytest.raises(CompilationError, match="undefined_name"):
        toolchain.build_for_device([tmp_path / "e.c"], "CORTEX_M0PLUS", tmp_path / "o")


def test_failed_host_build_leaves_no_half_built_file(tmp_path):
    src = tmp_path / "bad.c"
    src.write_text("int main(void) { return missing_symbol; }\n")
    with pytest.raises(CompilationError, match="missing_symbol"):
        toolchain.build_host([src], tmp_path / "exe")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.c"]
