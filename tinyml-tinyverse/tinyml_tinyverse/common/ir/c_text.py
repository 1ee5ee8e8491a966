"""Building C function text: indented lines and blocks (used by the per-layer kernel generators)."""

from __future__ import annotations


class CText:
    """Lines of C; :meth:`block` opens ``head {`` and :meth:`end` closes it; ``#`` lines stay in column 0."""

    def __init__(self, depth: int = 1):
        self.lines: list[str] = []
        self.depth = depth

    def __call__(self, *lines: str) -> CText:
        for line in lines:
            self.lines.append(line if line.startswith("#") else "    " * self.depth + line)
        return self

    def block(self, head: str = "") -> CText:
        self.lines.append("    " * self.depth + (f"{head} {{" if head else "{"))
        self.depth += 1
        return self

    def otherwise(self) -> CText:
        """Close the open block and open its ``else``."""
        self.depth -= 1
        self.lines.append("    " * self.depth + "} else {")
        self.depth += 1
        return self

    def end(self) -> CText:
        self.depth -= 1
        self.lines.append("    " * self.depth + "}")
        return self

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def c_function(signature: str, body: CText, comment: str = "") -> str:
    """``/* comment */ signature { body }``."""
    head = f"/* {comment} */\n" if comment else ""
    return f"{head}{signature}\n{{\n{body.text()}}}\n"


def linear(*terms: tuple[int, str], const: int = 0) -> str:
    """The C expression ``c1 * v1 + c2 * v2 + ... + const`` without terms that are zero or factors of one."""
    parts = []
    for coef, var in terms:
        if coef:
            parts.append(var if coef == 1 else (f"-{var}" if coef == -1 else f"{var} * {coef}"))
    if const or not parts:
        parts.append(str(const))
    text = " + ".join(parts)
    return text.replace("+ -", "- ")
