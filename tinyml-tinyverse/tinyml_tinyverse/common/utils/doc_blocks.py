"""The code blocks of a Markdown or reStructuredText document, so tests can run a guide as written."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

_MD_FENCE = re.compile(r"^```(\w*)([^\n]*)\n(.*?)^```", re.S | re.M)
_RST_DIRECTIVE = re.compile(r"^\.\. (?:code-block|code|sourcecode)::\s*(\w*)\s*$")


def rst_code_blocks(text: str) -> list[tuple[str, str]]:
    """``(language, code)`` of every ``.. code-block:: <language>`` of a reST text, dedented, in order."""
    lines = text.splitlines()
    blocks, i = [], 0
    while i < len(lines):
        m = _RST_DIRECTIVE.match(lines[i])
        i += 1
        if not m:
            continue
        while i < len(lines) and lines[i].strip().startswith(":"):  # directive options (:caption: ...)
            i += 1
        body = []
        while i < len(lines) and (not lines[i].strip() or lines[i][:1] in (" ", "\t")):
            body.append(lines[i])
            i += 1
        blocks.append((m.group(1), textwrap.dedent("\n".join(body)).strip("\n") + "\n"))
    return blocks


def md_code_blocks(text: str) -> list[tuple[str, str]]:
    """``(language, code)`` of every fenced block of a Markdown text, in order."""
    return [(lang, code) for lang, _, code in _MD_FENCE.findall(text)]


def code_blocks(path: str | Path, language: str | None = None) -> list[tuple[str, str]]:
    """The code blocks of a ``.rst`` or ``.md`` file; only those of ``language`` when given."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    blocks = rst_code_blocks(text) if path.suffix == ".rst" else md_code_blocks(text)
    return [b for b in blocks if language is None or b[0] == language]
