"""The checks of an ONNX model, run once by the loader (:mod:`.onnx_loader`) before the importer sees it.

A model that fails one gets a :class:`~tinyml_tinyverse.common.errors.CompilationError` naming the
file, the node (name and op type) or the tensor, and the fix:

- text: every name, op type and domain is UTF-8 text;
- the model: an IR version and a default-domain opset the compiler reads (7 to the newest the
  installed ``onnx`` knows);
- the graph: nodes, outputs, exactly one float32 input whose dimensions are positive and static
  (a symbolic batch dimension is fine), every node input produced by a node, an initializer or the
  input, one producer per tensor, no cycles (nodes out of order are sorted: ONNX's order);
- nodes: ops ONNX or the compiler knows (else the op registry's near matches), the number of
  inputs and outputs and the attributes (names, types, required ones, finite floats) of the op's
  ONNX schema;
- tensors: supported data types, non-negative dims, data of the size the dims say, no NaN / Inf;
- shapes: ONNX shape inference in strict mode (attribute lengths, shapes that do not fit); no
  inferred tensor above :data:`MAX_TENSOR_ELEMENTS` values.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator

import numpy as np
import onnx
import onnx.defs
from onnx import numpy_helper, shape_inference

from ..errors import CompilationError
from ..registry import unknown_name_message
from .onnx_names import MAX_TENSOR_ELEMENTS, describe_node

MIN_OPSET = 7  # older opsets gave Add / Mul other broadcasting rules
DEFAULT_DOMAINS = ("", "ai.onnx")
_P = onnx.TensorProto
# data types of initializers and Constant values the compiler reads (weights, shapes, indices, QDQ)
TENSOR_TYPES = {
    _P.FLOAT,
    _P.DOUBLE,
    _P.FLOAT16,
    _P.INT8,
    _P.UINT8,
    _P.INT16,
    _P.UINT16,
    _P.INT32,
    _P.INT64,
    _P.BOOL,
}
FLOAT_TYPES = {_P.FLOAT, _P.DOUBLE, _P.FLOAT16}
QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")  # read by the QDQ importer, not translated


def unsupported_op(node: onnx.NodeProto, name: str, ops=(), why: str = "") -> CompilationError:
    """The error for an op the compiler does not translate: the node, the closest known ops, the fix."""
    from .op import ONNX_OPS

    name = f"{name}: " if name else ""
    if node.domain not in DEFAULT_DOMAINS:
        same = f"; ONNX's own {node.op_type} is supported (domain '')" if node.op_type in ONNX_OPS else ""
        return CompilationError(
            f"{name}{describe_node(node)} is from domain {node.domain!r}: a custom or vendor op, which the "
            f"compiler does not translate{same}. Export the model with standard ONNX ops, or add a translator "
            "(see docs/quantization_and_compilation.md)"
        )
    also = f" (unsupported ops in this model: {', '.join(ops)})" if len(ops) > 1 else ""
    return CompilationError(
        f"{name}{describe_node(node)} is not supported by the compiler{also}{why}: "
        + unknown_name_message("ONNX op", node.op_type, ONNX_OPS.keys())
        + ". Replace it in the model, or add a translator (see docs/quantization_and_compilation.md)"
    )


# -- the checks ---------------------------------------------------------------------------------
def check_text(proto: onnx.ModelProto, name: str) -> None:
    """Every name, op type and domain is text (a damaged file gives bytes that are not UTF-8)."""

    def texts():
        yield "the graph name", proto.graph.name
        for o in proto.opset_import:
            yield "an opset domain", o.domain
        for kind, infos in (("graph input", proto.graph.input), ("graph output", proto.graph.output),
                            ("value info", proto.graph.value_info)):  # fmt: skip
            for v in infos:
                yield f"a {kind} name", v.name
        for t in stored_tensors(proto):
            yield "a tensor name", t.name
            for e in t.external_data:
                yield f"the external data of tensor {t.name!r}", e.value
        for f in proto.functions:
            yield "a function name", f.name
            yield "a function domain", f.domain
        for k, n in enumerate([*proto.graph.node, *(n for f in proto.functions for n in f.node)]):
            for what in ("name", "op_type", "domain"):
                yield f"node #{k}'s {what}", getattr(n, what)
            for i in [*n.input, *n.output]:
                yield f"a tensor name of node #{k}", i
            for a in n.attribute:
                yield f"an attribute name of node #{k}", a.name

    for what, value in texts():
        if not isinstance(value, str):
            raise CompilationError(
                f"{name}: {what} is not UTF-8 text ({value[:40]!r}); the file is damaged: export the model again"
            )


def stored_tensors(proto: onnx.ModelProto) -> Iterator[onnx.TensorProto]:
    """Initializers and Constant values of the graph and of its local functions."""
    yield from proto.graph.initializer
    for nodes in [proto.graph.node, *(f.node for f in proto.functions)]:
        for n in nodes:
            for a in n.attribute:
                if a.HasField("t"):
                    yield a.t


def tensor_bytes(t: onnx.TensorProto) -> int | None:
    if t.data_type not in TENSOR_TYPES or any(d < 0 for d in t.dims):
        return None
    return math.prod(t.dims) * onnx.helper.tensor_dtype_to_np_dtype(t.data_type).itemsize


def check_onnx_model(proto: onnx.ModelProto, name: str = "the model") -> onnx.ModelProto:
    """Check a loaded model (local functions inlined); returns it, or a copy with its nodes sorted."""
    opset = _check_versions(proto, name)
    g = proto.graph
    if g.sparse_initializer:
        t = g.sparse_initializer[0].values
        raise CompilationError(
            f"{name}: sparse initializer {t.name!r} is not supported; store the weights dense (torch exports them dense)"
        )
    inits = _check_initializers(g, name)
    if not g.node:
        raise CompilationError(
            f"{name}: the graph has no nodes (no layers); nothing to compile: export the model with its layers"
        )
    inp = _check_input(g, name, inits)
    for node in g.node:
        _check_node(node, name, opset)
    proto = _sorted(proto, name, inp.name, inits)
    _check_outputs(proto.graph, name, inp.name)
    # ops the compiler translates but ONNX does not define at this opset (add_op_package): no strict inference
    strict = all(onnx.defs.has(n.op_type, opset, "") for n in proto.graph.node)
    _check_shapes(proto, name, strict)
    return proto


def _check_versions(proto: onnx.ModelProto, name: str) -> int:
    newest = onnx.defs.onnx_opset_version()
    if not 3 <= proto.ir_version <= onnx.IR_VERSION:
        raise CompilationError(
            f"{name}: ONNX IR version {proto.ir_version} is not supported (this onnx package reads 3 to "
            f"{onnx.IR_VERSION}); export the model again with a current exporter"
        )
    versions = [o.version for o in proto.opset_import if o.domain in DEFAULT_DOMAINS]
    if not versions:
        raise CompilationError(
            f"{name}: the model declares no ONNX opset (opset_import has no default-domain entry); export it again"
        )
    if len(versions) > 1:
        raise CompilationError(
            f"{name}: the model declares the ONNX opset {len(versions)} times ({versions}); keep one opset_import entry"
        )
    if not MIN_OPSET <= versions[0] <= newest:
        raise CompilationError(
            f"{name}: ONNX opset {versions[0]} is not supported: the compiler reads opsets {MIN_OPSET} to {newest}; "
            "export with opset_version between 13 and 18"
        )
    return versions[0]


def _check_initializers(g: onnx.GraphProto, name: str) -> set[str]:
    seen: set[str] = set()
    for t in g.initializer:
        if not t.name:
            raise CompilationError(f"{name}: an initializer has no name; export the model again")
        if t.name in seen:
            raise CompilationError(f"{name}: initializer {t.name!r} is given twice; keep one")
        seen.add(t.name)
        check_tensor(t, f"{name}: initializer {t.name!r}")
    return seen


def check_tensor(t: onnx.TensorProto, what: str) -> np.ndarray | None:
    """Check a stored tensor (data type, dims, data size, finite values); returns its values (None: not loaded)."""
    if t.data_type not in TENSOR_TYPES:
        kind = (
            onnx.TensorProto.DataType.Name(t.data_type)
            if t.data_type in _P.DataType.values()
            else t.data_type
        )
        raise CompilationError(
            f"{what} has the data type {kind}, which the compiler does not read (float, int and bool tensors); "
            "export the model again"
        )
    dims = list(t.dims)
    if any(d < 0 for d in dims):
        raise CompilationError(f"{what} has a negative dimension in its shape {dims}; export the model again")
    count = math.prod(dims)
    if t.HasField("segment"):
        raise CompilationError(
            f"{what} is stored in segments, which the compiler does not read; export it again"
        )
    if t.data_location == _P.EXTERNAL:  # not loaded: its file and size were checked
        return None
    itemsize = onnx.helper.tensor_dtype_to_np_dtype(t.data_type).itemsize
    if t.raw_data:
        have, need, unit = len(t.raw_data), count * itemsize, "bytes"
    else:
        have, need, unit = len(getattr(t, onnx.helper.tensor_dtype_to_field(t.data_type))), count, "values"
    if have != need:
        raise CompilationError(
            f"{what} holds {have} {unit} of data but its shape {dims} needs {need}; the file is damaged: export "
            "the model again"
        )
    if count > MAX_TENSOR_ELEMENTS:
        raise CompilationError(
            f"{what} holds {count} values (shape {dims}), more than {MAX_TENSOR_ELEMENTS}: far beyond the "
            "memory of any target; check the model"
        )
    values = numpy_helper.to_array(t)
    if t.data_type in FLOAT_TYPES and not np.isfinite(values).all():
        bad = int(np.size(values) - np.isfinite(values).sum())
        raise CompilationError(
            f"{what} holds {bad} NaN or infinite value(s) of {np.size(values)}: the weights are broken (e.g. "
            "training diverged); retrain, or export a checkpoint whose weights are finite"
        )
    return values


def _check_input(g: onnx.GraphProto, name: str, inits: set[str]) -> onnx.ValueInfoProto:
    inputs = [i for i in g.input if i.name not in inits]
    if len(inputs) != 1:
        listed = f" ({', '.join(repr(i.name) for i in inputs)})" if inputs else ""
        raise CompilationError(
            f"{name}: the model has {len(inputs)} inputs{listed}; the compiler supports exactly one input "
            "tensor: export the model with one input"
        )
    inp = inputs[0]
    if not inp.name:
        raise CompilationError(f"{name}: the model's input has no name; export the model again")
    if not inp.type.HasField("tensor_type"):
        raise CompilationError(
            f"{name}: input {inp.name!r} is not a tensor (a sequence, map or optional); the compiler needs one "
            "float32 tensor input"
        )
    tensor = inp.type.tensor_type
    if tensor.elem_type != _P.FLOAT:
        raise CompilationError(
            f"{name}: input {inp.name!r} is {_type_name(tensor.elem_type)}; the compiler compiles float32 inputs only "
            "(the generated C takes float, or int8 after quantization): export the model with a float32 input"
        )
    if not tensor.HasField("shape"):
        raise CompilationError(
            f"{name}: input {inp.name!r} has no shape; export the model with a fixed input shape"
        )
    for k, d in enumerate(tensor.shape.dim):
        if d.HasField("dim_value") and d.dim_value <= 0:
            raise CompilationError(
                f"{name}: input {inp.name!r} dimension {k} is {d.dim_value}; every dimension must be at least 1 "
                "(a zero or negative size holds no data): export the model with its real input shape"
            )
        if not d.HasField("dim_value") and k > 0:
            raise CompilationError(
                f"{name}: input {inp.name!r} has a dynamic dimension {k} ({d.dim_param or 'unknown'!r}), a dynamic shape "
                "the compiler cannot size; export the model with a fixed input size (only the batch may be symbolic)"
            )
    return inp


def _type_name(elem_type: int) -> str:
    if elem_type in _P.DataType.values():
        return _P.DataType.Name(elem_type).lower()
    return f"of unknown data type {elem_type}"


def _check_node(node: onnx.NodeProto, name: str, opset: int) -> None:
    from .constant_folding import FOLDABLE
    from .op import ONNX_OPS

    if node.domain not in DEFAULT_DOMAINS or not onnx.defs.has(node.op_type, ""):
        if node.domain in DEFAULT_DOMAINS and node.op_type in ONNX_OPS:
            return  # a compiler op ONNX does not define (yet): the translator checks it
        raise unsupported_op(node, name)
    if not any(node.output):
        raise CompilationError(f"{name}: {describe_node(node)} has no output; export the model again")
    attrs = [a.name for a in node.attribute]
    twice = sorted({a for a in attrs if attrs.count(a) > 1})
    if twice:
        raise CompilationError(
            f"{name}: {describe_node(node)} has the attribute {twice[0]!r} twice; keep one"
        )
    try:
        schema = onnx.defs.get_schema(node.op_type, opset, "")
    except Exception:  # noqa: BLE001 - the op is newer than the model's opset
        if node.op_type in ONNX_OPS or node.op_type in FOLDABLE:
            return
        raise unsupported_op(node, name, why=f" (ONNX defines it after opset {opset})") from None
    n_in, n_out = len(node.input), len(node.output)
    for k, i in enumerate(node.input):
        formal = schema.inputs[min(k, len(schema.inputs) - 1)] if schema.inputs else None
        if (
            not i
            and formal is not None
            and formal.option != onnx.defs.OpSchema.FormalParameterOption.Optional
        ):
            raise CompilationError(
                f"{name}: {describe_node(node)} has no tensor for its input {k} ({formal.name}), which ONNX requires; "
                "export the model again"
            )
    for what, n, lo, hi in (("inputs", n_in, schema.min_input, schema.max_input),
                            ("outputs", n_out, schema.min_output, schema.max_output)):  # fmt: skip
        if not lo <= n <= hi:
            allowed = f"{lo}" if lo == hi else (f"at least {lo}" if hi > 1000 else f"{lo} to {hi}")
            raise CompilationError(
                f"{name}: {describe_node(node)} has {n} {what}; ONNX {node.op_type} (opset {opset}) takes {allowed}: "
                "export the model again"
            )
    for a in node.attribute:
        spec = schema.attributes.get(a.name)
        if spec is None:
            raise CompilationError(
                f"{name}: {describe_node(node)} has an attribute {a.name!r} that ONNX {node.op_type} (opset {opset}) "
                f"does not define (it has {', '.join(sorted(schema.attributes)) or 'none'}); export the model again"
            )
        if a.type != int(spec.type):
            raise CompilationError(
                f"{name}: {describe_node(node)}: attribute {a.name!r} is {_attr_type(a.type)}, but ONNX defines it as "
                f"{_attr_type(int(spec.type))}; export the model again"
            )
        if a.HasField("t"):
            check_tensor(a.t, f"{name}: {describe_node(node)}: the tensor of attribute {a.name!r}")
        floats = [a.f] if a.type == onnx.AttributeProto.FLOAT else list(a.floats)
        unbounded = node.op_type == "Clip" and a.name in ("min", "max")  # +-inf: no bound
        if not all(math.isfinite(f) or (unbounded and not math.isnan(f)) for f in floats):
            raise CompilationError(
                f"{name}: {describe_node(node)}: attribute {a.name!r} is {floats if len(floats) > 1 else floats[0]}, "
                "not a finite number; export the model again"
            )
        for text in [a.s] if a.type == onnx.AttributeProto.STRING else list(a.strings):
            try:
                text.decode("utf-8")
            except UnicodeDecodeError:
                raise CompilationError(
                    f"{name}: {describe_node(node)}: attribute {a.name!r} is {text[:40]!r}, not UTF-8 text; export "
                    "the model again"
                ) from None
    missing = [k for k, spec in schema.attributes.items() if spec.required and k not in attrs]
    if missing:
        raise CompilationError(
            f"{name}: {describe_node(node)} lacks its required attribute {missing[0]!r}; export the model again"
        )


def _attr_type(t: int) -> str:
    names = onnx.AttributeProto.AttributeType
    return names.Name(t).lower() if t in names.values() else f"of unknown type {t}"


def _sorted(proto: onnx.ModelProto, name: str, input_name: str, inits: set[str]) -> onnx.ModelProto:
    """Check every node input has one producer and there is no cycle; nodes out of order are sorted."""
    g = proto.graph
    producer: dict[str, int] = {}
    for k, node in enumerate(g.node):
        for out in node.output:
            if not out:
                continue
            if out in producer:
                raise CompilationError(
                    f"{name}: tensor {out!r} is written by two nodes, {describe_node(g.node[producer[out]])} and "
                    f"{describe_node(node)}; each tensor must have one producer: export the model again"
                )
            if out == input_name or out in inits:
                what = "the model input" if out == input_name else "an initializer"
                raise CompilationError(
                    f"{name}: {describe_node(node)} writes {out!r}, which is also {what}; export the model again"
                )
            producer[out] = k
    needs: list[set[int]] = []
    for node in g.node:
        deps = set()
        for i in node.input:
            if not i or i == input_name or i in inits:
                continue
            if i not in producer:
                raise CompilationError(
                    f"{name}: {describe_node(node)} reads tensor {i!r}, which no node computes and no initializer or "
                    "input holds (a dangling edge: the graph was cut or renamed); export the model again"
                )
            deps.add(producer[i])
        needs.append(deps)
    order: list[int] = []
    done: set[int] = set()
    state: dict[int, int] = {}  # 1: on the current path, 2: finished

    def visit(k: int, path: list[int]) -> None:  # depth first, iterative over long chains
        stack = [(k, iter(sorted(needs[k])))]
        state[k] = 1
        path.append(k)
        while stack:
            node_k, deps = stack[-1]
            dep = next(deps, None)
            if dep is None:
                stack.pop()
                path.pop()
                state[node_k] = 2
                order.append(node_k)
                done.add(node_k)
            elif state.get(dep) == 1:
                cycle = [*path[path.index(dep) :], dep]
                chain = " -> ".join(describe_node(g.node[c]) for c in cycle)
                raise CompilationError(
                    f"{name}: the graph has a cycle: {chain}; ONNX graphs must be acyclic: export the model again"
                )
            elif dep not in done:
                state[dep] = 1
                path.append(dep)
                stack.append((dep, iter(sorted(needs[dep]))))

    for k in range(len(g.node)):
        if k not in done:
            visit(k, [])
    if order == list(range(len(g.node))):
        return proto
    out = onnx.ModelProto()
    out.CopyFrom(proto)
    del out.graph.node[:]
    out.graph.node.extend(g.node[k] for k in order)
    return out


def _check_outputs(g: onnx.GraphProto, name: str, input_name: str) -> None:
    if not g.output:
        raise CompilationError(
            f"{name}: the graph has no outputs; nothing to compile: export the model again"
        )
    produced = {o for n in g.node for o in n.output if o}
    seen: set[str] = set()
    for o in g.output:
        if o.name in seen:
            raise CompilationError(f"{name}: graph output {o.name!r} is listed twice; keep one")
        seen.add(o.name)
        if o.name == input_name:
            raise CompilationError(
                f"{name}: graph output {o.name!r} is the model input itself; nothing computes it: export the model again"
            )
        if o.name not in produced:
            raise CompilationError(
                f"{name}: graph output {o.name!r} is not computed by any node (the graph was cut or renamed); "
                "export the model again"
            )
        elem = o.type.tensor_type.elem_type if o.type.HasField("tensor_type") else -1
        if elem not in (_P.FLOAT, _P.UNDEFINED):
            raise CompilationError(
                f"{name}: graph output {o.name!r} is {_type_name(elem) if elem >= 0 else 'not a tensor'}; the compiled "
                "model computes float32 outputs: end the model with a float tensor (drop an ArgMax or Cast at the end)"
            )


_INFERENCE_RE = re.compile(r"\(op_type:([^,)]*)(?:, node name: ([^)]*))?\):\s*(.*)", re.S)


def _check_shapes(proto: onnx.ModelProto, name: str, strict: bool = True) -> None:
    """ONNX shape inference (strict: any inconsistency is an error); every tensor it infers holds at most
    MAX_TENSOR_ELEMENTS values."""
    try:
        inferred = shape_inference.infer_shapes(proto, check_type=strict, strict_mode=strict, data_prop=True)
    except Exception as exc:  # noqa: BLE001 - onnx's C++ raises several types
        text = re.sub(r"\[\w+Error\]\s*", "", str(exc)).strip()
        m = _INFERENCE_RE.search(text)
        where = f"node {m.group(2) or '(unnamed)'!r} (op {m.group(1)}): " if m else ""
        detail = (m.group(3) if m else text).strip().splitlines()[0][:300] if text else "no detail"
        raise CompilationError(
            f"{name}: {where}ONNX shape inference fails: {detail}; the model is inconsistent (an attribute, a "
            "weight or a declared shape does not fit): export it again"
        ) from None
    producers = {o: n for n in proto.graph.node for o in n.output}
    for v in [*inferred.graph.value_info, *inferred.graph.output]:
        if not v.type.HasField("tensor_type") or not v.type.tensor_type.HasField("shape"):
            continue
        dims = [d.dim_value for d in v.type.tensor_type.shape.dim if d.HasField("dim_value")]
        if math.prod(dims) > MAX_TENSOR_ELEMENTS:
            node = producers.get(v.name)
            by = f" (written by {describe_node(node)})" if node is not None else ""
            raise CompilationError(
                f"{name}: tensor {v.name!r}{by} would hold {math.prod(dims)} values (shape {dims}), more than "
                f"{MAX_TENSOR_ELEMENTS}: far beyond the RAM of any target; check the model's sizes (input, "
                "strides, Resize scales)"
            )
