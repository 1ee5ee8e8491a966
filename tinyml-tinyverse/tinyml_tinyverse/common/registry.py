"""One registry per kind of thing (models, layers, transforms, augmenters, devices, tasks...).

A :class:`Registry` is a ``dict`` from name to object. Lookups of unknown names raise
:class:`~tinyml_tinyverse.common.errors.UnknownNameError` listing the closest known names. A registry
may name ``locations``: packages whose modules are all imported on first use, so that dropping a new
file that registers itself into such a package is enough to make it usable by name.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import pkgutil
from collections.abc import Callable, Iterable
from typing import Any

from .errors import UnknownNameError


def closest_names(name: str, known: Iterable[str], n: int = 3) -> list[str]:
    """Return up to ``n`` names from ``known`` closest to ``name`` (case-insensitive)."""
    known = list(known)
    lower = {k.lower(): k for k in known}
    hits = difflib.get_close_matches(str(name).lower(), list(lower), n=n, cutoff=0.5)
    return [lower[h] for h in hits]


def unknown_name_message(kind: str, name: str, known: Iterable[str], where: str = "") -> str:
    """A message for an unknown ``name`` of a ``kind``: closest matches first, then all known names."""
    known = sorted(known)
    close = closest_names(name, known)
    msg = f"unknown {kind} {name!r}" + (f" in {where}" if where else "")
    if close:
        msg += f"; did you mean {' or '.join(repr(c) for c in close)}?"
    msg += f" Known {kind}s: {', '.join(known) if known else '(none)'}"
    return msg


class Registry(dict):
    """A name -> object dict with a ``register`` decorator and helpful unknown-name errors."""

    def __init__(self, kind: str, locations: Iterable[str] = ()):
        super().__init__()
        self.kind = kind
        self.locations = list(locations)
        self._loaded = not self.locations

    # -- filling -------------------------------------------------------------------------------
    def register(self, name: str | Callable | None = None, obj: Any = None, *, aliases: Iterable[str] = ()):
        """Register ``obj`` under ``name`` (default: its ``__name__``); usable as a decorator.

        ``@REG.register``, ``@REG.register("NAME")`` and ``REG.register("NAME", obj)`` all work.
        Registering a different object under a taken name is an error.
        """
        if callable(name) and obj is None:
            return self.register(None, name, aliases=aliases)

        def add(o: Any) -> Any:
            key = name if isinstance(name, str) else o.__name__
            for k in (key, *aliases):
                old = dict.get(self, k)
                if (
                    old is not None
                    and old is not o
                    and getattr(old, "__qualname__", None) != getattr(o, "__qualname__", object())
                ):
                    raise ValueError(f"{self.kind} {k!r} is registered twice ({old!r} and {o!r})")
                dict.__setitem__(self, k, o)
            return o

        return add(obj) if obj is not None else add

    def add_location(self, package: str) -> None:
        """Also import every module of ``package`` on the next lookup (a package of your own entries)."""
        if package not in self.locations:
            self.locations.append(package)
            self._loaded = False

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for pkg_name in self.locations:
            pkg = importlib.import_module(pkg_name)
            for info in pkgutil.iter_modules(pkg.__path__):
                if not info.name.startswith("_"):
                    importlib.import_module(f"{pkg_name}.{info.name}")

    # -- lookups -------------------------------------------------------------------------------
    def __missing__(self, key: str) -> Any:
        if not self._loaded:
            self._load()
            if dict.__contains__(self, key):
                return dict.__getitem__(self, key)
        raise UnknownNameError(unknown_name_message(self.kind, key, self.keys()))

    def __contains__(self, key: object) -> bool:
        self._load()
        return dict.__contains__(self, key)

    def __iter__(self):
        self._load()
        return dict.__iter__(self)

    def __len__(self) -> int:
        self._load()
        return dict.__len__(self)

    def keys(self):
        self._load()
        return dict.keys(self)

    def items(self):
        self._load()
        return dict.items(self)

    def values(self):
        self._load()
        return dict.values(self)

    def get(self, key: str, default: Any = None) -> Any:
        self._load()
        return dict.get(self, key, default)

    def names(self, pattern: str = "*") -> list[str]:
        """Sorted registered names matching a glob ``pattern`` (e.g. ``"CLS_*_NPU"``)."""
        return sorted(k for k in self.keys() if fnmatch.fnmatchcase(k, pattern))

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self)} entries)"
