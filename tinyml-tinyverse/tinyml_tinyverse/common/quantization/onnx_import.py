"""Load an ONNX model into the compiler's flat float :class:`~.graph_ir.Graph`.

Steps: load, inline local functions (torch's dynamo exporter emits them), check there is one input
with a static shape (a symbolic batch dimension is fixed to 1), fold every node whose inputs are
constants (the ``Shape -> Gather -> Concat -> Reshape`` chains of the classic exporter), translate
the supported ops, then fold batch norms, ``MatMul + Add`` and Relu/Clip into their producers.
Unsupported ops get a :class:`CompilationError` naming the node and the op.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnx.inliner
from onnx import numpy_helper

from ..errors import CompilationError
from .constant_folding import FOLDABLE, describe_node, fold_constant_node, int_list, node_attrs
from .graph_ir import Graph, Node, run_float_node
from .graph_passes import fold_batchnorm, fold_dense_bias, fold_pads, fuse_activations, prune_constants
from .unary import UNARY_FUNCTIONS, unary_attrs

SUPPORTED_OPS = (
    "Conv ConvTranspose MaxPool AveragePool GlobalAveragePool GlobalMaxPool Gemm MatMul Relu Clip "
    "Sigmoid Tanh Softmax BatchNormalization Add Sub Mul Div Concat Reshape Flatten Squeeze Unsqueeze "
    "Resize Upsample Identity Dropout Constant ReduceMean Gather Transpose Pad Slice"
).split() + [f for f in UNARY_FUNCTIONS if f != "GeluTanh"]


def load_onnx_model(model: str | Path | onnx.ModelProto) -> onnx.ModelProto:
    """Load (if a path) and inline local functions; errors name the file."""
    if isinstance(model, onnx.ModelProto):
        proto = model
    else:
        path = Path(model)
        if not path.is_file():
            raise CompilationError(f"ONNX model not found: {path}")
        try:
            proto = onnx.load(str(path))
        except Exception as exc:  # noqa: BLE001 - onnx raises several types
            missing = _missing_external_data(path)
            if missing:
                raise CompilationError(
                    f"ONNX model {path} keeps its weights in {', '.join(missing)}, which is not next to it "
                    "(torch.onnx.export writes <model>.onnx.data beside <model>.onnx); copy that file along "
                    "with the model, or re-export with torch.onnx.export(..., external_data=False)"
                ) from exc
            raise CompilationError(f"cannot read ONNX model {path}: {exc}") from exc
    if proto.functions:
        proto = onnx.inliner.inline_local_functions(proto)
    return proto


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


# -- translation of runtime ops ------------------------------------------------------------------
def _pads2d(a: dict, rank: int, in_hw, kernel, strides, dilations, node) -> tuple[int, int, int, int]:
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


def _hw2(v, rank: int, default: int = 1) -> tuple[int, int]:
    """A 1-D or 2-D attribute as (H, W); 1-D ops get ``default`` on W."""
    v = [default] * rank if v is None else list(v)
    return (int(v[0]), default) if rank == 1 else (int(v[0]), int(v[1]))


class _Importer:
    def __init__(self, proto: onnx.ModelProto, name: str):
        self.proto = proto
        self.name = name
        self.consts: dict[str, np.ndarray] = {}
        self.values: dict[str, np.ndarray] = {}  # dummy batch-1 values of runtime tensors
        self.nodes: list[Node] = []
        self.alias: dict[str, str] = {}

    # helpers
    def real(self, name: str) -> str:
        while name in self.alias:
            name = self.alias[name]
        return name

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

    def add(
        self, op: str, node: onnx.NodeProto, inputs: list[str], attrs=None, params=None, out=None
    ) -> None:
        out = out or node.output[0]
        ir = Node(
            op,
            node.name or f"{op}_{len(self.nodes)}",
            [self.real(i) for i in inputs],
            [out],
            attrs or {},
            params or {},
        )
        xs = [self.values[i] if i in self.values else self.consts[i] for i in ir.inputs]
        try:
            y = run_float_node(ir, [np.asarray(x, dtype=np.float32) for x in xs])
        except Exception as exc:  # noqa: BLE001 - report as a model error
            raise CompilationError(
                f"{describe_node(node)}: cannot evaluate with input shapes {[x.shape for x in xs]}: {exc}"
            ) from exc
        self.values[out] = y
        self.nodes.append(ir)

    # main loop
    def run(self) -> Graph:
        g = self.proto.graph
        for init in g.initializer:
            self.consts[init.name] = numpy_helper.to_array(init)
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

        # Name an unsupported op (LSTM, GRU, ...) before any shape error of the nodes around it.
        unsupported = [
            n
            for n in g.node
            if n.domain in ("", "ai.onnx") and n.op_type not in SUPPORTED_OPS + list(FOLDABLE)
        ]
        if unsupported:
            ops = sorted({n.op_type for n in unsupported})
            also = f" (unsupported ops in this model: {', '.join(ops)})" if len(ops) > 1 else ""
            raise CompilationError(
                f"{describe_node(unsupported[0])} is not supported by the compiler{also}; "
                f"supported ops: {', '.join(SUPPORTED_OPS)}"
            )

        for node in g.node:
            self.translate(node)

        outputs = [self.real(o.name) for o in g.output]
        for o in outputs:
            if o not in self.values:
                raise CompilationError(
                    f"graph output {o!r} of {self.name} is a constant or not computed; nothing to compile"
                )
        shapes = {k: tuple(v.shape) for k, v in self.values.items() if k not in self.consts}
        used_consts = {i for n in self.nodes for i in n.inputs if i in self.consts}
        graph = Graph(
            self.nodes,
            self.input_name,
            outputs,
            shapes,
            {k: self.consts[k].astype(np.float32) for k in used_consts},
            self.name,
        )
        for k in used_consts:
            graph.shapes[k] = tuple(self.consts[k].shape)
        return graph

    def translate(self, node: onnx.NodeProto) -> None:
        op = node.op_type
        ins = [i for i in node.input]
        present = [i for i in ins if i]
        if node.domain not in ("", "ai.onnx"):
            raise CompilationError(
                f"{describe_node(node)} from domain {node.domain!r} is not supported; supported ops: {', '.join(SUPPORTED_OPS)}"
            )
        all_const = all(self.real(i) in self.consts for i in present)
        if op in FOLDABLE and (all_const or op == "Shape"):
            if op == "Shape":
                shape = self.shape(node.input[0])
                start, end = node_attrs(node).get("start", 0), node_attrs(node).get("end", len(shape))
                self.consts[node.output[0]] = np.array(shape, dtype=np.int64)[start:end]
                return
            xs = [self.consts[self.real(i)] if i else None for i in ins]
            self.consts[node.output[0]] = np.asarray(fold_constant_node(node, xs))
            return
        if op not in SUPPORTED_OPS:
            raise CompilationError(
                f"{describe_node(node)} is not supported by the compiler; supported ops: {', '.join(SUPPORTED_OPS)}"
            )
        if op in UNARY_FUNCTIONS:
            a = node_attrs(node)
            if op == "Gelu" and a.pop("approximate", b"none") in (b"tanh", "tanh"):
                op = "GeluTanh"
            self.add("unary", node, [node.input[0]], dict(function=op, **unary_attrs(op, a)))
            return
        getattr(self, f"op_{op}")(node, node_attrs(node))

    # -- op translators
    def op_Identity(self, node, a):
        self.alias[node.output[0]] = self.real(node.input[0])

    op_Dropout = op_Identity

    def _conv_common(self, node, a, w_shape_kernel):
        x_shape = self.shape(node.input[0])
        rank = len(x_shape) - 2
        if rank not in (1, 2):
            raise CompilationError(
                f"{describe_node(node)}: only 1-D and 2-D convolutions are supported (input shape {x_shape})"
            )
        kernel = _hw2(w_shape_kernel, rank)
        strides = _hw2(a.get("strides"), rank)
        dil = _hw2(a.get("dilations"), rank)
        in_hw = (x_shape[2], 1 if rank == 1 else x_shape[3])
        return rank, kernel, strides, dil, in_hw

    def op_Conv(self, node, a):
        w = self.const(node.input[1], node, "weight").astype(np.float32)
        rank, kernel, strides, dil, in_hw = self._conv_common(node, a, w.shape[2:])
        pads = _pads2d(a, rank, in_hw, kernel, strides, dil, node)
        b = (
            self.const(node.input[2], node, "bias")
            if len(node.input) > 2 and node.input[2]
            else np.zeros(w.shape[0])
        )
        w4 = w.reshape(w.shape[:2] + kernel)
        self.add("conv", node, [node.input[0]], dict(strides=strides, pads=pads, dilations=dil, group=int(a.get("group", 1)), act=None),
                 dict(w=w4, b=b.astype(np.float32)))  # fmt: skip

    def op_ConvTranspose(self, node, a):
        w = self.const(node.input[1], node, "weight").astype(np.float32)  # [Cin, Cout/g, k...]
        rank, kernel, strides, dil, in_hw = self._conv_common(node, a, w.shape[2:])
        group = int(a.get("group", 1))
        cin, cout_g = w.shape[:2]
        w = (
            w.reshape((group, cin // group, cout_g) + kernel)
            .transpose(0, 2, 1, 3, 4)
            .reshape((group * cout_g, cin // group) + kernel)
        )
        out_pad = _hw2(a.get("output_padding"), rank, 0)
        if "output_shape" in a or a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            raise CompilationError(
                f"{describe_node(node)}: ConvTranspose with output_shape or auto_pad is not supported; use pads"
            )
        p = list(a.get("pads", [0] * (2 * rank)))
        pads = (p[0], 0, p[1], 0) if rank == 1 else tuple(p)
        out_hw = [
            (in_hw[i] - 1) * strides[i] - pads[i] - pads[i + 2] + (kernel[i] - 1) * dil[i] + 1 + out_pad[i]
            for i in range(2)
        ]
        cout = group * cout_g
        b = (
            self.const(node.input[2], node, "bias")
            if len(node.input) > 2 and node.input[2]
            else np.zeros(cout)
        )
        self.add("conv_transpose", node, [node.input[0]],
                 dict(strides=strides, pads=pads, dilations=dil, group=group, output_padding=out_pad, act=None, out_hw=tuple(out_hw)),
                 dict(w=w, b=b.astype(np.float32)))  # fmt: skip

    def _pool(self, node, a, kind, global_pool=False):
        x_shape = self.shape(node.input[0])
        rank = len(x_shape) - 2
        if rank not in (1, 2):
            raise CompilationError(
                f"{describe_node(node)}: only 1-D and 2-D pooling is supported (input shape {x_shape})"
            )
        in_hw = (x_shape[2], 1 if rank == 1 else x_shape[3])
        if global_pool:
            kernel, strides, pads, ceil = in_hw, (1, 1), (0, 0, 0, 0), 0
        else:
            kernel = _hw2(a["kernel_shape"], rank)
            strides = _hw2(a.get("strides"), rank)
            if any(d != 1 for d in a.get("dilations", [1])):
                raise CompilationError(f"{describe_node(node)}: pooling with dilation is not supported")
            pads = _pads2d(a, rank, in_hw, kernel, strides, (1, 1), node)
            ceil = int(a.get("ceil_mode", 0))
        out_hw = []
        for i in range(2):
            span = in_hw[i] + pads[i] + pads[i + 2] - kernel[i]
            o = (-(-span // strides[i]) if ceil else span // strides[i]) + 1
            if ceil and (o - 1) * strides[i] >= in_hw[i] + pads[i]:
                o -= 1
            out_hw.append(o)
        op = "maxpool" if kind == "max" else "avgpool"
        attrs = dict(kernel=tuple(kernel), strides=tuple(strides), pads=tuple(pads), out_hw=tuple(out_hw))
        if op == "avgpool":
            attrs["count_include_pad"] = int(a.get("count_include_pad", 0))
        self.add(op, node, [node.input[0]], attrs)

    def op_ReduceMean(self, node, a):
        x_shape = self.shape(node.input[0])
        rank = len(x_shape)
        if "axes" in a:
            axes = a["axes"]
        elif len(node.input) > 1 and node.input[1]:
            axes = int_list(self.const(node.input[1], node, "axes"))
        else:
            axes = list(range(rank))
        axes = sorted({int(i) % rank for i in axes})
        keep = int(a.get("keepdims", 1))
        if (
            axes
            and 0 not in axes
            and axes == list(range(axes[0], rank))
            and (rank not in (3, 4) or axes[0] < 2)
        ):
            self._mean_by_dense(node, x_shape, axes, keep)
            return
        if rank not in (3, 4) or not axes or any(ax < 2 for ax in axes):
            raise CompilationError(
                f"{describe_node(node)}: ReduceMean is supported over the spatial axes (2, 3) of a 3-D or 4-D tensor, "
                f"got axes {axes} of shape {x_shape}"
            )
        in_hw = (x_shape[2], x_shape[3] if rank == 4 else 1)
        kernel = (in_hw[0] if 2 in axes else 1, in_hw[1] if 3 in axes else 1)
        out_hw = (in_hw[0] // kernel[0], in_hw[1] // kernel[1])
        attrs = dict(kernel=kernel, strides=kernel, pads=(0, 0, 0, 0), out_hw=out_hw, count_include_pad=0)
        if keep:
            self.add("avgpool", node, [node.input[0]], attrs)
            return
        mid = node.output[0] + "__keepdims"
        self.add("avgpool", node, [node.input[0]], attrs, out=mid)
        target = tuple(d for i, d in enumerate(x_shape) if i not in axes)
        self.nodes.append(
            Node("reshape", f"{node.name}_squeeze", [mid], [node.output[0]], dict(shape=target))
        )
        self.values[node.output[0]] = self.values[mid].reshape(target)

    def _mean_by_dense(self, node, x_shape, axes, keep) -> None:
        """Mean over trailing axes: reshape to (1, rows, K), a dense layer of weights 1/K, reshape back."""
        k = int(np.prod([x_shape[i] for i in axes]))
        rows = int(np.prod(x_shape[1 : axes[0]]))
        flat, mean = node.output[0] + "__rows", node.output[0] + "__mean"
        base = node.name or "ReduceMean"
        self.nodes.append(
            Node("reshape", f"{base}_rows", [self.real(node.input[0])], [flat], dict(shape=(1, rows, k)))
        )
        self.values[flat] = self.values[self.real(node.input[0])].reshape(1, rows, k)
        w = np.full((1, k), 1.0 / k, dtype=np.float32)
        self.add("dense", node, [flat], dict(act=None), dict(w=w, b=np.zeros(1, np.float32)), out=mean)
        target = (
            tuple(1 if i in axes else d for i, d in enumerate(x_shape))
            if keep
            else tuple(d for i, d in enumerate(x_shape) if i not in axes)
        )
        self.nodes.append(Node("reshape", f"{base}_out", [mean], [node.output[0]], dict(shape=target)))
        self.values[node.output[0]] = self.values[mean].reshape(target)

    def op_MaxPool(self, node, a):
        if len(node.output) > 1 and node.output[1]:
            raise CompilationError(f"{describe_node(node)}: MaxPool with indices output is not supported")
        self._pool(node, a, "max")

    def op_AveragePool(self, node, a):
        self._pool(node, a, "avg")

    def op_GlobalAveragePool(self, node, a):
        self._pool(node, a, "avg", global_pool=True)

    def op_GlobalMaxPool(self, node, a):
        self._pool(node, a, "max", global_pool=True)

    def op_Gemm(self, node, a):
        if a.get("transA", 0):
            raise CompilationError(f"{describe_node(node)}: Gemm with transA=1 is not supported")
        w = self.const(node.input[1], node, "weight (input B)").astype(np.float32)
        w = w if a.get("transB", 0) else w.T
        w = w * float(a.get("alpha", 1.0))
        n_out = w.shape[0]
        b = np.zeros(n_out, np.float32)
        if len(node.input) > 2 and node.input[2]:
            c = self.const(node.input[2], node, "bias (input C)").astype(np.float32) * float(
                a.get("beta", 1.0)
            )
            if c.size not in (1, n_out):
                raise CompilationError(f"{describe_node(node)}: bias of shape {c.shape} is not supported")
            b = np.broadcast_to(c.ravel(), (n_out,)).astype(np.float32)
        self.add("dense", node, [node.input[0]], dict(act=None), dict(w=np.ascontiguousarray(w), b=b))

    def op_MatMul(self, node, a):
        if self.real(node.input[1]) not in self.consts:
            raise CompilationError(
                f"{describe_node(node)}: MatMul of two run-time tensors is not supported; the second input must be a weight"
            )
        w = self.consts[self.real(node.input[1])].astype(np.float32)
        if w.ndim != 2:
            raise CompilationError(f"{describe_node(node)}: MatMul weight must be 2-D, got shape {w.shape}")
        self.add(
            "dense",
            node,
            [node.input[0]],
            dict(act=None),
            dict(w=np.ascontiguousarray(w.T), b=np.zeros(w.shape[1], np.float32)),
        )

    def op_Relu(self, node, a):
        self.add("clamp", node, [node.input[0]], dict(lo=0.0, hi=float("inf")))

    def op_Clip(self, node, a):
        lo, hi = a.get("min", -np.inf), a.get("max", np.inf)
        if len(node.input) > 1 and node.input[1]:
            lo = float(self.const(node.input[1], node, "min"))
        if len(node.input) > 2 and node.input[2]:
            hi = float(self.const(node.input[2], node, "max"))
        self.add("clamp", node, [node.input[0]], dict(lo=float(lo), hi=float(hi)))

    def op_Sigmoid(self, node, a):
        self.add("sigmoid", node, [node.input[0]])

    def op_Tanh(self, node, a):
        self.add("tanh", node, [node.input[0]])

    def op_Softmax(self, node, a):
        rank = len(self.shape(node.input[0]))
        default = (
            -1
            if self.proto.opset_import
            and max(o.version for o in self.proto.opset_import if o.domain in ("", "ai.onnx")) >= 13
            else 1
        )
        axis = int(a.get("axis", default)) % rank
        if default == 1 and axis != rank - 1:
            raise CompilationError(
                f"{describe_node(node)}: opset<13 Softmax over axes {axis}.. is only supported on the last axis"
            )
        if axis == 0:
            raise CompilationError(f"{describe_node(node)}: Softmax over the batch axis is not supported")
        self.add("softmax", node, [node.input[0]], dict(axis=axis))

    def op_BatchNormalization(self, node, a):
        gamma, beta, mean, var = (
            self.const(node.input[i], node, n).astype(np.float64)
            for i, n in zip(range(1, 5), ("scale", "B", "mean", "var"))
        )
        scale = gamma / np.sqrt(var + float(a.get("epsilon", 1e-5)))
        shift = beta - mean * scale
        self.add(
            "batchnorm",
            node,
            [node.input[0]],
            {},
            dict(scale=scale.astype(np.float32), shift=shift.astype(np.float32)),
        )

    def _binary(self, node, op):
        x0, x1 = self.real(node.input[0]), self.real(node.input[1])
        if op == "div":
            if x1 not in self.consts:
                raise CompilationError(
                    f"{describe_node(node)}: division by a run-time tensor is not supported; only division by a constant"
                )
            recip = (1.0 / self.consts[x1].astype(np.float64)).astype(np.float32)
            name = f"{x1}__reciprocal"
            self.consts[name] = recip
            x1, op = name, "mul"
        if x0 in self.consts and x1 in self.consts:
            raise CompilationError(f"{describe_node(node)}: both inputs are constants")
        for x in (x0, x1):
            if x in self.consts:
                self.consts[x] = self.consts[x].astype(np.float32)
        self.add(op, node, [x0, x1], dict(act=None) if op != "mul" else {})

    def op_Add(self, node, a):
        self._binary(node, "add")

    def op_Sub(self, node, a):
        self._binary(node, "sub")

    def op_Mul(self, node, a):
        self._binary(node, "mul")

    def op_Div(self, node, a):
        self._binary(node, "div")

    def op_Concat(self, node, a):
        rank = len(self.shape(node.input[0]))
        axis = int(a["axis"]) % rank
        if axis == 0:
            raise CompilationError(f"{describe_node(node)}: Concat over the batch axis is not supported")
        for i in node.input:
            if self.real(i) in self.consts:
                raise CompilationError(
                    f"{describe_node(node)}: Concat with a constant input is not supported"
                )
        self.add("concat", node, list(node.input), dict(axis=axis))

    def _reshape_to(self, node, target: tuple[int, ...]):
        x_shape = self.shape(node.input[0])
        if int(np.prod(target)) != int(np.prod(x_shape)) or target[0] != 1:
            raise CompilationError(
                f"{describe_node(node)}: reshape of {x_shape} to {target} is not supported (the batch dimension must stay first)"
            )
        self.add("reshape", node, [node.input[0]], dict(shape=tuple(int(t) for t in target)))

    def op_Reshape(self, node, a):
        target = int_list(self.const(node.input[1], node, "target shape"))
        x_shape = self.shape(node.input[0])
        target = [x_shape[i] if t == 0 and not a.get("allowzero", 0) else t for i, t in enumerate(target)]
        if -1 in target:
            known = int(np.prod([t for t in target if t != -1]))
            target[target.index(-1)] = int(np.prod(x_shape)) // max(known, 1)
        self._reshape_to(node, tuple(target))

    def op_Flatten(self, node, a):
        x_shape = self.shape(node.input[0])
        ax = int(a.get("axis", 1)) % len(x_shape) if a.get("axis", 1) != len(x_shape) else len(x_shape)
        self._reshape_to(node, (int(np.prod(x_shape[:ax])), int(np.prod(x_shape[ax:]))))

    def op_Squeeze(self, node, a):
        x_shape = self.shape(node.input[0])
        axes = (
            a.get("axes")
            if "axes" in a
            else (
                int_list(self.const(node.input[1], node, "axes"))
                if len(node.input) > 1 and node.input[1]
                else None
            )
        )
        axes = (
            [i for i, d in enumerate(x_shape) if d == 1 and i > 0]
            if axes is None
            else [int(i) % len(x_shape) for i in axes]
        )
        self._reshape_to(node, tuple(d for i, d in enumerate(x_shape) if i not in axes) or (1,))

    def op_Unsqueeze(self, node, a):
        x_shape = list(self.shape(node.input[0]))
        axes = a["axes"] if "axes" in a else int_list(self.const(node.input[1], node, "axes"))
        out_rank = len(x_shape) + len(axes)
        for ax in sorted(int(i) % out_rank for i in axes):
            x_shape.insert(ax, 1)
        self._reshape_to(node, tuple(x_shape))

    def op_Resize(self, node, a):
        mode = a.get("mode", b"nearest")
        mode = mode.decode() if isinstance(mode, bytes) else mode
        if mode != "nearest":
            raise CompilationError(
                f"{describe_node(node)}: Resize mode {mode!r} is not supported; only 'nearest'"
            )
        x_shape = self.shape(node.input[0])
        rank = len(x_shape)
        if rank not in (3, 4):
            raise CompilationError(
                f"{describe_node(node)}: Resize supports 3-D and 4-D tensors, got {x_shape}"
            )
        ins = list(node.input) + [""] * 4
        if node.op_type == "Upsample":
            scales = self.const(ins[1], node, "scales") if ins[1] else np.array(a["scales"])
            sizes = None
        else:
            scales = self.consts.get(self.real(ins[2])) if ins[2] else None
            sizes = self.consts.get(self.real(ins[3])) if ins[3] else None
            if scales is not None and scales.size == 0:
                scales = None
        if sizes is not None and sizes.size:
            out = [int(s) for s in sizes]
            scales = np.array([o / i for o, i in zip(out, x_shape)], dtype=np.float64)
        elif scales is not None:
            scales = np.asarray(scales, dtype=np.float64)
            out = [int(np.floor(i * s)) for i, s in zip(x_shape, scales)]
        else:
            raise CompilationError(f"{describe_node(node)}: Resize needs constant scales or sizes")
        if out[0] != x_shape[0] or out[1] != x_shape[1]:
            raise CompilationError(
                f"{describe_node(node)}: Resize may only scale the spatial axes, got {x_shape} -> {out}"
            )
        ctm = a.get("coordinate_transformation_mode", b"half_pixel")
        ctm = ctm.decode() if isinstance(ctm, bytes) else ctm
        if node.op_type == "Upsample":
            ctm = "asymmetric"
        nm = a.get("nearest_mode", b"round_prefer_floor")
        nm = nm.decode() if isinstance(nm, bytes) else nm
        if node.op_type == "Upsample":
            nm = "floor"
        maps = []
        for ax in range(2, 4):
            n_in = x_shape[ax] if ax < rank else 1
            n_out = out[ax] if ax < rank else 1
            s = scales[ax] if ax < rank else 1.0
            o = np.arange(n_out, dtype=np.float64)
            if ctm == "asymmetric":
                src = o / s
            elif ctm == "half_pixel":
                src = (o + 0.5) / s - 0.5
            elif ctm == "pytorch_half_pixel":
                src = (o + 0.5) / s - 0.5 if n_out > 1 else np.zeros_like(o)
            elif ctm == "align_corners":
                src = o * (n_in - 1) / max(n_out - 1, 1)
            else:
                raise CompilationError(
                    f"{describe_node(node)}: coordinate_transformation_mode {ctm!r} is not supported"
                )
            if nm == "floor":
                idx = np.floor(src)
            elif nm == "ceil":
                idx = np.ceil(src)
            elif nm == "round_prefer_ceil":
                idx = np.floor(src + 0.5)
            else:  # round_prefer_floor
                idx = np.ceil(src - 0.5)
            maps.append([int(i) for i in np.clip(idx, 0, n_in - 1)])
        self.add("resize", node, [node.input[0]], dict(index_h=maps[0], index_w=maps[1]))

    op_Upsample = op_Resize

    def op_Transpose(self, node, a):
        rank = len(self.shape(node.input[0]))
        perm = [int(p) for p in a.get("perm", list(range(rank))[::-1])]
        if perm[0] != 0:
            raise CompilationError(
                f"{describe_node(node)}: Transpose may not move the batch axis (perm {perm})"
            )
        if rank > 5:
            raise CompilationError(
                f"{describe_node(node)}: Transpose of more than 4 dimensions per sample is not supported"
            )
        self.add("transpose", node, [node.input[0]], dict(perm=perm))

    def op_Pad(self, node, a):
        mode = a.get("mode", b"constant")
        mode = mode.decode() if isinstance(mode, bytes) else mode
        if mode != "constant":
            raise CompilationError(
                f"{describe_node(node)}: Pad mode {mode!r} is not supported; only 'constant'"
            )
        x_shape = self.shape(node.input[0])
        rank = len(x_shape)
        if len(node.input) > 1 and node.input[1]:
            pads = int_list(self.const(node.input[1], node, "pads"))
        else:
            pads = [int(p) for p in a.get("pads", [])]
        if len(node.input) > 3 and node.input[3]:
            raise CompilationError(f"{describe_node(node)}: Pad with an axes input is not supported")
        value = (
            float(np.asarray(self.const(node.input[2], node, "value")).ravel()[0])
            if len(node.input) > 2 and node.input[2]
            else float(a.get("value", 0.0))
        )
        begin, end = pads[:rank], pads[rank:]
        if rank not in (3, 4) or any(begin[i] or end[i] for i in range(2)) or min(pads) < 0:
            raise CompilationError(
                f"{describe_node(node)}: Pad is supported on the spatial axes of a 3-D/4-D tensor with pads >= 0, got {pads}"
            )
        spatial = (begin[2], begin[3] if rank == 4 else 0, end[2], end[3] if rank == 4 else 0)
        self.add("pad", node, [node.input[0]], dict(pads=spatial, value=value))

    def op_Slice(self, node, a):
        """A strided slice of a run-time tensor with constant starts / ends / axes / steps."""
        x_shape = self.shape(node.input[0])
        rank = len(x_shape)
        ins = list(node.input) + [""] * 5
        if "starts" in a:  # opset < 10
            starts, ends = list(a["starts"]), list(a["ends"])
            axes = list(a.get("axes", range(len(starts))))
            steps = [1] * len(starts)
        else:
            starts = int_list(self.const(ins[1], node, "starts"))
            ends = int_list(self.const(ins[2], node, "ends"))
            axes = int_list(self.const(ins[3], node, "axes")) if ins[3] else list(range(len(starts)))
            steps = int_list(self.const(ins[4], node, "steps")) if ins[4] else [1] * len(starts)
        begin = [0] * rank
        step = [1] * rank
        count = list(x_shape)
        for st, en, ax, sp in zip(starts, ends, axes, steps):
            ax = int(ax) % rank
            idx = range(x_shape[ax])[slice(st, en, sp)]
            if ax == 0 and len(idx) != x_shape[0]:
                raise CompilationError(f"{describe_node(node)}: Slice may not cut the batch axis")
            if ax and len(idx) == 0:
                raise CompilationError(f"{describe_node(node)}: Slice gives an empty tensor on axis {ax}")
            if ax:
                begin[ax], step[ax], count[ax] = idx.start, idx.step, len(idx)
        if rank > 5:
            raise CompilationError(
                f"{describe_node(node)}: Slice of more than 4 dimensions per sample is not supported"
            )
        self.add("slice", node, [node.input[0]], dict(begin=begin, step=step, count=count))

    def op_Gather(self, node, a):
        """Gather of constant indices: a strided slice (scalar or evenly spaced indices on any
        non-batch axis) or a nearest-neighbour index map (any indices along axis 2 or 3)."""
        x_shape = self.shape(node.input[0])
        rank = len(x_shape)
        axis = int(a.get("axis", 0)) % rank
        idx = self.consts.get(self.real(node.input[1]))
        if idx is None or idx.ndim > 1 or axis == 0:
            raise CompilationError(
                f"{describe_node(node)}: Gather needs constant scalar or 1-D indices on a non-batch axis"
            )
        flat = [int(i) % x_shape[axis] for i in np.asarray(idx).ravel()]
        steps = {b - a_ for a_, b in zip(flat, flat[1:])}
        if len(steps) <= 1 and (not steps or min(steps) > 0):
            begin, step, count = [0] * rank, [1] * rank, list(x_shape)
            begin[axis], step[axis], count[axis] = flat[0], (steps.pop() if steps else 1), len(flat)
            if idx.ndim == 1:
                self.add("slice", node, [node.input[0]], dict(begin=begin, step=step, count=count))
                return
            mid = node.output[0] + "__slice"
            self.add("slice", node, [node.input[0]], dict(begin=begin, step=step, count=count), out=mid)
            target = tuple(d for k, d in enumerate(x_shape) if k != axis)
            self.nodes.append(
                Node("reshape", f"{node.name}_squeeze", [mid], [node.output[0]], dict(shape=target))
            )
            self.values[node.output[0]] = self.values[mid].reshape(target)
            return
        if idx.ndim != 1 or rank not in (3, 4) or axis < 2:
            raise CompilationError(
                f"{describe_node(node)}: Gather of arbitrary indices is supported only along axis 2 or 3 of a 3-D/4-D tensor"
            )
        index_h = flat if axis == 2 else list(range(x_shape[2]))
        index_w = flat if axis == 3 else list(range(x_shape[3] if rank == 4 else 1))
        self.add("resize", node, [node.input[0]], dict(index_h=index_h, index_w=index_w))


def import_onnx(model: str | Path | onnx.ModelProto) -> Graph:
    """Load, check and translate an ONNX model into an optimised float :class:`Graph`."""
    name = Path(model).name if isinstance(model, (str, Path)) else (model.graph.name or "model")
    proto = load_onnx_model(model)
    graph = _Importer(proto, name).run()
    fold_pads(graph)
    fold_batchnorm(graph)
    fold_dense_bias(graph)
    fuse_activations(graph)
    prune_constants(graph)
    return graph
