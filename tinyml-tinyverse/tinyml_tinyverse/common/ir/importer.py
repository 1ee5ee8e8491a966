"""ONNX -> the compiler's flat float :class:`~.graph.Graph`.

Steps: load and inline (:mod:`.onnx_loader`), check there is one input with a static shape (a
symbolic batch dimension is fixed to 1), fold every node whose inputs are constants (the
``Shape -> Gather -> Concat -> Reshape`` chains of the classic exporter; :mod:`.constant_folding`),
translate each runtime node with its translator from :data:`~.op.ONNX_OPS` (one per op family
under ``ir/ops/``), then run the graph passes (:mod:`.passes`). An op no translator knows gets a
:class:`CompilationError` naming the node, the op and the closest supported ops.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from ..errors import CompilationError, TinyMLError
from ..registry import unknown_name_message
from .constant_folding import FOLDABLE, describe_node, fold_constant_node, node_attrs
from .graph import Graph, Node, run_float_node
from .onnx_loader import load_onnx_model
from .op import ONNX_OPS
from .passes import fold_batchnorm, fold_dense_bias, fold_pads, fuse_activations, prune_constants


def spatial_pads(a: dict, rank: int, in_hw, kernel, strides, dilations) -> tuple[int, int, int, int]:
    """``(top, left, bottom, right)`` padding of a 1-D or 2-D conv / pool from its ONNX attributes."""
    pad_mode = a.get("auto_pad", b"NOTSET")
    pad_mode = pad_mode.decode() if isinstance(pad_mode, bytes) else pad_mode
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
    p = list(a.get("pads", [0] * (2 * rank)))
    if rank == 1:
        return p[0], 0, p[1], 0
    return p[0], p[1], p[2], p[3]


def hw2(v, rank: int, default: int = 1) -> tuple[int, int]:
    """A 1-D or 2-D attribute as (H, W); 1-D ops get ``default`` on W."""
    v = [default] * rank if v is None else list(v)
    return (int(v[0]), default) if rank == 1 else (int(v[0]), int(v[1]))


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
            self._unsupported(unsupported[0], sorted({n.op_type for n in unsupported}))
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
        g = self.proto.graph
        inputs = [i for i in g.input if i.name not in self.consts]
        if len(inputs) != 1:
            raise CompilationError(
                f"model {self.name} has {len(inputs)} inputs ({', '.join(i.name for i in inputs)}); "
                "the compiler supports exactly one input tensor"
            )
        inp = inputs[0]
        dims = []
        for k, d in enumerate(inp.type.tensor_type.shape.dim):
            if d.HasField("dim_value") and d.dim_value > 0:
                dims.append(d.dim_value)
            elif k == 0:
                dims.append(1)  # symbolic batch: compiled for batch 1
            else:
                raise CompilationError(
                    f"input {inp.name!r} of {self.name} has a dynamic dimension {k} "
                    f"({d.dim_param or '?'}); export the model with a fixed input shape"
                )
        if not 2 <= len(dims) <= 4:
            raise CompilationError(
                f"input {inp.name!r} has rank {len(dims)}; supported ranks are 2 to 4 (N x C x H x W)"
            )
        if dims[0] != 1:
            raise CompilationError(
                f"input {inp.name!r} has batch size {dims[0]}; export with batch size 1 (or a dynamic batch)"
            )
        self.input_name = inp.name
        self.values[inp.name] = np.zeros(dims, dtype=np.float32)

    def _known(self, node: onnx.NodeProto) -> bool:
        return node.domain in ("", "ai.onnx") and (node.op_type in ONNX_OPS or node.op_type in FOLDABLE)

    def _unsupported(self, node: onnx.NodeProto, ops: list[str], why: str = "") -> None:
        also = f" (unsupported ops in this model: {', '.join(ops)})" if len(ops) > 1 else ""
        domain = f" from domain {node.domain!r}" if node.domain not in ("", "ai.onnx") else ""
        raise CompilationError(
            f"{describe_node(node)}{domain} is not supported by the compiler{also}{why}: "
            + unknown_name_message("ONNX op", node.op_type, ONNX_OPS.keys())
            + ". Replace it in the model, or add a translator (see docs/quantization_and_compilation.md)"
        )

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
            self.consts[node.output[0]] = np.asarray(fold_constant_node(node, xs))
            return
        if op not in ONNX_OPS:
            self._unsupported(node, [op], " (it is folded only when all its inputs are constants)")
        ONNX_OPS[op](self, node, node_attrs(node))


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
