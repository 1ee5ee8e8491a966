"""Graph passes on the float IR: fold batch norms, dense biases and activations into their producers."""

from __future__ import annotations

import numpy as np

from .graph import Graph, Node


def _single_use_producer(graph: Graph, tensor: str, ops: tuple[str, ...]) -> Node | None:
    prod = graph.producer(tensor)
    if prod is None or prod.op not in ops or graph.use_count(tensor) != 1:
        return None
    return prod


def _replace_output(graph: Graph, prod: Node, node: Node) -> None:
    """Make ``prod`` write ``node``'s output and drop ``node``."""
    old = prod.output
    prod.outputs = [node.output]
    graph.nodes.remove(node)
    graph.shapes.pop(old, None)


def fold_batchnorm(graph: Graph) -> None:
    """Fold batch norms into the preceding conv / dense; a lone one becomes a 1x1 depthwise conv or mul+add."""
    for node in [n for n in graph.nodes if n.op == "batchnorm"]:
        scale, shift = node.params["scale"], node.params["shift"]
        prod = _single_use_producer(graph, node.inputs[0], ("conv", "conv_transpose", "dense"))
        if (
            prod is not None
            and prod.attrs.get("act") is None
            and (prod.op != "dense" or len(graph.shapes[node.inputs[0]]) == 2)
        ):
            w = prod.params["w"]
            prod.params["w"] = (w * scale.reshape((-1,) + (1,) * (w.ndim - 1))).astype(np.float32)
            prod.params["b"] = (prod.params["b"] * scale + shift).astype(np.float32)
            _replace_output(graph, prod, node)
            continue
        shape = graph.shapes[node.inputs[0]]
        c = shape[1]
        if len(shape) in (3, 4):
            node.op = "conv"
            node.attrs = dict(strides=(1, 1), pads=(0, 0, 0, 0), dilations=(1, 1), group=c, act=None)
            node.params = dict(w=scale.reshape(c, 1, 1, 1).astype(np.float32), b=shift.astype(np.float32))
        else:
            idx = graph.nodes.index(node)
            sname, bname, mid = f"{node.name}_scale", f"{node.name}_shift", f"{node.output}__scaled"
            graph.constants[sname] = scale.reshape(1, c).astype(np.float32)
            graph.constants[bname] = shift.reshape(1, c).astype(np.float32)
            graph.shapes[sname], graph.shapes[bname], graph.shapes[mid] = (1, c), (1, c), shape
            mul = Node("mul", f"{node.name}_mul", [node.inputs[0], sname], [mid])
            add = Node("add", f"{node.name}_add", [mid, bname], [node.output], dict(act=None))
            graph.nodes[idx : idx + 1] = [mul, add]


def fold_dense_bias(graph: Graph) -> None:
    """``dense`` (from MatMul) followed by an Add of a constant vector: fold it into the bias."""
    for node in [n for n in graph.nodes if n.op == "add"]:
        const = [i for i in node.inputs if i in graph.constants]
        act_in = [i for i in node.inputs if i not in graph.constants]
        if len(const) != 1 or len(act_in) != 1:
            continue
        prod = _single_use_producer(graph, act_in[0], ("dense",))
        if prod is None or prod.attrs.get("act") is not None:
            continue
        c = graph.constants[const[0]]
        n_out = prod.params["w"].shape[0]
        if c.size != n_out or c.shape[-1] != n_out:
            continue
        prod.params["b"] = (prod.params["b"] + c.ravel()).astype(np.float32)
        _replace_output(graph, prod, node)


def fuse_activations(graph: Graph) -> None:
    """Fold a Relu/Clip into the conv / dense / add / sub that produces its input."""
    for node in [n for n in graph.nodes if n.op == "clamp"]:
        prod = _single_use_producer(graph, node.inputs[0], ("conv", "conv_transpose", "dense", "add", "sub"))
        if prod is None:
            continue
        lo, hi = node.attrs["lo"], node.attrs["hi"]
        if prod.attrs.get("act") is not None:
            lo, hi = max(lo, prod.attrs["act"][0]), min(hi, prod.attrs["act"][1])
        prod.attrs["act"] = (float(lo), float(hi))
        _replace_output(graph, prod, node)


def prune_constants(graph: Graph) -> None:
    used = {i for n in graph.nodes for i in n.inputs}
    for k in [k for k in graph.constants if k not in used]:
        del graph.constants[k]
        graph.shapes.pop(k, None)


def fold_pads(graph: Graph) -> None:
    """A zero Pad whose only consumer is a conv becomes the conv's own padding."""
    for node in [n for n in graph.nodes if n.op == "pad" and n.attrs["value"] == 0.0]:
        users = graph.consumers(node.output)
        if len(users) != 1 or users[0].op != "conv" or graph.use_count(node.output) != 1:
            continue
        conv = users[0]
        conv.attrs["pads"] = tuple(int(p) + int(q) for p, q in zip(conv.attrs["pads"], node.attrs["pads"]))
        conv.inputs = [node.inputs[0] if i == node.output else i for i in conv.inputs]
        graph.nodes.remove(node)
        graph.shapes.pop(node.output, None)
