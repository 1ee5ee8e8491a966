"""The symbols of an ELF file (32/64-bit, either byte order), read from its symbol table in Python: what
``nm`` and ``nm -S`` print, without starting ``nm`` (GNU nm maps about 57 MiB for a 7 KiB object).

Type letters follow nm's rules: ``t`` code, ``d`` written data, ``b`` zero-initialised data, ``r``
read-only data, ``a`` absolute, ``c`` common, ``n`` other; upper case for global symbols; ``W``/``V``
(``w``/``v`` when undefined) for weak functions / objects.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

from ..errors import CompilationError

SHT_SYMTAB, SHT_NOBITS = 2, 8
SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR = 0x1, 0x2, 0x4
SHN_UNDEF, SHN_ABS, SHN_COMMON = 0, 0xFFF1, 0xFFF2
STB_GLOBAL, STB_WEAK = 1, 2
STT_OBJECT, STT_FUNC, STT_SECTION, STT_FILE = 1, 2, 3, 4
EM_ARM = 40


def sized_symbols(path: str | os.PathLike) -> list[tuple[str, str, int]]:
    """``(name, nm type letter, size)`` of each defined symbol of the ELF object ``path`` (nm's order:
    by name): those ``nm -S`` lists with a size, the size not 0."""
    return sorted((name, letter, size) for name, _, size, letter in _defined_symbols(path) if size)


def symbol_addresses(path: str | os.PathLike) -> dict[str, int]:
    """``{name: value}`` of each defined symbol of the ELF file ``path``, as ``nm`` lists them (on ARM a
    Thumb function's address without its Thumb bit; the mapping symbols ``$t``, ``$d``... left out)."""
    return {name: value for name, value, _, _ in sorted(_defined_symbols(path)) if not name.startswith("$")}


def _defined_symbols(path: str | os.PathLike) -> list[tuple[str, int, int, str]]:
    """``(name, value, size, nm type letter)`` of each named, defined symbol (not a section or file)."""
    data, wide, order, sections = _read(path, "ELF object file")
    arm = struct.unpack_from(order + "H", data, 18)[0] == EM_ARM
    # per section: (type, flags, offset, size, link, entsize)
    heads = [(s[1], s[2], s[4], s[5], s[6], s[9]) for s in sections]
    found = []
    for kind, _, offset, size, link, entsize in heads:
        if kind != SHT_SYMTAB or not entsize:
            continue
        strings = heads[link][2]
        for pos in range(offset + entsize, offset + size, entsize):  # entry 0 is the null symbol
            if wide:
                name_at, info, _, shndx, value, sym_size = struct.unpack_from(order + "IBBHQQ", data, pos)
            else:
                name_at, value, sym_size, info, _, shndx = struct.unpack_from(order + "IIIBBH", data, pos)
            bind, typ = info >> 4, info & 0xF
            if typ in (STT_SECTION, STT_FILE) or shndx == SHN_UNDEF:
                continue
            name = data[strings + name_at : data.index(b"\0", strings + name_at)].decode(errors="replace")
            if arm and typ == STT_FUNC:
                value &= ~1  # the Thumb bit: nm prints the function's address
            if name:
                found.append((name, value, sym_size, _letter(bind, typ, shndx, heads)))
    return found


def _read(path: str | os.PathLike, what: str) -> tuple[bytes, bool, str, list[tuple]]:
    """``(file bytes, 64-bit, struct byte order, section headers as unpacked tuples)`` of the ELF ``path``
    (``what`` names the file expected, in the error when it is not ELF)."""
    data = Path(path).read_bytes()
    if data[:4] != b"\x7fELF":
        raise CompilationError(f"{path} is not an {what}")
    wide, order = data[4] == 2, "<" if data[5] == 1 else ">"
    shoff = struct.unpack_from(order + ("Q" if wide else "I"), data, 0x28 if wide else 0x20)[0]
    shentsize, shnum = struct.unpack_from(order + "HH", data, 0x3A if wide else 0x2E)
    section = order + ("IIQQQQIIQQ" if wide else "IIIIIIIIII")
    return data, wide, order, [struct.unpack_from(section, data, shoff + i * shentsize) for i in range(shnum)]


def _letter(bind: int, typ: int, shndx: int, heads: list[tuple]) -> str:
    if bind == STB_WEAK:
        return "V" if typ == STT_OBJECT else "W"
    if shndx == SHN_ABS:
        letter = "a"
    elif shndx == SHN_COMMON:
        letter = "c"
    elif shndx < len(heads):
        kind, flags = heads[shndx][0], heads[shndx][1]
        if flags & SHF_EXECINSTR:
            letter = "t"
        elif flags & SHF_ALLOC and flags & SHF_WRITE:
            letter = "b" if kind == SHT_NOBITS else "d"
        elif flags & SHF_ALLOC:
            letter = "r"
        else:
            letter = "n"
    else:
        letter = "?"
    return letter.upper() if bind == STB_GLOBAL else letter


PT_LOAD = 1


def flat_image(path: str | os.PathLike) -> bytes:
    """The memory image ``objcopy -O binary`` writes for the linked ELF ``path``: the contents of each
    allocated section that has bytes in the file, at its load address (its address in its program
    segment's physical range: initialised data sits in flash after the code), from the lowest of them,
    gaps filled with zeros."""
    data, wide, order, sections = _read(path, "ELF file")
    phoff = struct.unpack_from(order + ("Q" if wide else "I"), data, 0x20 if wide else 0x1C)[0]
    phentsize, phnum = struct.unpack_from(order + "HH", data, 0x36 if wide else 0x2A)
    segment = order + ("IIQQQQQQ" if wide else "IIIIIIII")
    loads = []  # (vaddr, paddr, memsz) of each loadable segment
    for i in range(phnum):
        s = struct.unpack_from(segment, data, phoff + i * phentsize)
        if wide:
            kind, vaddr, paddr, memsz = s[0], s[3], s[4], s[6]
        else:
            kind, vaddr, paddr, memsz = s[0], s[2], s[3], s[5]
        if kind == PT_LOAD:
            loads.append((vaddr, paddr, memsz))
    pieces = []  # (load address, bytes)
    for s in sections:
        kind, flags, addr, offset, size = s[1], s[2], s[3], s[4], s[5]
        if not flags & SHF_ALLOC or kind == SHT_NOBITS or not size:
            continue
        lma = next((addr - v + p for v, p, m in loads if v <= addr < v + max(m, 1)), addr)
        pieces.append((lma, data[offset : offset + size]))
    if not pieces:
        return b""
    base = min(lma for lma, _ in pieces)
    image = bytearray(max(lma + len(b) for lma, b in pieces) - base)
    for lma, b in pieces:
        image[lma - base : lma - base + len(b)] = b
    return bytes(image)
