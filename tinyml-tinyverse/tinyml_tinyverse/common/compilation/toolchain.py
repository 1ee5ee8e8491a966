"""C toolchains: build and run the generated C on the host, and size it for a Cortex-M target.

The host build is what proves the generated C bit-exact against the integer reference, so it is
strict: ``-std=c99 -Wall -Wextra -Werror -O2``. The target build uses ``arm-none-eabi-gcc`` where
it is installed (Debian package ``gcc-arm-none-eabi``) and reports the real ``.text``, ``.data``
and ``.bss`` sizes of the objects; C2000 (C28x) cores need TI's compiler and are not built here.

Torch-free: imports only the standard library.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path

from ..errors import CompilationError
from ..utils.memory import release_free_memory
from .devices import Device, get_device

logger = logging.getLogger(__name__)

HOST_FLAGS = ("-std=c99", "-Wall", "-Wextra", "-Werror", "-O2")
DEVICE_FLAGS = ("-Os", "-std=c99", "-ffunction-sections", "-fdata-sections", "-Wall")
ARM_GCC = "arm-none-eabi-gcc"
ARM_SIZE = "arm-none-eabi-size"
_ELF_MACHINE_ARM = 40
_INCLUDE_RE = re.compile(r'^\s*#\s*include\s*([<"])([^">]+)[">]', re.MULTILINE)


def find_host_compiler() -> str:
    """Path of the host C compiler: ``$CC`` if set, else ``cc``, ``gcc`` or ``clang`` on PATH."""
    env_cc = os.environ.get("CC")
    if env_cc:
        found = shutil.which(env_cc)
        if found:
            return found
        raise CompilationError(
            f"CC={env_cc!r} is set but not found on PATH; install it or unset CC to use the system 'cc'"
        )
    for name in ("cc", "gcc", "clang"):
        found = shutil.which(name)
        if found:
            return found
    raise CompilationError(
        "no host C compiler found (looked for $CC, cc, gcc, clang on PATH); install one, "
        "e.g. 'apt-get install gcc', to build and verify the generated C"
    )


def _command_text(cmd: Sequence[str]) -> str:
    return " ".join(str(c) for c in cmd)


def _run_compiler(cmd: list[str], what: str) -> None:
    # this process waits while the compiler works: what it freed is not held meanwhile (at most once a
    # second: a search's measuring calls the compiler several times a second)
    release_free_memory(min_interval_s=1.0)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except OSError as exc:
        raise CompilationError(
            f"could not start the C compiler for {what}: {exc}\ncommand: {_command_text(cmd)}"
        ) from exc
    if proc.returncode != 0:
        raise CompilationError(
            f"C compiler failed for {what} (exit code {proc.returncode})\n"
            f"command: {_command_text(cmd)}\n{(proc.stderr or proc.stdout).strip()}"
        )


def _uses_libm(sources: Iterable[Path], include_dirs: Iterable[Path]) -> bool:
    """True if any source, or a local header it includes (recursively), includes ``<math.h>``."""
    search = [Path(d) for d in include_dirs]
    todo = [Path(s) for s in sources]
    seen: set[Path] = set()
    while todo:
        path = todo.pop()
        if path in seen or not path.is_file():
            continue
        seen.add(path)
        text = path.read_text(errors="replace")
        for kind, name in _INCLUDE_RE.findall(text):
            if name in ("math.h", "tgmath.h"):
                return True
            if kind == '"':
                for folder in (path.parent, *search):
                    if (folder / name).is_file():
                        todo.append((folder / name).resolve())
                        break
    return False


def build_host(
    sources: Sequence[Path],
    output: Path,
    include_dirs: Iterable[Path] = (),
    extra_flags: Iterable[str] = (),
) -> Path:
    """Compile and link ``sources`` into the host executable ``output``; return its path.

    Flags: ``-std=c99 -Wall -Wextra -Werror -O2`` plus ``extra_flags``; ``-lm`` is linked only when
    a source includes ``<math.h>``. ``extra_flags=("-c",)`` builds an object instead (one source). The executable is written under a temporary name and renamed
    when complete. Raises :class:`CompilationError` with the command and the compiler's messages.
    """
    sources = [Path(s) for s in sources]
    if not sources:
        raise CompilationError("build_host: no C sources given")
    missing = [str(s) for s in sources if not s.is_file()]
    if missing:
        raise CompilationError(f"C sources not found: {', '.join(missing)}")
    include_dirs = [Path(d) for d in include_dirs]
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")
    cmd = [find_host_compiler(), *HOST_FLAGS, *extra_flags]
    cmd += [f"-I{d}" for d in include_dirs]
    cmd += [str(s) for s in sources]
    cmd += ["-o", str(tmp)]
    if "-c" not in cmd and _uses_libm(sources, include_dirs):  # "-c": an object, nothing to link
        cmd.append("-lm")
    try:
        _run_compiler(cmd, f"the host build of {output.name}")
        os.replace(tmp, output)
    finally:  # an error or Ctrl-C (the compiler gets it too) leaves no half-built file
        tmp.unlink(missing_ok=True)
    return output


def run_binary(
    exe: Path, args: Iterable[str] = (), timeout: float = 120, check: bool = False
) -> subprocess.CompletedProcess:
    """Run ``exe`` with ``args`` and return the completed process (text stdout and stderr).

    A run longer than ``timeout`` seconds, and with ``check=True`` a non-zero exit code, raise
    :class:`CompilationError` with the command and its output.
    """
    cmd = [str(exe), *[str(a) for a in args]]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise CompilationError(
            f"{Path(exe).name} did not finish within {timeout} s; command: {_command_text(cmd)}"
        ) from exc
    except OSError as exc:
        raise CompilationError(f"could not run {exe}: {exc}") from exc
    if check and proc.returncode != 0:
        raise CompilationError(
            f"{Path(exe).name} exited with code {proc.returncode}\ncommand: {_command_text(cmd)}\n"
            f"stdout:\n{proc.stdout.strip()}\nstderr:\n{proc.stderr.strip()}"
        )
    return proc


def _elf_machine(path: Path) -> int | None:
    with open(path, "rb") as f:
        head = f.read(20)
    if len(head) < 20 or head[:4] != b"\x7fELF":
        return None
    order = "little" if head[5] == 1 else "big"
    return int.from_bytes(head[18:20], order)


def _size_tool(paths: Sequence[Path]) -> str:
    if any(_elf_machine(p) == _ELF_MACHINE_ARM for p in paths):
        tool = shutil.which(ARM_SIZE)
        if tool:
            return tool
    tool = shutil.which("size")
    if tool:
        return tool
    raise CompilationError("the 'size' tool (binutils) is not on PATH; install binutils")


def section_sizes(path: Path | Sequence[Path]) -> dict[str, int]:
    """``dict(text=, data=, bss=)`` in bytes of an object, executable or archive (summed over files).

    Uses ``arm-none-eabi-size`` for ARM ELF files and ``size`` otherwise (Berkeley format).
    """
    paths = [Path(path)] if isinstance(path, (str, os.PathLike)) else [Path(p) for p in path]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise CompilationError(f"cannot size missing file(s): {', '.join(missing)}")
    cmd = [_size_tool(paths), "-B", *[str(p) for p in paths]]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise CompilationError(f"'{_command_text(cmd)}' failed: {proc.stderr.strip()}")
    return parse_berkeley_size(proc.stdout)


def parse_berkeley_size(text: str) -> dict[str, int]:
    """Sum the ``text data bss`` columns of ``size -B`` output (one row per file or member)."""
    total = dict(text=0, data=0, bss=0)
    rows = 0
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 3 or not all(p.isdigit() for p in parts[:3]):
            continue  # header line or blank
        total["text"] += int(parts[0])
        total["data"] += int(parts[1])
        total["bss"] += int(parts[2])
        rows += 1
    if rows == 0:
        raise CompilationError(f"could not read section sizes from 'size' output:\n{text}")
    return total


def _as_device(device: Device | str) -> Device:
    return device if isinstance(device, Device) else get_device(device)


def device_build_unavailable_reason(device: Device | str) -> str | None:
    """Why :func:`build_for_device` cannot build for ``device`` here, or None if it can."""
    dev = _as_device(device)
    if not dev.arm_gcc_flags:
        return (
            f"{dev.name} has a {dev.cpu} core, which arm-none-eabi-gcc cannot build for "
            "(C2000 parts need TI's C2000 compiler); target section sizes are not measured"
        )
    if shutil.which(ARM_GCC) is None:
        return (
            f"{ARM_GCC} is not on PATH, so the {dev.name} ({dev.cpu}) build is skipped; "
            "install it (Debian/Ubuntu: 'apt-get install gcc-arm-none-eabi') for real target sizes"
        )
    return None


def build_for_device(
    sources: Sequence[Path],
    device: Device | str,
    out_dir: Path,
    include_dirs: Iterable[Path] = (),
) -> dict | None:
    """Compile each source for ``device``'s Cortex-M core and return its section sizes.

    Each source becomes an object in ``out_dir`` (``-Os -std=c99 -ffunction-sections
    -fdata-sections`` + the device's ``arm_gcc_flags``); nothing is linked, so the figures are the
    model's own code and data without a C library. Returns ``dict(text=, data=, bss=, compiler=,
    flags=, objects={name: dict(text=, data=, bss=)})``, or None when the core is not ARM or
    ``arm-none-eabi-gcc`` is missing (the reason is logged; see
    :func:`device_build_unavailable_reason`). A compile error raises :class:`CompilationError`.
    """
    dev = _as_device(device)
    reason = device_build_unavailable_reason(dev)
    if reason:
        logger.info(reason)
        return None
    compiler = shutil.which(ARM_GCC)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    flags = [*DEVICE_FLAGS, *dev.arm_gcc_flags]
    includes = [f"-I{d}" for d in include_dirs]
    objects = {}
    for src in (Path(s) for s in sources):
        if not src.is_file():
            raise CompilationError(f"C source not found: {src}")
        obj = out_dir / (src.stem + ".o")
        tmp = obj.with_name(obj.name + ".tmp")
        _run_compiler(
            [compiler, *flags, *includes, "-c", str(src), "-o", str(tmp)], f"{src.name} on {dev.name}"
        )
        os.replace(tmp, obj)
        objects[src.name] = section_sizes(obj)
    totals = {k: sum(o[k] for o in objects.values()) for k in ("text", "data", "bss")}
    return dict(**totals, compiler=compiler, flags=flags, objects=objects)
