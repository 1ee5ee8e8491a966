"""Helpers shared by several op families (not an op family: the registries skip ``_`` modules)."""

from __future__ import annotations

import numpy as np

from ...errors import CompilationError
from ..c_emit import pack_weights
from ..graph import QNode
from ..qparams import act_range, weight_qparams
from ..rounding import quantize_multipliers


def clip_act(y: np.ndarray, act) -> np.ndarray:
    return y if act is None else np.clip(y, act[0], act[1])


def qnode(node, op: str | None = None, attrs: dict | None = None, arrays: dict | None = None) -> QNode:
    return QNode(op or node.op, node.name, list(node.inputs), list(node.outputs), attrs or {}, arrays or {})


def quantize_weighted(node, ins: list[dict], out_q: dict, bits: int, mode: int) -> QNode:
    """conv / conv_transpose / dense: int8 weights per output channel, int32 bias, multipliers."""
    s_in, zp_in = ins[0]["scale"], ins[0]["zero_point"]
    wq, ws = weight_qparams(node.params["w"], bits, mode)
    bias = np.clip(np.round(node.params["b"].astype(np.float64) / (s_in * ws)), -(2**31), 2**31 - 1).astype(
        np.int32
    )
    mult, shift = quantize_multipliers(s_in * ws / out_q["scale"])
    act_min, act_max = act_range(node.attrs.get("act"), out_q["scale"], out_q["zero_point"])
    attrs = {k: v for k, v in node.attrs.items() if k != "act"}
    attrs.update(in_zp=zp_in, out_zp=out_q["zero_point"], act_min=act_min, act_max=act_max, weight_bits=bits)
    return qnode(
        node, attrs=attrs, arrays=dict(w=wq, bias=bias, mult=mult, shift=shift, w_scale=ws.astype(np.float64))
    )


def qdq_act(b, y: str, node, out_t: dict) -> str:
    """A Clip after ``y`` for a fused activation range narrower than int8 (QDQ export)."""
    a = node.attrs
    if a.get("act_min", -128) == -128 and a.get("act_max", 127) == 127:
        return y
    s, zp = out_t["scale"], out_t["zero_point"]
    lo = b.init("act_min", np.array((a["act_min"] - zp) * s, np.float32))
    hi = b.init("act_max", np.array((a["act_max"] - zp) * s, np.float32))
    return b.node("Clip", [y, lo, hi])


def qdq_spatial(x_rank: int, values, pairs: bool = False) -> list[int]:
    """2-D attribute values for a rank-``x_rank`` tensor (1-D ops keep only the H entries)."""
    v = [int(i) for i in values]
    if x_rank == 4:
        return v
    return [v[0], v[2]] if pairs else [v[0]]


def check_acc_range(node, w: np.ndarray, bias: np.ndarray, terms: int) -> None:
    """Refuse a layer whose int32 accumulator could overflow."""
    bound = terms * 255 * int(np.abs(w.astype(np.int64)).max(initial=0)) + int(
        np.abs(bias.astype(np.int64)).max(initial=0)
    )
    if bound >= 2**31:
        raise CompilationError(
            f"layer {node.name!r} ({node.op}) may overflow its int32 accumulator ({terms} products per output); "
            "split the layer or reduce its input size"
        )


def pow2_multipliers(mult) -> bool:
    return bool(np.all(np.asarray(mult) == 1 << 30))


def weighted_tables(em, tag: str, node, terms: int, packed: bool) -> str:
    """The table fields ``w, bias, mult, shift`` of an int8 struct kernel (conv_packed, dense_packed,
    conv_transpose): weights (packed when asked), int32 bias, multipliers (``0``: every one is
    ``2^30``, power-of-two scales) and int8 shifts."""
    w, bias, mult = node.arrays["w"], node.arrays["bias"], node.arrays["mult"]
    check_acc_range(node, w, bias, terms)
    if packed:
        wname = em.array("uint8_t", f"{tag}_w", pack_weights(w, int(node.attrs.get("weight_bits", 8))))
    else:
        wname = em.array("int8_t", f"{tag}_w", w)
    bname = em.array("int32_t", f"{tag}_bias", bias)
    mname = "0" if pow2_multipliers(mult) else em.array("int32_t", f"{tag}_mult", mult)
    return f"{wname}, {bname}, {mname}, {em.array('int8_t', f'{tag}_shift', node.arrays['shift'])}"
