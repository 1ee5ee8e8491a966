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
import traceback
import warnings
from collections.abc import Callable, Iterable, Mapping
from types import ModuleType
from typing import Any

from .errors import UnknownNameError


def closest_names(name: str, known: Iterable[str], n: int = 3) -> list[str]:
    """Return up to ``n`` names from ``known`` closest to ``name`` (case-insensitive)."""
    known = list(known)
    lower = {k.lower(): k for k in known}
    hits = difflib.get_close_matches(str(name).lower(), list(lower), n=n, cutoff=0.5)
    return [lower[h] for h in hits]


def describe_exception(exc: BaseException) -> str:
    """``file:line: Type: message`` of the innermost frame outside the import machinery (for a user's
    code that fails to import), or ``Type: message``."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{exc.filename}:{exc.lineno}: SyntaxError: {exc.msg}"
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "importlib" not in f.filename]
    where = f"{frames[-1].filename}:{frames[-1].lineno}: " if frames else ""
    return f"{where}{type(exc).__name__}: {exc}"


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
    """A name -> object dict with a ``register`` decorator and helpful unknown-name errors.

    ``entry_points``: an entry-point group of installed plugin packages, loaded on first use like
    ``locations``. An entry point may name an object (registered under the entry point's name), a
    mapping of name -> object (each registered) or a module (imported; ``load_module(registry,
    module)`` then registers what it offers). ``hint`` ends every unknown-name error (how to add one).
    """

    def __init__(
        self,
        kind: str,
        locations: Iterable[str] = (),
        *,
        entry_points: str | None = None,
        load_module: Callable[[Registry, ModuleType], Any] | None = None,
        hint: str = "",
    ):
        super().__init__()
        self.kind = kind
        self.locations = list(locations)
        self.entry_points = entry_points
        self.load_module = load_module
        self.hint = hint
        self.plugin_errors: list[str] = []  # entry points that failed to load, for the unknown-name error
        self._loaded = not self.locations and not entry_points

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
        if self.entry_points:
            self._load_entry_points()

    def _load_entry_points(self) -> None:
        """Register what every installed entry point of the group offers; a broken one is reported
        (warning now, and in the unknown-name error) without hiding the others."""
        from importlib.metadata import entry_points

        for ep in entry_points(group=self.entry_points):
            dist = getattr(getattr(ep, "dist", None), "name", None) or "?"
            where = f"entry point {ep.name} = {ep.value} (group {self.entry_points}, package {dist})"
            try:
                obj = ep.load()
                if isinstance(obj, ModuleType):
                    if self.load_module is not None:
                        self.load_module(self, obj)
                elif isinstance(obj, Mapping):
                    for name, value in obj.items():
                        self.register(name, value)
                else:
                    self.register(ep.name, obj)
            except Exception as exc:  # a broken plugin must not break the other names
                message = f"{where} failed to load: {describe_exception(exc)}"
                self.plugin_errors.append(message)
                warnings.warn(message, stacklevel=2)

    # -- lookups -------------------------------------------------------------------------------
    def __missing__(self, key: str) -> Any:
        if not self._loaded:
            self._load()
            if dict.__contains__(self, key):
                return dict.__getitem__(self, key)
        raise UnknownNameError(self.unknown_message(key))

    def unknown_message(self, key: str, known: Iterable[str] | None = None, where: str = "") -> str:
        """The error text for an unknown ``key``: closest names, known names, ``hint``, broken plugins."""
        msg = unknown_name_message(self.kind, key, self.keys() if known is None else known, where)
        if self.hint:
            msg += f". {self.hint}"
        if self.plugin_errors:
            msg += ". Not loaded: " + "; ".join(self.plugin_errors)
        return msg

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
