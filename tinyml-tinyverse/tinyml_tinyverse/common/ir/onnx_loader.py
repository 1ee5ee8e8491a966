"""The one ONNX loader of the toolchain: read a model file (or take a proto), inline local functions, check it.

- the file: a regular file, not empty, at most ``TINYML_MAX_ONNX_MB`` (256 MB), parses as ONNX;
- external data: only files inside the model's folder, the bytes the tensor's shape needs, within
  the file; read into the model only when asked;
- local functions: inlined (torch's dynamo exporter emits them); recursive ones are refused;
- then every check of :mod:`.onnx_checks` (graph, nodes, tensors, shapes).

Errors are :class:`~tinyml_tinyverse.common.errors.CompilationError` naming the file, the node or
the tensor, and the fix. :func:`names_model_file` makes every error of a function taking a model
path name the file.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path

import onnx
import onnx.inliner
from onnx import shape_inference

from ..errors import CompilationError, TinyMLError
from .onnx_checks import check_onnx_model, check_text, stored_tensors, tensor_bytes

MAX_MODEL_MB_ENV = "TINYML_MAX_ONNX_MB"
MAX_MODEL_MB = 256.0
_P = onnx.TensorProto


# -- naming ---------------------------------------------------------------------------------------
def model_name(model) -> str:
    """How errors name a model: its path, or its graph's name for a proto."""
    if isinstance(model, (str, Path)):
        return str(model)
    graph = getattr(model, "graph", None)
    return f"model {graph.name!r}" if graph is not None and graph.name else "the model"


def names_model_file(fn: Callable) -> Callable:
    """Decorator: a :class:`TinyMLError` raised by ``fn(model, ...)`` names the model file (its path, once)."""

    @functools.wraps(fn)
    def wrapper(model, *args, **kwargs):
        try:
            return fn(model, *args, **kwargs)
        except TinyMLError as exc:
            path = str(model) if isinstance(model, (str, Path)) else ""
            if path and exc.args and path not in str(exc):
                exc.args = (f"{path}: {exc}", *exc.args[1:])
            raise

    return wrapper


# -- loading --------------------------------------------------------------------------------------
def load_onnx_model(
    model: str | Path | onnx.ModelProto, *, load_external_data: bool = True
) -> onnx.ModelProto:
    """Read (if a path), inline local functions and check the model (see the module doc).

    Returns a checked model: the given proto itself when nothing had to change, else a new one.
    """
    name = model_name(model)
    if isinstance(model, onnx.ModelProto):
        proto = model
    else:
        proto = _parse(Path(model))
    check_text(proto, name)
    _check_external_data(proto, name, Path(model).parent if isinstance(model, (str, Path)) else None,
                         load_external_data)  # fmt: skip
    if proto.functions:
        proto = _inline(proto, name)
    return check_onnx_model(proto, name)


def _parse(path: Path) -> onnx.ModelProto:
    if not path.exists():
        raise CompilationError(f"cannot read ONNX model {path}: the file is not found (check the path)")
    if not path.is_file():
        raise CompilationError(f"cannot read ONNX model {path}: it is a folder or a device, not a file")
    size = path.stat().st_size
    if size == 0:
        raise CompilationError(
            f"ONNX model {path} is empty (0 bytes): the export or the copy did not finish; export the model again"
        )
    limit = float(os.environ.get(MAX_MODEL_MB_ENV) or MAX_MODEL_MB)
    if size > limit * 1e6:
        raise CompilationError(
            f"ONNX model {path} is {size / 1e6:.1f} MB, above the {limit:g} MB limit of a model file (no target "
            f"holds such a model); raise the limit with the environment variable {MAX_MODEL_MB_ENV}=<MB>"
        )
    try:
        return onnx.load_from_string(path.read_bytes())
    except Exception as exc:  # noqa: BLE001 - protobuf raises several types
        raise CompilationError(
            f"cannot read ONNX model {path}: not a readable ONNX model (its bytes do not parse as an ONNX "
            "protobuf: the file is damaged, truncated or not ONNX); export it again from your framework "
            "(e.g. torch.onnx.export)"
        ) from exc


def _check_external_data(proto: onnx.ModelProto, name: str, folder: Path | None, load: bool) -> None:
    """External data: a file inside ``folder`` holding the tensor's bytes; read into the tensor when ``load``."""
    for t in stored_tensors(proto):
        if t.data_location != _P.EXTERNAL:
            continue
        info = {e.key: e.value for e in t.external_data}
        where = info.get("location", "")
        what = f"{name}: tensor {t.name!r} keeps its data in an external file {where!r}"
        if folder is None:
            raise CompilationError(f"{what}; give the path of the .onnx file (with its data file beside it)")
        try:
            inside, target = folder.resolve(), (folder / where).resolve()
        except (OSError, ValueError):  # e.g. a NUL byte in the name
            inside = target = None
        if not where or Path(where).is_absolute() or target is None or inside not in target.parents:
            raise CompilationError(
                f"{what}, outside the model's folder; refused (a model may only read data files beside it): "
                "re-export with torch.onnx.export(..., external_data=False)"
            )
        if not target.is_file():
            raise CompilationError(
                f"ONNX model {name} keeps its weights in {where}, which is not next to it (torch.onnx.export "
                "writes <model>.onnx.data beside <model>.onnx); copy that file along with the model, or "
                "re-export with torch.onnx.export(..., external_data=False)"
            )
        try:
            offset, length = int(info.get("offset", 0)), int(info.get("length", -1))
        except ValueError:
            raise CompilationError(f"{what} with an offset or length that is not a number") from None
        need = tensor_bytes(t)
        size = target.stat().st_size
        length = size - offset if length < 0 else length
        if need is None or offset < 0 or length != need or offset + length > size:
            raise CompilationError(
                f"{what}: bytes {offset} to {offset + length} of a {size}-byte file, but its shape "
                f"{list(t.dims)} needs {need} bytes; the data file does not belong to this model: copy the "
                "right one, or re-export with torch.onnx.export(..., external_data=False)"
            )
        if load:
            with open(target, "rb") as f:
                f.seek(offset)
                t.raw_data = f.read(length)
            del t.external_data[:]
            t.data_location = _P.DEFAULT


def _inline(proto: onnx.ModelProto, name: str) -> onnx.ModelProto:
    """Inline local functions; a function that calls itself (directly or not) is refused first."""
    calls = {(f.domain, f.name): {(n.domain, n.op_type) for n in f.node} for f in proto.functions}

    def cycle_from(fn, path):
        for callee in sorted(calls.get(fn, ())):
            if callee in path:
                return [*path, callee]
            if callee in calls:
                found = cycle_from(callee, [*path, callee])
                if found:
                    return found
        return None

    for fn in sorted(calls):
        cycle = cycle_from(fn, [fn])
        if cycle:
            chain = " -> ".join(f"{d}::{n}" for d, n in cycle)
            raise CompilationError(
                f"{name}: the model-local function {fn[0]}::{fn[1]} calls itself ({chain}); the compiler inlines "
                "local functions, so they must not be recursive: export the model without recursion"
            )
    try:
        return onnx.inliner.inline_local_functions(proto)
    except Exception as exc:  # noqa: BLE001 - onnx's C++ raises several types
        raise CompilationError(
            f"{name}: its model-local functions cannot be inlined ({_first_line(exc)}); export the model again"
        ) from exc


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0][:300]


def with_inferred_shapes(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` (checked, local functions inlined) with the shapes of its tensors inferred; the input is not modified."""
    model = load_onnx_model(model)
    try:
        return shape_inference.infer_shapes(model, data_prop=True)
    except Exception as exc:  # noqa: BLE001
        raise CompilationError(
            f"ONNX shape inference failed ({exc}); check the model with onnx.checker"
        ) from exc
