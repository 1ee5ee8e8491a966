"""A small flat graph IR for the compiler, and a numpy executor of its float form.

The ONNX importer turns any supported ONNX model into a :class:`Graph`: one input, static shapes
(batch fixed to 1 for the C code; numpy runs any batch), nodes in execution order, each node with
one output and its weights as float arrays. The same numpy kernels (``conv2d``, ``pool2d``, ...)
serve the float executor here and the integer reference in ``reference.py``; they are written for
any dtype, so with int64 inputs they do exact integer arithmetic.

Ops of the float IR and their attributes:
  conv            strides(2) pads(t,l,b,r) dilations(2) group, params w [Cout,Cin/g,kh,kw], b; act
  conv_transpose  as conv, w stored as [Cout, Cin/g, kh, kw], plus output_padding; act
  dense           params w [Nout, K], b [Nout]: y[..., n] = x[..., :] @ w[n] + b[n]; act
  maxpool/avgpool kernel(2) strides(2) pads(4) [count_include_pad]; global avg = full kernel
  clamp           lo, hi (Relu, Clip)          sigmoid, tanh, softmax(axis)
  unary           function (an op of unary.UNARY_FUNCTIONS) and its attributes, e.g. LeakyRelu alpha
  add, sub, mul   two inputs (tensor or constant name), numpy broadcasting; act (add, sub)
  concat(axis)    reshape(shape per sample)    resize(index maps for H and W, nearest)    transpose(perm)
  pad             pads (t, l, b, r), value (constant padding of H and W)
  slice           begin, step, count per axis (a strided view; batch axis whole)
  batchnorm       params scale, shift (y = x * scale[c] + shift[c]); removed by fold passes
``act`` is ``None`` or ``(lo, hi)``: a Relu/Clip fused into the producing node.
1-D ops (tensors ``N x C x L``) are stored as 2-D ops with ``W = 1``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

FLOAT_OPS = (
    "conv",
    "conv_transpose",
    "dense",
    "maxpool",
    "avgpool",
    "clamp",
    "sigmoid",
    "tanh",
    "unary",
    "softmax",
    "add",
    "sub",
    "mul",
    "concat",
    "reshape",
    "resize",
    "transpose",
    "pad",
    "slice",
    "batchnorm",
)


@dataclass
class Node:
    """One operation: ``outputs[0] = op(inputs...)``."""

    op: str
    name: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)

    @property
    def output(self) -> str:
        return self.outputs[0]


@dataclass
class Graph:
    """A flat graph with one input and static per-sample shapes (batch dimension 1)."""

    nodes: list[Node]
    input_name: str
    output_names: list[str]
    shapes: dict[str, tuple[int, ...]]
    constants: dict[str, np.ndarray] = field(default_factory=dict)
    name: str = "model"

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.shapes[self.input_name]

    def producer(self, tensor: str) -> Node | None:
        for n in self.nodes:
            if tensor in n.outputs:
                return n
        return None

    def consumers(self, tensor: str) -> list[Node]:
        return [n for n in self.nodes if tensor in n.inputs]

    def use_count(self, tensor: str) -> int:
        """Number of node inputs plus graph outputs reading ``tensor``."""
        return sum(n.inputs.count(tensor) for n in self.nodes) + self.output_names.count(tensor)

    def op_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for n in self.nodes:
            counts[n.op] = counts.get(n.op, 0) + 1
        return counts


# -- numpy kernels shared by the float executor and the integer reference ------------------------
def as_nchw(x: np.ndarray) -> np.ndarray:
    """View a ``N x C x L`` tensor as ``N x C x L x 1``; 4-D tensors pass through."""
    return x.reshape(x.shape + (1,) * (4 - x.ndim)) if x.ndim < 4 else x


def _windows(xp: np.ndarray, kernel, strides, dilations, out_hw) -> np.ndarray:
    """``N x C x OH x OW x kh x kw`` windows of a padded tensor (a view)."""
    kh, kw = kernel
    dh, dw = dilations
    sh, sw = strides
    win = np.lib.stride_tricks.sliding_window_view(xp, ((kh - 1) * dh + 1, (kw - 1) * dw + 1), axis=(2, 3))
    win = win[:, :, ::sh, ::sw, ::dh, ::dw]
    return win[:, :, : out_hw[0], : out_hw[1]]


def slice_nd(x: np.ndarray, a: dict) -> np.ndarray:
    """Strided slice ``begin + k * step`` (``count`` entries) on every non-batch axis."""
    index = (slice(None),) + tuple(
        slice(b, b + (c - 1) * st + 1, st) for b, st, c in zip(a["begin"][1:], a["step"][1:], a["count"][1:])
    )
    return np.ascontiguousarray(x[index])


def pad2d(x: np.ndarray, pads, value) -> np.ndarray:
    """Constant padding of H and W by ``pads`` = (top, left, bottom, right)."""
    return np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])), constant_values=value)


def conv_out_hw(in_hw, kernel, strides, pads, dilations) -> tuple[int, int]:
    return tuple(
        (in_hw[i] + pads[i] + pads[i + 2] - ((kernel[i] - 1) * dilations[i] + 1)) // strides[i] + 1
        for i in range(2)
    )


def conv2d(x: np.ndarray, w: np.ndarray, strides, pads, dilations, group: int) -> np.ndarray:
    """Convolution of ``N x C x H x W`` by ``w [Cout, C/g, kh, kw]``, zero padding, no bias."""
    n, c, h, wd = x.shape
    cout, cin_g, kh, kw = w.shape
    oh, ow = conv_out_hw((h, wd), (kh, kw), strides, pads, dilations)
    xp = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    win = _windows(xp, (kh, kw), strides, dilations, (oh, ow))  # N C OH OW kh kw
    cout_g = cout // group
    outs = []
    for g in range(group):
        wg = win[:, g * cin_g : (g + 1) * cin_g]  # N Cg OH OW kh kw
        cols = wg.transpose(0, 2, 3, 1, 4, 5).reshape(n * oh * ow, cin_g * kh * kw)
        wmat = w[g * cout_g : (g + 1) * cout_g].reshape(cout_g, -1)
        outs.append((cols @ wmat.T).reshape(n, oh, ow, cout_g))
    return np.concatenate(outs, axis=3).transpose(0, 3, 1, 2)


def conv_transpose2d(x, w, strides, pads, dilations, group, output_padding, out_hw) -> np.ndarray:
    """Transposed convolution; ``w`` in compiler layout ``[Cout, Cin/g, kh, kw]``; no bias."""
    n, c, h, wd = x.shape
    cout, cin_g, kh, kw = w.shape
    sh, sw = strides
    dh, dw = dilations
    cout_g = cout // group
    full_h = max((h - 1) * sh + (kh - 1) * dh + 1, pads[0] + out_hw[0])
    full_w = max((wd - 1) * sw + (kw - 1) * dw + 1, pads[1] + out_hw[1])
    y = np.zeros((n, cout, full_h, full_w), dtype=np.result_type(x, w))
    for g in range(group):
        xg = x[:, g * cin_g : (g + 1) * cin_g]
        wg = w[g * cout_g : (g + 1) * cout_g]
        for ky in range(kh):
            for kx in range(kw):
                contrib = np.einsum("nchw,oc->nohw", xg, wg[:, :, ky, kx])
                y[:, g * cout_g : (g + 1) * cout_g, ky * dh : ky * dh + (h - 1) * sh + 1 : sh,
                  kx * dw : kx * dw + (wd - 1) * sw + 1 : sw] += contrib  # fmt: skip
    return y[:, :, pads[0] : pads[0] + out_hw[0], pads[1] : pads[1] + out_hw[1]]


def pool2d(x, kind: str, kernel, strides, pads, out_hw, pad_value=0):
    """Max pool (``kind="max"``, padding with ``pad_value``) or window sums (``kind="sum"``)."""
    xp = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])), constant_values=pad_value)
    # ceil_mode may need extra bottom/right padding
    need_h = (out_hw[0] - 1) * strides[0] + kernel[0]
    need_w = (out_hw[1] - 1) * strides[1] + kernel[1]
    extra_h, extra_w = max(0, need_h - xp.shape[2]), max(0, need_w - xp.shape[3])
    if extra_h or extra_w:
        xp = np.pad(xp, ((0, 0), (0, 0), (0, extra_h), (0, extra_w)), constant_values=pad_value)
    win = _windows(xp, kernel, strides, (1, 1), out_hw)
    if kind == "max":
        return win.max(axis=(4, 5))
    return win.sum(axis=(4, 5))


def pool_counts(in_hw, kernel, strides, pads, out_hw, count_include_pad) -> np.ndarray:
    """Number of elements averaged at each output position (``OH x OW`` int64)."""
    ones = np.ones((1, 1) + tuple(in_hw), dtype=np.int64)
    if count_include_pad:
        ones = np.pad(ones, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])), constant_values=1)
        pads = (0, 0, 0, 0)
    return pool2d(ones, "sum", kernel, strides, pads, out_hw)[0, 0]


# -- the float executor -----------------------------------------------------------------------------
def _act(y: np.ndarray, act) -> np.ndarray:
    return y if act is None else np.clip(y, act[0], act[1])


def restore_rank(y4: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Undo :func:`as_nchw` for an output computed from input ``x``."""
    return y4.reshape(y4.shape[:3]) if x.ndim == 3 else y4


def run_float_node(node: Node, xs: list[np.ndarray]) -> np.ndarray:
    """Evaluate one float IR node on batch inputs ``xs`` (float32 out)."""
    a = node.attrs
    op = node.op
    x = xs[0]
    if op in ("conv", "conv_transpose"):
        if op == "conv":
            y = conv2d(as_nchw(x), node.params["w"], a["strides"], a["pads"], a["dilations"], a["group"])
        else:
            y = conv_transpose2d(
                as_nchw(x), node.params["w"], a["strides"], a["pads"], a["dilations"], a["group"],
                a["output_padding"], a["out_hw"],
            )  # fmt: skip
        y = y + node.params["b"].reshape(1, -1, 1, 1)
        return restore_rank(_act(y, a.get("act")), x).astype(np.float32)
    if op == "dense":
        y = x @ node.params["w"].T + node.params["b"]
        return _act(y, a.get("act")).astype(np.float32)
    if op == "maxpool":
        y = pool2d(as_nchw(x), "max", a["kernel"], a["strides"], a["pads"], a["out_hw"], pad_value=-np.inf)
        return restore_rank(y, x).astype(np.float32)
    if op == "avgpool":
        x4 = as_nchw(x)
        total = pool2d(x4, "sum", a["kernel"], a["strides"], a["pads"], a["out_hw"])
        cnt = pool_counts(
            x4.shape[2:], a["kernel"], a["strides"], a["pads"], a["out_hw"], a["count_include_pad"]
        )
        return restore_rank(total / cnt, x).astype(np.float32)
    if op == "clamp":
        return np.clip(x, a["lo"], a["hi"]).astype(np.float32)
    if op == "sigmoid":
        return (1.0 / (1.0 + np.exp(-x.astype(np.float64)))).astype(np.float32)
    if op == "tanh":
        return np.tanh(x).astype(np.float32)
    if op == "unary":
        from .unary import unary_numpy

        params = {k: v for k, v in a.items() if k != "function"}
        return unary_numpy(a["function"], x, params).astype(np.float32)
    if op == "softmax":
        z = x.astype(np.float64)
        e = np.exp(z - z.max(axis=a["axis"], keepdims=True))
        return (e / e.sum(axis=a["axis"], keepdims=True)).astype(np.float32)
    if op in ("add", "sub", "mul"):
        fn = {"add": np.add, "sub": np.subtract, "mul": np.multiply}[op]
        return _act(fn(xs[0], xs[1]), a.get("act")).astype(np.float32)
    if op == "concat":
        return np.concatenate(xs, axis=a["axis"]).astype(np.float32)
    if op == "reshape":
        return x.reshape((x.shape[0],) + tuple(a["shape"][1:]))
    if op == "resize":
        y = as_nchw(x)[:, :, np.asarray(a["index_h"])][:, :, :, np.asarray(a["index_w"])]
        return restore_rank(y, x)
    if op == "transpose":
        return np.ascontiguousarray(np.transpose(x, a["perm"]))
    if op == "slice":
        return slice_nd(x, a)
    if op == "pad":
        return restore_rank(pad2d(as_nchw(x), a["pads"], a["value"]), x).astype(np.float32)
    if op == "batchnorm":
        shape = (1, -1) + (1,) * (x.ndim - 2)
        return (x * node.params["scale"].reshape(shape) + node.params["shift"].reshape(shape)).astype(
            np.float32
        )
    raise NotImplementedError(f"float executor has no op {op!r} (node {node.name})")


def run_float(graph: Graph, x: np.ndarray, keep_all: bool = False) -> dict[str, np.ndarray]:
    """Run the float graph on a batch ``x``; returns the outputs (or every tensor with ``keep_all``)."""
    values: dict[str, np.ndarray] = dict(graph.constants)
    values[graph.input_name] = np.asarray(x, dtype=np.float32)
    remaining = {t: graph.use_count(t) for t in graph.shapes}
    for node in graph.nodes:
        xs = [values[i] for i in node.inputs]
        values[node.output] = run_float_node(node, xs)
        if not keep_all:
            for i in node.inputs:
                remaining[i] = remaining.get(i, 1) - 1
                if remaining[i] <= 0 and i not in graph.constants and i not in graph.output_names:
                    values.pop(i, None)
    if keep_all:
        return values
    return {name: values[name] for name in graph.output_names}
