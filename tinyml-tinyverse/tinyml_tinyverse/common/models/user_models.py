"""Models from outside the package: a user's Python file or module, and installed plugin packages.

Two ways, neither edits the installed package:

- ``import_model_module("my_models.py", base_dir)`` (``training.model_module`` in a project YAML,
  ``--model-module`` of ``train.py``): imports a Python file, a package folder or an importable
  module name and registers its models in ``MODEL_REGISTRY``.
- the entry-point group ``tinyml_tinyverse.models``: an installed package that declares it has its
  models registered on the first lookup of a name ``MODEL_REGISTRY`` does not hold yet.

What a module offers: the models it registers itself (``MODEL_REGISTRY.register(...)``); else the
entries of a module-level ``MODEL_REGISTRY`` dict (as in a package ``__init__.py`` written the way
the user guide shows); else every public ``GenericModelWithSpec`` subclass it defines, under its
class name.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType

from ..errors import ConfigError, ModelError
from ..registry import Registry, describe_exception
from .generic_model_spec import GenericModelWithSpec

ENTRY_POINT_GROUP = "tinyml_tinyverse.models"
REGISTER_HINT = (
    "To add your own model: training.model_module: my_models.py in the project YAML (a Python file defining it, "
    "relative to the YAML's folder, or a module name), an installed package with an entry point in group "
    f"{ENTRY_POINT_GROUP}, or MODEL_REGISTRY.register(name, cls) in your script; see docs/adding_custom_models.md"
)
MODELS_ATTRIBUTE = "__tinyml_models__"  # set on an imported user module: the names it registered


def models_of_module(module: ModuleType, registry: Registry) -> dict[str, type]:
    """Name -> class of what ``module`` offers: its own ``MODEL_REGISTRY`` dict, else the public
    ``GenericModelWithSpec`` subclasses defined in it (or in its submodules)."""
    own = getattr(module, "MODEL_REGISTRY", None)
    if isinstance(own, Mapping) and own is not registry:
        return dict(own)
    prefix = module.__name__ + "."
    found = {}
    for name, obj in vars(module).items():
        if (
            inspect.isclass(obj)
            and issubclass(obj, GenericModelWithSpec)
            and obj is not GenericModelWithSpec
            and not name.startswith("_")
            and (obj.__module__ == module.__name__ or obj.__module__.startswith(prefix))
        ):
            found[name] = obj
    return found


def register_module_models(registry: Registry, module: ModuleType) -> list[str]:
    """Register what ``module`` offers (see :func:`models_of_module`); returns the names."""
    names = []
    for name, cls in models_of_module(module, registry).items():
        try:
            registry.register(name, cls)
        except ValueError as exc:
            raise ModelError(f"{module.__name__}: {exc}; rename one of them") from None
        names.append(name)
    return names


def _resolve(spec: str, base_dir: Path | None) -> Path | None:
    """The file or package folder ``spec`` names (relative to ``base_dir``), or None for a module name."""
    path = Path(spec).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    looks_like_path = spec.endswith(".py") or "/" in spec or "\\" in spec or path.exists()
    return path.resolve() if looks_like_path else None


def _module_name(path: Path) -> str:
    """``my_models`` for ``.../my_models.py`` (or a ``models/`` folder: ``models``); a name of its own
    (``my_models_<hash>``) when another module already goes by that name."""
    stem = path.stem if path.suffix == ".py" else path.name
    stem = "".join(c if c.isalnum() or c == "_" else "_" for c in stem) or "user_models"
    own = (path, path / "__init__.py")
    loaded = sys.modules.get(stem)
    if loaded is not None:
        taken = Path(getattr(loaded, "__file__", None) or "").resolve() not in own
    else:
        found = importlib.util.find_spec(stem)
        taken = found is not None and Path(found.origin or "").resolve() not in own
    return f"{stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}" if taken else stem


def _import_path(path: Path, where: str) -> ModuleType:
    if path.is_dir():
        init = path / "__init__.py"
        if not init.is_file():
            raise ConfigError(
                f"{where}: the folder {path} has no __init__.py; give a .py file or a package folder"
            )
        location, search = init, [str(path)]
    elif path.suffix == ".py":
        location, search = path, None
    else:
        raise ConfigError(f"{where}: {path} is not a .py file or a package folder")
    name = _module_name(path)
    if name in sys.modules:
        return sys.modules[name]
    folder = str(path.parent)
    if folder not in sys.path:  # the module can import its neighbours, as when run as a script
        sys.path.append(folder)
    spec = importlib.util.spec_from_file_location(name, location, submodule_search_locations=search)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise ModelError(f"{where}: {path} failed to import: {describe_exception(exc)}") from None
    return module


def import_model_module(
    spec: str,
    base_dir: str | Path | None = None,
    registry: Registry | None = None,
    where: str = "model module",
) -> tuple[ModuleType, list[str]]:
    """Import a user's models and register them; returns the module and the model names it gave.

    ``spec``: a ``.py`` file or a package folder (relative paths start at ``base_dir``, default the
    current folder), or an importable module name (``my_package.models``). A file that fails to
    import raises :class:`ModelError` with the file, the line and the error.
    """
    if registry is None:
        from . import MODEL_REGISTRY as registry
    path = _resolve(str(spec), Path(base_dir) if base_dir is not None else None)
    if path is not None and not path.exists():
        start = f" (relative paths start at {Path(base_dir).resolve()})" if base_dir is not None else ""
        raise ConfigError(f"{where}: {spec!r}: no such file or folder{start}")
    before = set(dict.keys(registry))
    if path is not None:
        module = _import_path(path, where)
    else:
        if importlib.util.find_spec(spec.split(".")[0]) is None:
            raise ConfigError(
                f"{where}: no module named {spec!r}; give the path of a .py file (e.g. my_models.py) or the name of "
                "an installed module"
            )
        try:
            module = importlib.import_module(spec)
        except Exception as exc:
            raise ModelError(
                f"{where}: module {spec!r} failed to import: {describe_exception(exc)}"
            ) from None
    names = getattr(module, MODELS_ATTRIBUTE, None)
    if names is None:
        added = [n for n in dict.keys(registry) if n not in before]
        names = added or register_module_models(registry, module)
        setattr(module, MODELS_ATTRIBUTE, list(names))
    if not names:
        if path is not None:
            sys.modules.pop(
                module.__name__, None
            )  # imported for nothing: not kept as if it were a model module
        raise ModelError(
            f"{where}: {module.__file__ or spec} defines no model: write a GenericModelWithSpec subclass in it "
            "(or register one with MODEL_REGISTRY.register(name, cls))"
        )
    return module, list(names)
