"""Read a project YAML, merge it over the defaults of its modality and validate it.

Torch-free on purpose: a bad config must be rejected within two seconds of the command. The schema
of each section is a dict ``key -> Param`` that the modality defines in its ``params.py``; this
module knows nothing about time series.

Every problem is a :class:`~tinyml_tinyverse.common.errors.ConfigError` whose message names the
file, the key (``section.key``), the value and what is allowed.
"""

from __future__ import annotations

import copy
import math
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any

import yaml
from tinyml_tinyverse.common.errors import ConfigError
from tinyml_tinyverse.common.registry import closest_names
from tinyml_tinyverse.common.safe_yaml import load_yaml_file, parse_yaml_value

# Type names used in messages and in the generated reference.
_TYPE_NAMES = {bool: "bool", int: "int", float: "float", str: "str", list: "list", dict: "mapping"}


class LazyNames(Sequence):
    """The names of a tinyverse registry or table (``module.attribute``), read on first use: a schema's
    ``choices`` that come from a module the config check should not import unless the key is set."""

    def __init__(self, module: str, attribute: str):
        self.module, self.attribute = module, attribute
        self._names: tuple[str, ...] | None = None

    def names(self) -> tuple[str, ...]:
        if self._names is None:
            self._names = tuple(getattr(import_module(self.module), self.attribute))
        return self._names

    def __getitem__(self, index):
        return self.names()[index]

    def __len__(self) -> int:
        return len(self.names())

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __contains__(self, name: object) -> bool:
        return name in self.names()

    def __repr__(self) -> str:
        return repr(self.names())


@dataclass(frozen=True)
class Param:
    """The schema of one config key.

    ``types``: accepted Python types (``int`` is accepted where ``float`` is; ``bool`` never counts as
    a number). ``choices``: the allowed values. ``minimum`` / ``maximum``: an inclusive numeric range.
    ``nullable``: ``None`` (YAML ``null``) is allowed and means "automatic" (see the description).
    ``required``: the user must give a value (checked by :func:`validate`). ``check``: an extra
    callable ``check(value) -> str | None`` returning a message when the value is wrong.
    """

    default: Any
    types: tuple[type, ...]
    choices: tuple[Any, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    nullable: bool = False
    required: bool = False
    check: Callable[[Any], str | None] | None = field(default=None, compare=False)

    def allowed(self) -> str:
        """A short human text of what the key accepts (used in errors and in ``--describe``)."""
        if self.choices is not None:
            text = "one of " + ", ".join(_show(c) for c in self.choices)
        else:
            text = " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in self.types)
            if self.minimum is not None and self.maximum is not None:
                text += f" in [{_show(self.minimum)}, {_show(self.maximum)}]"
            elif self.minimum is not None:
                text += f" >= {_show(self.minimum)}"
            elif self.maximum is not None:
                text += f" <= {_show(self.maximum)}"
        if self.nullable:
            text += " (or null = automatic)"
        return text


Schema = Mapping[str, Mapping[str, Param]]


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def _where(source: str) -> str:
    return f"{source}: " if source else ""


# -- reading ---------------------------------------------------------------------------------------
def load_yaml(path: str | os.PathLike) -> dict:
    """Read a project YAML file into a dict with the bounded loader of
    :mod:`tinyml_tinyverse.common.safe_yaml` (size, nesting, aliases, duplicate keys, UTF-8); a missing
    file, bad syntax or a non-mapping is a ConfigError naming the file and line."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ConfigError(f"config file {path!r} does not exist; give the path of a project YAML file")
    data = load_yaml_file(path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections (common:, dataset:, ...)")
    return data


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split one ``--set section.key=value`` into (``[section, key]``, value parsed as YAML)."""
    if "=" not in text:
        raise ConfigError(
            f"--set {text!r}: expected section.key=value, e.g. --set training.training_epochs=5"
        )
    dotted, raw = text.split("=", 1)
    keys = [k.strip() for k in dotted.strip().split(".")]
    if len(keys) < 2 or not all(keys):
        raise ConfigError(f"--set {text!r}: the key must be section.key, e.g. training.training_epochs")
    value = parse_yaml_value(raw, f"--set {dotted.strip()}") if raw.strip() else None
    return keys, value


def apply_overrides(config: dict, overrides: Iterable[str]) -> dict:
    """Return a copy of ``config`` with every ``section.key=value`` override set (later ones win)."""
    config = copy.deepcopy(config)
    for text in overrides:
        keys, value = parse_override(text)
        node = config
        for k in keys[:-1]:
            child = node.get(k)
            if child is None:
                child = node[k] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"--set {text!r}: {k!r} holds a value, not a section")
            node = child
        node[keys[-1]] = value
    return config


# -- validation ------------------------------------------------------------------------------------
def unknown_key_message(source: str, where: str, key: str, known: Iterable[str], kind: str = "key") -> str:
    """Message for an unknown key: the closest valid key first, then all legal keys of the section."""
    known = list(known)
    close = closest_names(key, known, n=1)
    msg = f"{_where(source)}unknown {kind} {where}{key!r}"
    if close:
        msg += f"; did you mean {close[0]!r}?"
    return msg + f" Valid {kind}s{' of ' + where.rstrip('.') if where else ''}: {', '.join(known)}"


def coerce_value(source: str, dotted: str, value: Any, param: Param) -> Any:
    """Check ``value`` against ``param``; return it (numbers written as strings become numbers)."""
    prefix = f"{_where(source)}{dotted}: "
    if value is None:
        if param.nullable or (param.default is None and not param.required):
            return None
        raise ConfigError(f"{prefix}a value is required; allowed: {param.allowed()}")
    types = param.types
    ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
    if not ok and float in types and isinstance(value, int) and not isinstance(value, bool):
        value, ok = float(value), True
    if not ok and isinstance(value, str) and (float in types or int in types):
        # YAML 1.1 reads 1e-3 as a string; accept numbers written that way.
        try:
            number = float(value)
        except ValueError:
            number = None
        if number is not None and math.isfinite(number):
            if int in types and number.is_integer() and "." not in value and "e" not in value.lower():
                value, ok = int(number), True
            elif float in types:
                value, ok = number, True
    if not ok:
        raise ConfigError(f"{prefix}{_show(value)} is a {type(value).__name__}; allowed: {param.allowed()}")
    if param.choices is not None and value not in param.choices:
        close = (
            closest_names(str(value), [str(c) for c in param.choices], n=2) if isinstance(value, str) else []
        )
        hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
        raise ConfigError(f"{prefix}{_show(value)} is not allowed{hint}; allowed: {param.allowed()}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if (
            not math.isfinite(value)
            or (param.minimum is not None and value < param.minimum)
            or (param.maximum is not None and value > param.maximum)
        ):
            raise ConfigError(f"{prefix}{_show(value)} is out of range; allowed: {param.allowed()}")
    if param.check is not None:
        problem = param.check(value)
        if problem:
            raise ConfigError(f"{prefix}{_show(value)}: {problem}")
    return value


def defaults_of(schema: Schema) -> dict:
    """The default config of a schema (a fresh deep copy)."""
    return {
        section: {k: copy.deepcopy(p.default) for k, p in params.items()}
        for section, params in schema.items()
    }


def merge_and_check(
    user: Mapping[str, Any],
    schema: Schema,
    *,
    source: str = "",
    free_sections: Iterable[str] = (),
) -> dict:
    """Merge ``user`` over the schema defaults and check every key, type and value.

    Sections named in ``free_sections`` are copied as given (a modality validates them itself, e.g.
    the data-processing section is validated by tinyverse). Unknown sections and keys are errors with
    the closest valid name.
    """
    free_sections = set(free_sections)
    resolved = defaults_of(schema)
    for section in free_sections:
        resolved.setdefault(section, {})
    known_sections = list(schema) + [s for s in free_sections if s not in schema]
    for section, values in user.items():
        if section not in known_sections:
            raise ConfigError(unknown_key_message(source, "", str(section), known_sections, kind="section"))
        if values is None:
            continue
        if not isinstance(values, dict):
            raise ConfigError(
                f"{_where(source)}section {section!r} must be a mapping of keys, not {_show(values)}"
            )
        if section in free_sections:
            resolved[section] = copy.deepcopy(values)
            continue
        params = schema[section]
        for key, value in values.items():
            if key not in params:
                raise ConfigError(unknown_key_message(source, f"{section}.", str(key), params))
            resolved[section][key] = coerce_value(
                source, f"{section}.{key}", copy.deepcopy(value), params[key]
            )
    return resolved


def check_required(
    resolved: Mapping[str, Any], schema: Schema, *, source: str = "", skip: Iterable[str] = ()
) -> None:
    """Raise for a required key left at ``None`` (sections in ``skip`` are not checked)."""
    skip = set(skip)
    for section, params in schema.items():
        if section in skip:
            continue
        for key, param in params.items():
            if param.required and resolved.get(section, {}).get(key) is None:
                raise ConfigError(
                    f"{_where(source)}{section}.{key} is required; set it in the YAML "
                    f"(allowed: {param.allowed()}) or with --set {section}.{key}=..."
                )


def dump_yaml(data: Any, path: str | os.PathLike) -> None:
    """Write ``data`` as YAML atomically (``path.<pid>.<thread>.tmp`` then ``os.replace``: processes writing the same
    file, such as search workers, never share a temporary file)."""
    path = os.fspath(path)
    tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            yaml.safe_dump(plain(data), f, sort_keys=False, default_flow_style=None)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def plain(data: Any) -> Any:
    """Turn tuples, numpy scalars and similar into plain YAML-safe Python values."""
    if isinstance(data, Mapping):
        return {str(k): plain(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [plain(v) for v in data]
    if isinstance(data, (str, bool, int, float)) or data is None:
        return data
    if hasattr(data, "item"):
        try:
            return data.item()
        except (ValueError, TypeError):
            pass
    if hasattr(data, "tolist"):
        return plain(data.tolist())
    if isinstance(data, os.PathLike):
        return os.fspath(data)
    return str(data)


# -- whole config ----------------------------------------------------------------------------------
def resolve_config(config: str | os.PathLike | Mapping[str, Any], overrides: Iterable[str] = ()) -> dict:
    """Read (if a path), override, merge over the modality's defaults and validate a project config.

    Returns the resolved config: every section with every key. Torch-free.
    """
    from .ai_modules.registry import get_target_module

    if isinstance(config, (str, os.PathLike)):
        source = os.fspath(config)
        user = load_yaml(source)
    else:
        source, user = "", copy.deepcopy(dict(config))
    overrides = list(overrides)
    user = apply_overrides(user, overrides)
    common = user.get("common") or {}
    if not isinstance(common, dict):
        raise ConfigError(f"{_where(source)}section 'common' must be a mapping of keys")
    module = get_target_module(common.get("target_module", "timeseries"))
    params = module.params
    try:
        resolved = merge_and_check(user, params.SCHEMA, source=source, free_sections=params.FREE_SECTIONS)
        return params.validate(resolved, source)
    except ConfigError as exc:  # a bad value given on the command line: say so, not only the file
        given = [o for o in overrides if o.split("=", 1)[0].strip() in str(exc)]
        if given:
            raise type(exc)(f"{exc} (the value comes from --set {given[-1]!r})") from None
        raise
