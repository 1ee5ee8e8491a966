"""C99 code generation for int8 (:class:`QuantizedGraph`) and float32 (:class:`Graph`) models.

The generated ``tinyml_model.c`` holds the weights as ``const`` arrays, one ``const`` parameter
block per layer, one static activation arena planned from tensor lifetimes (``arena.py``), and a
``tinyml_model_run`` that calls one kernel per layer in order: no malloc, no recursion, and no
float in the int8 path (only the ``tinyml_model_run_float`` convenience wrapper converts). The
kernels come from ``c_templates/kernels_{int8,float}.c``; only the sections a model uses are
emitted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources

import numpy as np

from ..errors import CompilationError
from ..quantization.graph_ir import Graph
from ..quantization.quantized_graph import QuantizedGraph
from .arena import lifetimes, plan_arena

FLOAT_MAX = "3.402823466e+38f"
_SECTION_RE = re.compile(r"^/\* @section (\w+) \*/$", re.MULTILINE)
# kernel sections each op needs (besides "common")
_SECTIONS = {
    "conv": ["conv"],
    "conv_packed": ["packed", "conv_packed"],
    "conv_transpose": ["conv_transpose"],
    "dense": ["dense"],
    "dense_packed": ["packed", "dense_packed"],
    "maxpool": ["pool", "maxpool"],
    "avgpool": ["pool", "avgpool"],
    "clamp": ["clamp"],
    "lut": ["lut"],
    "sigmoid": ["sigmoid"],
    "tanh": ["tanh"],
    "softmax": ["softmax"],
    "add": ["binary"],
    "sub": ["binary"],
    "mul": ["binary"],
    "concat": ["concat"],
    "resize": ["resize"],
    "reshape": [],
    "transpose": ["transpose"],
    "pad": ["pad"],
    "slice": ["transpose"],
}


def kernel_sections(precision: str) -> dict[str, str]:
    """The named sections of the kernel template of ``precision`` (``int8`` or ``float``)."""
    text = resources.files(__package__).joinpath(f"c_templates/kernels_{precision}.c").read_text()
    parts = _SECTION_RE.split(text)
    return {parts[i]: parts[i + 1].strip("\n") + "\n" for i in range(1, len(parts), 2)}


def fmt_float(v: float) -> str:
    """A C float literal that reads back as exactly ``float32(v)``."""
    v = float(np.float32(v))
    if not np.isfinite(v):
        return FLOAT_MAX if v > 0 else "-" + FLOAT_MAX
    s = f"{v:.9g}"
    if not any(ch in s for ch in ".e"):
        s += ".0"
    return s + "f"


def c_array(ctype: str, name: str, values: np.ndarray, per_line: int = 16) -> str:
    """``static const ctype name[n] = {...};`` with values wrapped ``per_line`` to a line."""
    flat = np.asarray(values).ravel()
    if ctype == "float":
        items = [fmt_float(v) for v in flat.tolist()]
    else:
        items = [str(int(v)) for v in flat.tolist()]
    if not items:
        items = ["0"]
    lines = [", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]
    return f"static const {ctype} {name}[{len(items)}] = {{\n    " + ",\n    ".join(lines) + "\n};\n"


def pack_weights(w: np.ndarray, bits: int) -> np.ndarray:
    """Pack int8 values of ``bits`` (4 or 2) bits, lowest bits first, into uint8 bytes."""
    per = 8 // bits
    flat = (w.astype(np.int64).ravel() & ((1 << bits) - 1)).astype(np.uint8)
    flat = np.concatenate([flat, np.zeros((-len(flat)) % per, np.uint8)])
    groups = flat.reshape(-1, per)
    out = np.zeros(len(groups), dtype=np.uint8)
    for k in range(per):
        out |= (groups[:, k] << (k * bits)).astype(np.uint8)
    return out


def chw(shape) -> tuple[int, int, int]:
    """``(C, H, W)`` of a per-sample shape ``(1, C[, H[, W]])``."""
    s = list(shape[1:]) + [1] * (4 - len(shape))
    return int(s[0]), int(s[1]), int(s[2])


def _safe(text: str) -> str:
    """Text that cannot end a C comment or break a line."""
    return str(text).replace("*/", "* /").replace("\n", " ")


def _size(shape) -> int:
    return int(np.prod(shape))


@dataclass
class GeneratedModel:
    """The text of the generated sources and what the memory report needs."""

    source: str
    header: str
    precision: str
    arena_bytes: int
    arena_lower_bound_bytes: int
    largest_layer_io_bytes: int
    weights_bytes: int
    scratch_bytes: int
    input_size: int
    output_sizes: list[int]
    layers: list[dict] = field(default_factory=list)

    @property
    def elem_bytes(self) -> int:
        return 1 if self.precision == "int8" else 4

    @property
    def output_size(self) -> int:
        return sum(self.output_sizes)


class _Emitter:
    def __init__(self, model, precision: str, pack_bits: bool):
        self.model = model
        self.precision = precision
        self.ctype = "int8_t" if precision == "int8" else "float"
        self.elem = 1 if precision == "int8" else 4
        self.pack_bits = pack_bits
        self.decls: list[str] = []
        self.calls: list[str] = []
        self.sections: list[str] = ["common"]
        self.weights_bytes = 0
        self.layers: list[dict] = []
        self.uses_math = False

    # -- model access independent of precision
    def shape(self, name: str) -> tuple[int, ...]:
        if self.precision == "int8":
            return tuple(self.model.tensors[name]["shape"])
        return tuple(self.model.shapes[name])

    def is_const(self, name: str) -> bool:
        return name in self.model.constants

    def array(self, ctype: str, name: str, values) -> str:
        values = np.asarray(values)
        self.decls.append(c_array(ctype, name, values))
        nbytes = {"int8_t": 1, "uint8_t": 1, "int16_t": 2, "int32_t": 4, "float": 4}[ctype]
        self.weights_bytes += nbytes * max(1, values.size)
        return name

    def need(self, key: str) -> None:
        for s in _SECTIONS[key]:
            if s not in self.sections:
                self.sections.append(s)


def _act_f(act) -> tuple[str, str]:
    if act is None:
        return "-" + FLOAT_MAX, FLOAT_MAX
    return fmt_float(act[0]), fmt_float(act[1])


def generate(model: QuantizedGraph | Graph, *, pack_sub_byte: bool = False) -> GeneratedModel:
    """Generate ``tinyml_model.c`` / ``.h`` text for an int8 or a float model."""
    precision = "int8" if isinstance(model, QuantizedGraph) else "float"
    em = _Emitter(model, precision, pack_sub_byte)
    nodes = model.nodes
    # tensors are written once, so a reshape's output can share its input's memory (no copy)
    root: dict[str, str] = {}
    for n in nodes:
        if n.op == "reshape":
            root[n.output] = root.get(n.inputs[0], n.inputs[0])

    def base(name: str) -> str:
        return root.get(name, name)

    sizes = {base(n.output): _size(em.shape(n.output)) * em.elem for n in nodes}
    steps = [([base(i) for i in n.inputs], base(n.output)) for n in nodes]
    lives = lifetimes(steps, [base(o) for o in model.output_names], sizes, external={model.input_name})
    offsets, arena_bytes = plan_arena(lives, align=4)
    largest_io = 0
    for n in nodes:
        io = _size(em.shape(n.output)) * em.elem + sum(
            _size(em.shape(i)) * em.elem for i in set(n.inputs) if not em.is_const(i)
        )
        largest_io = max(largest_io, io)
    # no plan can beat the largest total of tensors alive at one step
    lower = max(
        (sum(t.size for t in lives if t.first <= step <= t.last) for step in range(len(nodes) + 1)), default=0
    )

    def ptr(name: str) -> str:
        name = base(name)
        if name == model.input_name:
            return "in"
        if em.is_const(name):
            return const_names[name]
        off = offsets[name] // em.elem
        return f"(tm_arena + {off})" if off else "tm_arena"

    const_names: dict[str, str] = {}
    for k, (cname, value) in enumerate(model.constants.items()):
        const_names[cname] = em.array(em.ctype, f"tm_const{k}", value)

    for idx, node in enumerate(nodes):
        _emit_node(em, idx, node, ptr)
    gm_layers = em.layers

    out_sizes = [_size(em.shape(o)) for o in model.output_names]
    in_size = _size(em.shape(model.input_name))
    sections = kernel_sections(precision)
    kernels = "\n".join(sections[s] for s in em.sections)
    scratch = (in_size + sum(out_sizes)) if precision == "int8" else 0
    header = _header(model, precision, arena_bytes, in_size, out_sizes)
    source = _drop_unused_helpers(_source(model, precision, em, kernels, arena_bytes, ptr, out_sizes))
    return GeneratedModel(
        source=source, header=header, precision=precision, arena_bytes=arena_bytes, arena_lower_bound_bytes=lower,
        largest_layer_io_bytes=largest_io,
        weights_bytes=em.weights_bytes, scratch_bytes=scratch, input_size=in_size, output_sizes=out_sizes, layers=gm_layers,
    )  # fmt: skip


def _drop_unused_helpers(source: str) -> str:
    """Remove the ``static inline`` helpers the model never calls (clang's -Wunused-function)."""
    for name in re.findall(r"^static inline \w+ (tm_\w+)\(", source, flags=re.M):
        if len(re.findall(rf"\b{name}\(", source)) == 1:
            source = re.sub(
                rf"(?:^/\*(?:(?!\*/).)*\*/\n)?^static inline \w+ {name}\(.*?^}}\n\n?",
                "",
                source,
                flags=re.M | re.S,
            )
    return source


def _check_acc_range(node, w: np.ndarray, bias: np.ndarray, terms: int) -> None:
    bound = terms * 255 * int(np.abs(w.astype(np.int64)).max(initial=0)) + int(
        np.abs(bias.astype(np.int64)).max(initial=0)
    )
    if bound >= 2**31:
        raise CompilationError(
            f"layer {node.name!r} ({node.op}) may overflow its int32 accumulator ({terms} products per output); "
            "split the layer or reduce its input size"
        )


def _emit_node(em: _Emitter, idx: int, node, ptr) -> None:
    a = node.attrs
    op = node.op
    tag = f"L{idx}"
    x_shape = em.shape(node.inputs[0])
    y_shape = em.shape(node.output)
    x, y = ptr(node.inputs[0]), ptr(node.output)
    n_out = _size(y_shape)
    macs = 0
    comment = f"/* {tag}: {op} {_safe(node.name)} {list(x_shape)} -> {list(y_shape)} */"
    int8 = em.precision == "int8"
    if op in ("conv", "conv_transpose"):
        cin, ih, iw = chw(x_shape)
        cout, oh, ow = chw(y_shape)
        w = node.arrays["w"] if int8 else node.params["w"]
        _, cin_g, kh, kw = w.shape
        pt, pl = a["pads"][0], a["pads"][1]
        dims = [cin, ih, iw, cout, oh, ow, kh, kw, a["strides"][0], a["strides"][1], pt, pl,
                a["dilations"][0], a["dilations"][1], a["group"]]  # fmt: skip
        macs = (
            (cout * oh * ow * cin_g * kh * kw)
            if op == "conv"
            else (cin * ih * iw * (cout // a["group"]) * kh * kw)
        )
        bits = int(a.get("weight_bits", 8)) if int8 else 32
        packed = int8 and em.pack_bits and bits < 8 and op == "conv"
        kind = "conv_packed" if packed else op
        em.need(kind)
        if int8:
            _check_acc_range(node, w, node.arrays["bias"], cin_g * kh * kw)
            wname = (
                em.array("uint8_t", f"{tag}_w", pack_weights(w, bits))
                if packed
                else em.array("int8_t", f"{tag}_w", w)
            )
            bname = em.array("int32_t", f"{tag}_bias", node.arrays["bias"])
            mname = em.array("int32_t", f"{tag}_mult", node.arrays["mult"])
            sname = em.array("int32_t", f"{tag}_shift", node.arrays["shift"])
            q = [a["in_zp"], a["out_zp"], a["act_min"], a["act_max"]] + ([bits] if packed else [])
            fields = ", ".join(str(int(v)) for v in dims + q) + f", {wname}, {bname}, {mname}, {sname}"
        else:
            wname = em.array("float", f"{tag}_w", w)
            bname = em.array("float", f"{tag}_b", node.params["b"])
            lo, hi = _act_f(a.get("act"))
            fields = ", ".join(str(int(v)) for v in dims) + f", {lo}, {hi}, {wname}, {bname}"
        em.decls.append(f"static const tm_{kind}_t {tag} = {{{fields}}};\n")
        em.calls.append(f"    {comment}\n    tm_{kind}(&{tag}, {x}, {y});")
    elif op == "dense":
        w = node.arrays["w"] if int8 else node.params["w"]
        n, k = w.shape
        rows = _size(x_shape) // k
        macs = rows * n * k
        bits = int(a.get("weight_bits", 8)) if int8 else 32
        packed = int8 and em.pack_bits and bits < 8
        kind = "dense_packed" if packed else "dense"
        em.need(kind)
        if int8:
            _check_acc_range(node, w, node.arrays["bias"], k)
            wname = (
                em.array("uint8_t", f"{tag}_w", pack_weights(w, bits))
                if packed
                else em.array("int8_t", f"{tag}_w", w)
            )
            bname = em.array("int32_t", f"{tag}_bias", node.arrays["bias"])
            mname = em.array("int32_t", f"{tag}_mult", node.arrays["mult"])
            sname = em.array("int32_t", f"{tag}_shift", node.arrays["shift"])
            q = [rows, k, n, a["in_zp"], a["out_zp"], a["act_min"], a["act_max"]] + ([bits] if packed else [])
            fields = ", ".join(str(int(v)) for v in q) + f", {wname}, {bname}, {mname}, {sname}"
        else:
            wname = em.array("float", f"{tag}_w", w)
            bname = em.array("float", f"{tag}_b", node.params["b"])
            lo, hi = _act_f(a.get("act"))
            fields = f"{rows}, {k}, {n}, {lo}, {hi}, {wname}, {bname}"
        em.decls.append(f"static const tm_{kind}_t {tag} = {{{fields}}};\n")
        em.calls.append(f"    {comment}\n    tm_{kind}(&{tag}, {x}, {y});")
    elif op in ("maxpool", "avgpool"):
        em.need(op)
        c, ih, iw = chw(x_shape)
        _, oh, ow = chw(y_shape)
        p = a["pads"]
        vals = [c, ih, iw, oh, ow, a["kernel"][0], a["kernel"][1], a["strides"][0], a["strides"][1], p[0], p[1], p[2], p[3],
                int(a.get("zp", 0)), int(a.get("count_include_pad", 0))]  # fmt: skip
        em.decls.append(f"static const tm_pool_t {tag} = {{{', '.join(str(int(v)) for v in vals)}}};\n")
        em.calls.append(f"    {comment}\n    tm_{op}(&{tag}, {x}, {y});")
    elif op == "clamp":
        em.need("clamp")
        lo, hi = (str(a["lo"]), str(a["hi"])) if int8 else (fmt_float(a["lo"]), fmt_float(a["hi"]))
        em.calls.append(f"    {comment}\n    tm_clamp({x}, {y}, {n_out}, {lo}, {hi});")
    elif op == "lut":
        em.need("lut")
        t = em.array("int8_t", f"{tag}_table", node.arrays["table"])
        em.calls.append(f"    {comment}\n    tm_lut({x}, {y}, {n_out}, {t});")
    elif op == "unary":
        from ..quantization.unary import unary_c_expression

        expr = unary_c_expression(a["function"], {k: v for k, v in a.items() if k != "function"}, fmt_float)
        em.decls.append(
            f"static void tm_{tag}_{a['function'].lower()}(const float *x, float *y, int32_t n)\n{{\n"
            f"    int32_t i;\n    for (i = 0; i < n; ++i) {{\n        const float v = x[i];\n"
            f"        y[i] = {expr};\n    }}\n}}\n"
        )
        em.uses_math = True
        em.calls.append(f"    {comment}\n    tm_{tag}_{a['function'].lower()}({x}, {y}, {n_out});")
    elif op in ("sigmoid", "tanh"):
        em.need(op)
        em.calls.append(f"    {comment}\n    tm_{op}({x}, {y}, {n_out});")
    elif op == "softmax":
        em.need("softmax")
        ax = a["axis"]
        outer, n, inner = _size(x_shape[:ax]), x_shape[ax], _size(x_shape[ax + 1 :])
        if int8:
            t = em.array("int32_t", f"{tag}_exp", node.arrays["table"])
            em.calls.append(f"    {comment}\n    tm_softmax({x}, {y}, {outer}, {n}, {inner}, {t});")
        else:
            em.calls.append(f"    {comment}\n    tm_softmax({x}, {y}, {outer}, {n}, {inner});")
    elif op in ("add", "sub", "mul"):
        em.need(op)
        dims, sa, sb = _broadcast(y_shape, em.shape(node.inputs[0]), em.shape(node.inputs[1]), node)
        kind = {"add": 0, "sub": 1, "mul": 2}[op]
        shape_fields = ", ".join("{" + ", ".join(str(int(v)) for v in arr) + "}" for arr in (dims, sa, sb))
        if int8:
            mult_a, mult_b = (a["mult"], 0) if op == "mul" else (a["mult_a"], a["mult_b"])
            q = [a["zp_a"], a["zp_b"], mult_a, mult_b, a["shift"], a["out_zp"], a["act_min"], a["act_max"]]
            fields = f"{kind}, {shape_fields}, " + ", ".join(str(int(v)) for v in q)
        else:
            lo, hi = _act_f(a.get("act"))
            fields = f"{kind}, {shape_fields}, {lo}, {hi}"
        em.decls.append(f"static const tm_binary_t {tag} = {{{fields}}};\n")
        b = ptr(node.inputs[1])
        em.calls.append(f"    {comment}\n    tm_binary(&{tag}, {x}, {b}, {y});")
    elif op == "concat":
        em.need("concat")
        ax = a["axis"]
        outer, out_inner = _size(y_shape[:ax]), _size(y_shape[ax:])
        offset = 0
        lines = [f"    {comment}"]
        for j, name in enumerate(node.inputs):
            inner = _size(em.shape(name)[ax:])
            if int8:
                q = f", {a['in_zps'][j]}, {a['mults'][j]}, {a['shifts'][j]}, {a['out_zp']}"
            else:
                q = ""
            lines.append(f"    tm_concat_part({ptr(name)}, {y}, {outer}, {inner}, {out_inner}, {offset}{q});")
            offset += inner
        em.calls.append("\n".join(lines))
    elif op == "reshape":
        em.calls.append(f"    {comment} /* shares its input's memory */")
    elif op == "slice":
        em.need("slice")
        in_strides = [int(np.prod(x_shape[i + 1 :])) for i in range(len(x_shape))]
        offset = sum(int(b) * st for b, st in zip(a["begin"], in_strides))
        pad = 5 - len(x_shape)
        dims = [1] * pad + [int(c) for c in a["count"][1:]]
        strides = [0] * pad + [int(st) * int(step) for st, step in zip(in_strides[1:], a["step"][1:])]
        td = em.array("int32_t", f"{tag}_dims", np.array(dims))
        ts = em.array("int32_t", f"{tag}_strides", np.array(strides))
        em.calls.append(f"    {comment}\n    tm_transpose({x} + {offset}, {y}, {td}, {ts});")
    elif op == "pad":
        em.need("pad")
        c, ih, iw = chw(x_shape)
        _, oh, ow = chw(y_shape)
        value = str(int(a["value_q"])) if int8 else fmt_float(a["value"])
        em.calls.append(
            f"    {comment}\n    tm_pad({x}, {y}, {c}, {ih}, {iw}, {oh}, {ow}, {a['pads'][0]}, {a['pads'][1]}, {value});"
        )
    elif op == "transpose":
        em.need("transpose")
        perm = [int(i) for i in a["perm"]]
        in_strides = [int(np.prod(x_shape[i + 1 :])) for i in range(len(x_shape))]
        dims = [1] * (5 - len(perm)) + [int(y_shape[i]) for i in perm[1:]]
        strides = [0] * (5 - len(perm)) + [in_strides[i] for i in perm[1:]]
        td = em.array("int32_t", f"{tag}_dims", np.array(dims))
        ts = em.array("int32_t", f"{tag}_strides", np.array(strides))
        em.calls.append(f"    {comment}\n    tm_transpose({x}, {y}, {td}, {ts});")
    elif op == "resize":
        em.need("resize")
        c, ih, iw = chw(x_shape)
        _, oh, ow = chw(y_shape)
        th = em.array("int16_t", f"{tag}_index_h", np.asarray(a["index_h"]))
        tw = em.array("int16_t", f"{tag}_index_w", np.asarray(a["index_w"]))
        em.calls.append(f"    {comment}\n    tm_resize({x}, {y}, {c}, {ih}, {iw}, {oh}, {ow}, {th}, {tw});")
    else:
        raise CompilationError(f"node {node.name!r}: the C generator has no kernel for op {op!r}")
    em.layers.append(dict(name=node.name, op=op, output_shape=list(y_shape), macs=int(macs)))


def _broadcast(out_shape, a_shape, b_shape, node) -> tuple[list[int], list[int], list[int]]:
    rank = len(out_shape)

    def per_sample(shape):
        s = [1] * (rank - len(shape)) + list(shape)
        return s[1:]

    out = per_sample(out_shape)
    if len(out) > 4:
        raise CompilationError(
            f"node {node.name!r}: broadcasting over more than 4 dimensions is not supported"
        )
    pad = 4 - len(out)
    out4 = [1] * pad + out

    def strides(shape):
        s4 = [1] * pad + per_sample(shape)
        st, acc = [0] * 4, 1
        for i in range(3, -1, -1):
            st[i] = 0 if s4[i] == 1 and out4[i] != 1 else acc
            acc *= s4[i]
        return st

    return out4, strides(a_shape), strides(b_shape)


def _header(model, precision: str, arena_bytes: int, in_size: int, out_sizes: list[int]) -> str:
    int8 = precision == "int8"
    ctype = "int8_t" if int8 else "float"
    lines = [
        "/* Generated by tinyml_tinyverse.common.compilation: do not edit. */",
        "#ifndef TINYML_MODEL_H",
        "#define TINYML_MODEL_H",
        "",
        "#include <stdint.h>",
        "",
        "#if !defined(INT8_MAX) && defined(INT_LEAST8_MAX) /* e.g. TI C28x: no 8-bit type, 16-bit bytes */",
        "typedef int_least8_t int8_t;",
        "typedef uint_least8_t uint8_t;",
        "#endif",
        "",
        f"#define TINYML_MODEL_IS_INT8 {1 if int8 else 0}",
        f"#define TINYML_MODEL_ARENA_BYTES {arena_bytes}",
    ]
    in_shape = model.tensors[model.input_name]["shape"] if int8 else model.shapes[model.input_name]
    lines += [
        f"#define TINYML_MODEL_INPUT_SIZE {in_size}",
        f"#define TINYML_MODEL_INPUT_RANK {len(in_shape)}",
        f"#define TINYML_MODEL_INPUT_SHAPE {{{', '.join(str(d) for d in in_shape)}}}",
    ]
    if int8:
        inv = np.float32(1.0 / model.input_scale)
        lines += [
            f"#define TINYML_MODEL_INPUT_SCALE {fmt_float(model.input_scale)}",
            f"#define TINYML_MODEL_INPUT_INV_SCALE {fmt_float(inv)}",
            f"#define TINYML_MODEL_INPUT_ZERO_POINT {model.input_zero_point}",
        ]
    lines += [
        f"#define TINYML_MODEL_NUM_OUTPUTS {len(out_sizes)}",
        f"#define TINYML_MODEL_OUTPUT_SIZE {sum(out_sizes)}",
    ]
    offset = 0
    for k, name in enumerate(model.output_names):
        shape = model.tensors[name]["shape"] if int8 else model.shapes[name]
        lines += [
            f"#define TINYML_MODEL_OUTPUT{k}_SIZE {out_sizes[k]}",
            f"#define TINYML_MODEL_OUTPUT{k}_OFFSET {offset}",
            f"#define TINYML_MODEL_OUTPUT{k}_RANK {len(shape)}",
            f"#define TINYML_MODEL_OUTPUT{k}_SHAPE {{{', '.join(str(d) for d in shape)}}}",
        ]
        if int8:
            lines += [
                f"#define TINYML_MODEL_OUTPUT{k}_SCALE {fmt_float(model.output_scales[k])}",
                f"#define TINYML_MODEL_OUTPUT{k}_ZERO_POINT {model.output_zero_points[k]}",
            ]
        offset += out_sizes[k]
    lines += [
        "",
        "#ifdef __cplusplus",
        'extern "C" {',
        "#endif",
        "",
        f"/* Run one inference: in[TINYML_MODEL_INPUT_SIZE] -> out[TINYML_MODEL_OUTPUT_SIZE] ({ctype}, outputs",
        " * concatenated in order, each C-contiguous). Returns 0, or -1 for a NULL pointer. Not reentrant:",
        " * all activations live in one static arena of TINYML_MODEL_ARENA_BYTES bytes. */",
        f"int tinyml_model_run(const {ctype} *in, {ctype} *out);",
        "",
    ]
    if int8:
        lines += [
            "/* Convenience wrapper: quantize a float input (x / scale rounded half away from zero, plus the",
            " * zero point, saturated), run, and dequantize the outputs ((q - zero_point) * scale). */",
        ]
    else:
        lines += ["/* Same as tinyml_model_run (the model is float32). */"]
    lines += [
        "int tinyml_model_run_float(const float *in, float *out);",
        "",
        "#ifdef __cplusplus",
        "}",
        "#endif",
        "",
        "#endif /* TINYML_MODEL_H */",
        "",
    ]
    return "\n".join(lines)


def _source(model, precision, em: _Emitter, kernels: str, arena_bytes: int, ptr, out_sizes) -> str:
    int8 = precision == "int8"
    ctype = "int8_t" if int8 else "float"
    uses_math = (em.uses_math or any(s in em.sections for s in ("sigmoid", "tanh", "softmax"))) and not int8
    head = [
        "/* Generated by tinyml_tinyverse.common.compilation: do not edit.",
        f" * Model: {_safe(model.name)}, {f'int8 (quantization mode {model.mode}, {model.weight_bitwidth}-bit weights)' if int8 else 'float32'}.",
        " * C99, no dynamic memory, no recursion. */",
        "#include <stdint.h>",
        "#include <string.h>",
    ]
    if uses_math:
        head.append("#include <math.h>")
    head += ['#include "tinyml_model.h"', ""]
    if int8:
        arena = f"static int8_t tm_arena[{max(arena_bytes, 4)}];\n"
    else:
        arena = f"static float tm_arena[{max(arena_bytes // 4, 1)}];\n"
    body = [
        "\n".join(head),
        kernels,
        "/* ---- weights and layer parameters ---- */",
        "".join(em.decls),
        "/* ---- activation arena (offsets planned from tensor lifetimes) ---- */",
        arena,
        f"int tinyml_model_run(const {ctype} *in, {ctype} *out)\n{{",
        "    if (in == 0 || out == 0) {\n        return -1;\n    }",
        "\n".join(em.calls),
    ]
    offset = 0
    for k, name in enumerate(model.output_names):
        body.append(f"    memcpy(out + {offset}, {ptr(name)}, {out_sizes[k]} * sizeof({ctype}));")
        offset += out_sizes[k]
    body.append("    return 0;\n}\n")
    if int8:
        body.append(_float_wrapper(model, out_sizes))
    else:
        body.append(
            "int tinyml_model_run_float(const float *in, float *out)\n{\n    return tinyml_model_run(in, out);\n}\n"
        )
    return "\n".join(body)


def _float_wrapper(model: QuantizedGraph, out_sizes: list[int]) -> str:
    lines = [
        "int tinyml_model_run_float(const float *in, float *out)",
        "{",
        "    static int8_t in_q[TINYML_MODEL_INPUT_SIZE];",
        "    static int8_t out_q[TINYML_MODEL_OUTPUT_SIZE];",
        "    int32_t i;",
        "    if (in == 0 || out == 0) {",
        "        return -1;",
        "    }",
        "    for (i = 0; i < TINYML_MODEL_INPUT_SIZE; ++i) {",
        "        float v = in[i] * TINYML_MODEL_INPUT_INV_SCALE;",
        "        int32_t q;",
        "        v = v >= -512.0f ? (v <= 512.0f ? v : 512.0f) : -512.0f; /* NaN -> -512: no UB cast */",
        "        q = (int32_t)(v >= 0.0f ? v + 0.5f : v - 0.5f) + TINYML_MODEL_INPUT_ZERO_POINT;",
        "        in_q[i] = (int8_t)(q < -128 ? -128 : (q > 127 ? 127 : q));",
        "    }",
        "    (void)tinyml_model_run(in_q, out_q);",
    ]
    for k in range(len(out_sizes)):
        lines += [
            f"    for (i = TINYML_MODEL_OUTPUT{k}_OFFSET; i < TINYML_MODEL_OUTPUT{k}_OFFSET + TINYML_MODEL_OUTPUT{k}_SIZE; ++i) {{",
            f"        out[i] = (float)((int32_t)out_q[i] - TINYML_MODEL_OUTPUT{k}_ZERO_POINT) * TINYML_MODEL_OUTPUT{k}_SCALE;",
            "    }",
        ]
    lines += ["    return 0;", "}", ""]
    return "\n".join(lines)
