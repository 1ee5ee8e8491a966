"""User-facing error types.

Every error a user can cause with their data, config or model derives from :class:`TinyMLError`.
Its message names the file, key or layer at fault and says how to fix it; command-line front ends
print it without a traceback.
"""

from __future__ import annotations


class TinyMLError(Exception):
    """Base class of errors caused by user input (config, data, model choice)."""


class ConfigError(TinyMLError, ValueError):
    """A config key, value or type is wrong."""


class DataError(TinyMLError, ValueError):
    """A data file or folder is missing, unreadable or inconsistent."""


class ModelError(TinyMLError, ValueError):
    """A model or layer spec cannot be built as written."""


class CompilationError(TinyMLError, RuntimeError):
    """A model cannot be compiled for, or does not fit, the target."""


class UnknownNameError(TinyMLError, KeyError):
    """A name was looked up in a registry that does not hold it."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""
