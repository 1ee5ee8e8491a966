"""Compilation of ONNX models to verified C for microcontrollers.

Keep this ``__init__`` light: ``devices`` must import without torch or onnx, so ``compile_model``
and ``CompileReport`` are imported on first use.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CompileReport", "compile_model"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import compile as _compile

        return getattr(_compile, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
