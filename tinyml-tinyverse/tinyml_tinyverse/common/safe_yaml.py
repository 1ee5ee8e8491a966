"""Read the YAML files users hand us (project config, model_config, data / augmenter config, spec YAML).

One loader for all of them, on top of ``yaml.SafeLoader`` (no Python objects), with bounds and
messages that name the file and the line:

- a file above :data:`MAX_YAML_MB` MB (``TINYML_MAX_YAML_MB`` raises it) or not a regular file
  (``/dev/zero``, a FIFO) is refused before it is read;
- bytes that are not UTF-8 name the line and column;
- values nested more than :data:`MAX_DEPTH` deep, and aliases (``*name``) that expand to more than
  :data:`MAX_VALUES` values (a "billion laughs" file), are refused;
- a key given twice in one mapping (a second ``model_name``, a second ``training:`` section) is an
  error naming both lines, where plain ``yaml.safe_load`` keeps the last one silently.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError, TinyMLError

MAX_YAML_MB = 1.0
SIZE_ENV = "TINYML_MAX_YAML_MB"
MAX_DEPTH = 100
MAX_VALUES = 1_000_000
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _Refused(Exception):
    """A bound or rule of this loader, raised inside PyYAML and turned into the caller's error."""

    def __init__(self, line: int | None, message: str):
        super().__init__(message)
        self.line = line


class _BoundedLoader(yaml.SafeLoader):
    """``SafeLoader`` that bounds nesting and refuses duplicate keys."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                line = self.peek_event().start_mark.line + 1
                raise _Refused(line, f"values are nested more than {MAX_DEPTH} deep; flatten the file")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, value_node in node.value:
                if key_node.tag == _MERGE_TAG or not isinstance(key_node, yaml.ScalarNode):
                    continue  # '<<' merges are meant to be overridden
                key = self.construct_object(key_node)
                line = key_node.start_mark.line + 1
                if key in seen:
                    section = isinstance(value_node, yaml.MappingNode)
                    raise _Refused(
                        line,
                        f"duplicate key {key!r} (first given at line {seen[key]}): YAML would silently keep only "
                        f"the last one; keep one {key!r}"
                        + (" and merge what the two hold" if section else ""),
                    )
                seen[key] = line
        return super().construct_mapping(node, deep=deep)

    def get_single_node(self):
        node = super().get_single_node()
        if node is not None:
            _check_expansion(node)
        return node


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _check_expansion(root: yaml.Node) -> None:
    """Refuse aliases that expand to more than MAX_VALUES values or MAX_DEPTH levels once constructed."""
    done: dict[int, tuple[int, int]] = {}  # id(node) -> (values, depth) after expansion
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in done:
            continue
        children = _children(node)
        if not children_done:
            stack.append((node, True))
            stack.extend((c, False) for c in children if id(c) not in done)
            continue
        values = min(MAX_VALUES + 1, 1 + sum(done[id(c)][0] for c in children))
        depth = 1 + max((done[id(c)][1] for c in children), default=0)
        done[id(node)] = (values, depth)
        if values > MAX_VALUES or depth > MAX_DEPTH:
            what = (
                f"more than {MAX_VALUES} values"
                if values > MAX_VALUES
                else f"more than {MAX_DEPTH} levels deep"
            )
            raise _Refused(
                node.start_mark.line + 1,
                f"its aliases (*name) expand to {what}; write the values out or use fewer aliases",
            )


def max_yaml_bytes() -> int:
    """The size limit of a YAML file: :data:`MAX_YAML_MB` MB, or the environment's ``TINYML_MAX_YAML_MB``."""
    raw = os.environ.get(SIZE_ENV)
    if raw is None:
        return int(MAX_YAML_MB * 1024 * 1024)
    try:
        mb = float(raw)
    except ValueError:
        mb = -1.0
    if not mb > 0:
        raise ConfigError(f"the environment variable {SIZE_ENV}={raw!r} must be a positive number of MB")
    return int(mb * 1024 * 1024)


def _line_of(text: str, position: int) -> int:
    return text.count("\n", 0, position) + 1


def _refusal(label: str, exc: _Refused | RecursionError, error: type[TinyMLError]) -> TinyMLError:
    if isinstance(exc, RecursionError):  # a bound above missed a shape: still a clear error
        return error(f"{label}: values are nested too deep to read; flatten the file")
    return error(f"{label}{f': line {exc.line}' if exc.line else ''}: {exc}")


def parse_yaml_value(text: str, label: str, *, error: type[TinyMLError] = ConfigError) -> Any:
    """A value typed on a command line (``--set key=value``): parsed as YAML within the bounds of this
    module; text that is not valid YAML is kept as the string itself."""
    try:
        return yaml.load(text, Loader=_BoundedLoader)  # noqa: S506 - a SafeLoader subclass
    except (_Refused, RecursionError) as exc:
        raise _refusal(label, exc, error) from None
    except yaml.YAMLError:
        return text


def load_yaml_text(text: str, label: str = "<text>", *, error: type[TinyMLError] = ConfigError) -> Any:
    """Parse YAML ``text`` with the bounds of this module; errors name ``label`` and the line."""
    try:
        return yaml.load(text, Loader=_BoundedLoader)  # noqa: S506 - a SafeLoader subclass
    except (_Refused, RecursionError) as exc:
        raise _refusal(label, exc, error) from None
    except yaml.reader.ReaderError as exc:
        raise error(
            f"{label}: line {_line_of(text, exc.position)}: the character U+{exc.character:04X} is not allowed in YAML "
            f"text; remove it"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f": line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise error(f"{label}{where}: not valid YAML ({problem}); fix the file") from None


def read_yaml_text(path: str | os.PathLike, label: str, *, error: type[TinyMLError] = ConfigError) -> str:
    """The text of a YAML file: a regular file within the size limit, decoded as UTF-8."""
    limit = max_yaml_bytes()
    try:
        st = os.stat(path)
    except OSError as exc:
        raise error(f"{label}: cannot read it ({exc.strerror or exc})") from None
    if not stat.S_ISREG(st.st_mode):
        kind = "a folder" if stat.S_ISDIR(st.st_mode) else "a device, pipe or socket"
        raise error(f"{label}: is {kind}, not a regular file; give the path of a YAML file")
    if st.st_size > limit:
        raise error(
            f"{label}: {st.st_size / 1e6:.1f} MB is above the {limit / 1e6:.1f} MB limit of a YAML config file; "
            f"keep data out of config files (or raise the limit with the environment variable {SIZE_ENV}=<MB>)"
        )
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise error(f"{label}: cannot read it ({exc.strerror or exc})") from None
    if len(data) > limit:  # grew while we looked
        raise error(f"{label}: larger than the {limit / 1e6:.1f} MB limit of a YAML config file ({SIZE_ENV})")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise error(
            f"{label}: line {line}, column {column}: byte 0x{data[exc.start]:02x} is not UTF-8 text; save the "
            f"file as UTF-8"
        ) from None


def load_yaml_file(path: str | os.PathLike, *, what: str = "", error: type[TinyMLError] = ConfigError) -> Any:
    """Read and parse the YAML file ``path`` (``None`` for an empty file).

    ``what`` names the kind of file in messages (``"model_config file"``); ``error`` is the
    :class:`TinyMLError` subclass raised for every problem.
    """
    label = f"{what} {os.fspath(path)}" if what else os.fspath(path)
    if not Path(path).exists():
        raise error(f"{label}: does not exist; check the path")
    return load_yaml_text(read_yaml_text(path, label, error=error), label, error=error)
