"""The one ONNX loader of the toolchain: read a model file (or take a proto), inline local functions.

Errors are :class:`~tinyml_tinyverse.common.errors.CompilationError` naming the file and the fix: a
missing file, an unreadable one, or weights kept in an external data file that is not beside it.
"""

from __future__ import annotations

from pathlib import Path

import onnx
import onnx.inliner
from onnx import shape_inference

from ..errors import CompilationError


def load_onnx_model(
    model: str | Path | onnx.ModelProto, *, load_external_data: bool = True
) -> onnx.ModelProto:
    """Load (if a path) and inline local functions (torch's dynamo exporter emits them)."""
    if isinstance(model, onnx.ModelProto):
        proto = model
    else:
        path = Path(model)
        if not path.is_file():
            raise CompilationError(f"cannot read ONNX model {path}: the file is not found (check the path)")
        try:
            proto = onnx.load(str(path), load_external_data=load_external_data)
        except Exception as exc:  # noqa: BLE001 - onnx and protobuf raise several types
            missing = _missing_external_data(path)
            if missing:
                raise CompilationError(
                    f"ONNX model {path} keeps its weights in {', '.join(missing)}, which is not next to it "
                    "(torch.onnx.export writes <model>.onnx.data beside <model>.onnx); copy that file along "
                    "with the model, or re-export with torch.onnx.export(..., external_data=False)"
                ) from exc
            raise CompilationError(
                f"cannot read ONNX model {path} ({type(exc).__name__}: {exc}); give an .onnx file exported "
                "from your framework (e.g. torch.onnx.export)"
            ) from exc
    if proto.functions:
        proto = onnx.inliner.inline_local_functions(proto)
    return proto


def with_inferred_shapes(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` (local functions inlined) with the shapes of its tensors inferred; the input is not modified."""
    model = load_onnx_model(model)
    try:
        return shape_inference.infer_shapes(model, data_prop=True)
    except Exception as exc:  # noqa: BLE001
        raise CompilationError(
            f"ONNX shape inference failed ({exc}); check the model with onnx.checker"
        ) from exc


def _missing_external_data(path: Path) -> list[str]:
    """The external weight files a model names that are not in its folder."""
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception:  # noqa: BLE001 - the file itself is unreadable; the caller reports it
        return []
    tensors = list(proto.graph.initializer) + [
        a.t for n in proto.graph.node for a in n.attribute if a.HasField("t")
    ]
    locations = {
        entry.value
        for t in tensors
        if onnx.external_data_helper.uses_external_data(t)
        for entry in t.external_data
        if entry.key == "location"
    }
    return sorted(loc for loc in locations if not (path.parent / loc).is_file())
