"""ONNX -> the compiler's flat float :class:`~.graph.Graph`.

Steps: load, inline and check (:mod:`.onnx_loader`, :mod:`.onnx_checks`: a malformed model is
refused there), check the input's rank and batch (a symbolic batch dimension is fixed to 1), fold
every node whose inputs are constants (the ``Shape -> Gather -> Concat -> Reshape`` chains of the
classic exporter; :mod:`.constant_folding`), translate each runtime node with its translator from
:data:`~.op.ONNX_OPS` (one per op family under ``ir/ops/``; each checks the attribute values its op
allows, with :func:`hw2`, :func:`spatial_pads`, :func:`window_output`, :func:`attribute_error`),
then run the graph passes (:mod:`.passes`). An op no translator knows gets a
:class:`CompilationError` naming the node, the op and the closest supported ops; every error of
:func:`import_onnx` names the model file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from ..errors import CompilationError, TinyMLError
from .constant_folding import FOLDABLE, attribute_error, describe_node, fold_constant_node, node_attrs
from .graph import Graph, Node, run_float_node
from .onnx_checks import QDQ_OPS, unsupported_op
from .onnx_loader import load_onnx_model, names_model_file
from .onnx_names import MAX_TENSOR_ELEMENTS
from .op import ONNX_OPS
from .passes import fold_batchnorm, fold_dense_bias, fold_pads, fuse_activations, prune_constants


def spatial_pads(
    a: dict, rank: int, in_hw, kernel, strides, dilations, node: onnx.NodeProto | None = None
) -> tuple[int, int, int, int]:
    """``(top, left, bottom, right)`` padding of a 1-D or 2-D conv / pool from its ONNX attributes."""
    pad_mode = text_attr(a, "auto_pad", "NOTSET")
    if pad_mode != "NOTSET" and "pads" in a:  # the ONNX spec forbids both; onnxruntime refuses the model
        raise attribute_error(node, f"auto_pad {pad_mode!r} with pads", list(a["pads"]),
                              "either auto_pad or pads, not both (auto_pad NOTSET to use pads)")  # fmt: skip
    if pad_mode in ("SAME_UPPER", "SAME_LOWER"):
        pads = []
        for i in range(2):
            out = -(-in_hw[i] // strides[i])
            total = max(0, (out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - in_hw[i])
            small, big = total // 2, total - total // 2
            pads.append((small, big) if pad_mode == "SAME_UPPER" else (big, small))
        return pads[0][0], pads[1][0], pads[0][1], pads[1][1]
    if pad_mode == "VALID":
        return 0, 0, 0, 0
    if pad_mode != "NOTSET":
        raise attribute_error(
            node, "auto_pad", repr(pad_mode), "one of NOTSET, SAME_UPPER, SAME_LOWER, VALID"
        )
    p = [int(v) for v in a.get("pads", [0] * (2 * rank))]
    if len(p) != 2 * rank or min(p) < 0 or max(p) > MAX_TENSOR_ELEMENTS:
        raise attribute_error(
            node,
            "pads",
            p,
            f"{2 * rank} values from 0 to {MAX_TENSOR_ELEMENTS} (begin and end of each spatial axis)",
        )
    if rank == 1:
        return p[0], 0, p[1], 0
    return p[0], p[1], p[2], p[3]


def hw2(v, rank: int, default: int = 1, node: onnx.NodeProto | None = None, key: str = "") -> tuple[int, int]:
    """A 1-D or 2-D attribute as (H, W); 1-D ops get ``default`` on W. It must hold ``rank`` values of
    at least 1 (at least 0 with ``default=0``); ``node`` and ``key`` name it in the error."""
    v = [default] * rank if v is None else [int(i) for i in v]
    lowest = min(default, 1)
    if len(v) != rank or min(v) < lowest or max(v) > MAX_TENSOR_ELEMENTS:
        raise attribute_error(
            node,
            key or "an attribute",
            v,
            f"{rank} value(s) from {lowest} to {MAX_TENSOR_ELEMENTS}, one per spatial axis",
        )
    return (v[0], default) if rank == 1 else (v[0], v[1])


def window_output(node, in_hw, kernel, strides, dilations, pads) -> tuple[int, int]:
    """Output size of a conv / pool window over ``in_hw``; the window must fit the padded input."""
    out = []
    for i in range(2):
        span = in_hw[i] + pads[i] + pads[i + 2] - ((kernel[i] - 1) * dilations[i] + 1)
        if span < 0:
            raise CompilationError(
                f"{describe_node(node)}: its window ({kernel[i]} taps, dilation {dilations[i]}) is larger than its "
                f"padded input ({in_hw[i]} + {pads[i]} + {pads[i + 2]}) on spatial axis {i}; fix kernel_shape or pads, "
                "or feed it a longer input"
            )
        out.append(span // strides[i] + 1)
    return out[0], out[1]


def text_attr(a: dict, key: str, default: str) -> str:
    v = a.get(key, default)
    return v.decode() if isinstance(v, bytes) else v


class Importer:
    """State of one import: constants, aliases and batch-1 values of the runtime tensors.

    Translators call :meth:`add` to append an IR node (its output is evaluated at once on the
    batch-1 values, which gives every tensor's shape), :meth:`const` for an operand that must be a
    constant, :meth:`shape` for a tensor's shape and :meth:`alias` for a pass-through.
    """

    def __init__(self, proto: onnx.ModelProto, name: str):
        self.proto = proto
        self.name = name
        self.consts: dict[str, np.ndarray] = {}
        self.values: dict[str, np.ndarray] = {}
        self.nodes: list[Node] = []
        self.aliases: dict[str, str] = {}

    # -- helpers for the translators
    def real(self, name: str) -> str:
        while name in self.aliases:
            name = self.aliases[name]
        return name

    def alias(self, output: str, tensor: str) -> None:
        """``output`` is ``tensor`` (Identity, Dropout)."""
        self.aliases[output] = self.real(tensor)

    def const(self, name: str, node: onnx.NodeProto, what: str) -> np.ndarray:
        name = self.real(name)
        if name not in self.consts:
            raise CompilationError(
                f"{describe_node(node)}: the {what} must be a constant (initializer); it is computed at run "
                "time, which the compiler does not support"
            )
        return self.consts[name]

    def shape(self, name: str) -> tuple[int, ...]:
        name = self.real(name)
        return tuple(self.values[name].shape) if name in self.values else tuple(self.consts[name].shape)

    def opset(self) -> int:
        return max((o.version for o in self.proto.opset_import if o.domain in ("", "ai.onnx")), default=1)

    def add(self, op: str, node: onnx.NodeProto, inputs: list[str], attrs=None, params=None, out=None) -> str:
        """Append the IR node ``op(inputs)`` for ONNX ``node``; returns its output name."""
        out = out or node.output[0]
        ir = Node(op, node.name or f"{op}_{len(self.nodes)}", [self.real(i) for i in inputs], [out],
                  attrs or {}, params or {})  # fmt: skip
        xs = [self.values[i] if i in self.values else self.consts[i] for i in ir.inputs]
        for key, value in ir.params.items():  # e.g. an alpha of 1e30 times a weight
            if not np.isfinite(value).all():
                raise CompilationError(
                    f"{describe_node(node)}: its {key} becomes NaN or infinite from its weights and attributes "
                    f"({ {k: v for k, v in node_attrs(node).items() if isinstance(v, float)} }); fix them"
                )
        try:
            y = run_float_node(ir, [np.asarray(x, dtype=np.float32) for x in xs])
        except CompilationError:
            raise
        except Exception as exc:  # noqa: BLE001 - report as a model error
            raise CompilationError(
                f"{describe_node(node)}: cannot evaluate with input shapes {[x.shape for x in xs]}: {exc}"
            ) from exc
        self.values[out] = y
        self.nodes.append(ir)
        return out

    def reshape_to(self, source: str, out: str, name: str, target: tuple[int, ...]) -> None:
        """Append a reshape of ``source`` to ``target`` named ``name`` (no ONNX node behind it)."""
        src = self.real(source)
        self.nodes.append(Node("reshape", name, [src], [out], dict(shape=tuple(int(t) for t in target))))
        self.values[out] = self.values[src].reshape(target)

    # -- the main loop
    def run(self) -> Graph:
        g = self.proto.graph
        for init in g.initializer:
            self.consts[init.name] = numpy_helper.to_array(init)
        self._input()
        unsupported = [n for n in g.node if not self._known(n)]
        if unsupported:  # name an unsupported op (LSTM, ...) before any shape error around it
            qdq = any(n.op_type in QDQ_OPS for n in unsupported)
            why = " (a quantized QDQ model: compile_model reads it, or quantization.qdq_import.import_qdq)"
            self._unsupported(unsupported[0], sorted({n.op_type for n in unsupported}), why if qdq else "")
        for node in g.node:
            self.translate(node)
        outputs = [self.real(o.name) for o in g.output]
        for o in outputs:
            if o not in self.values:
                raise CompilationError(
                    f"graph output {o!r} of {self.name} is a constant or not computed; nothing to compile"
                )
        shapes = {k: tuple(v.shape) for k, v in self.values.items() if k not in self.consts}
        used = {i for n in self.nodes for i in n.inputs if i in self.consts}
        graph = Graph(self.nodes, self.input_name, outputs, shapes,
                      {k: self.consts[k].astype(np.float32) for k in used}, self.name)  # fmt: skip
        for k in used:
            graph.shapes[k] = tuple(self.consts[k].shape)
        return graph

    def _input(self) -> None:
        """The one input (the loader checked it is float32 with static positive dims, batch maybe symbolic)."""
        g = self.proto.graph
        inp = next(i for i in g.input if i.name not in self.consts)
        dims = [d.dim_value if d.HasField("dim_value") else 1 for d in inp.type.tensor_type.shape.dim]
        if not 2 <= len(dims) <= 4:
            raise CompilationError(
                f"input {inp.name!r} has rank {len(dims)}; supported ranks are 2 to 4 (N x C x H x W)"
            )
        if dims[0] != 1:
            raise CompilationError(
                f"input {inp.name!r} has batch size {dims[0]}; export with batch size 1 (or a dynamic batch)"
            )
        if np.prod(dims, dtype=np.float64) > MAX_TENSOR_ELEMENTS:
            raise CompilationError(
                f"input {inp.name!r} of shape {dims} is too large: more than {MAX_TENSOR_ELEMENTS} values, far "
                "beyond the RAM of any target; export the model with the input size it runs on"
            )
        self.input_name = inp.name
        self.values[inp.name] = np.zeros(dims, dtype=np.float32)

    def _known(self, node: onnx.NodeProto) -> bool:
        return node.domain in ("", "ai.onnx") and (node.op_type in ONNX_OPS or node.op_type in FOLDABLE)

    def _unsupported(self, node: onnx.NodeProto, ops: list[str], why: str = "") -> None:
        raise unsupported_op(node, "", ops, why)  # import_onnx names the file

    def translate(self, node: onnx.NodeProto) -> None:
        try:
            self._translate(node)
        except TinyMLError:
            raise
        except Exception as exc:  # noqa: BLE001 - a malformed node: name it, never a deep traceback
            raise CompilationError(
                f"{describe_node(node)} cannot be translated ({type(exc).__name__}: {exc}); "
                "check the model with onnx.checker.check_model(model, full_check=True)"
            ) from exc

    def _translate(self, node: onnx.NodeProto) -> None:
        op = node.op_type
        if not self._known(node):
            self._unsupported(node, [op])
        present = [i for i in node.input if i]
        all_const = all(self.real(i) in self.consts for i in present)
        if op in FOLDABLE and (all_const or op == "Shape"):
            if op == "Shape":
                shape = self.shape(node.input[0])
                a = node_attrs(node)
                self.consts[node.output[0]] = np.array(shape, dtype=np.int64)[
                    a.get("start", 0) : a.get("end", len(shape))
                ]
                return
            xs = [self.consts[self.real(i)] if i else None for i in node.input]
            try:
                self.consts[node.output[0]] = np.asarray(fold_constant_node(node, xs))
            except (ValueError, IndexError, TypeError, KeyError) as exc:  # numpy says what does not fit
                shapes = [None if v is None else list(np.shape(v)) for v in xs]
                raise CompilationError(
                    f"{describe_node(node)}: its constant inputs (shapes {shapes}) do not fit the op ({exc}); "
                    "the model's shape computation is inconsistent: export the model again"
                ) from None
            return
        if op not in ONNX_OPS:
            self._unsupported(node, [op], " (it is folded only when all its inputs are constants)")
        ONNX_OPS[op](self, node, node_attrs(node))


@names_model_file
def import_onnx(model: str | Path | onnx.ModelProto) -> Graph:
    """Load, check and translate an ONNX model into an optimised float :class:`Graph`."""
    name = Path(model).name if isinstance(model, (str, Path)) else (model.graph.name or "model")
    proto = load_onnx_model(model)
    graph = Importer(proto, name).run()
    fold_pads(graph)
    fold_batchnorm(graph)
    fold_dense_bias(graph)
    fuse_activations(graph)
    prune_constants(graph)
    return graph
