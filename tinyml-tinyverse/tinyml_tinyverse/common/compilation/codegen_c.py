"""C99 code generation for int8 (:class:`QuantizedGraph`) and float32 (:class:`Graph`) models.

The generated ``tinyml_model.c`` holds the weights as ``const`` arrays, one static arena planned
from tensor lifetimes (``arena.py``), and a ``tinyml_model_run`` that runs one kernel per layer in
order: no malloc, no recursion, and no float in the int8 path (only the ``tinyml_model_run_float``
convenience wrapper converts). What each op emits is defined in its op family
(``tinyml_tinyverse.common.ir.ops``, ``Op.emit_c``); this module plans the schedule and the memory
and assembles the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

import numpy as np

from ..ir.c_emit import CEmitter, Step, c_array, chw, fmt_float, pack_weights, safe_comment  # noqa: F401
from ..ir.graph import Graph, QNode
from ..ir.op import op_of
from ..quantization.quantized_graph import QuantizedGraph
from .arena import TensorLife, liveness_bound, plan_arena

__all__ = ["GeneratedModel", "c_array", "chw", "fmt_float", "generate", "pack_weights"]


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
    const_elements: dict[str, int] = field(default_factory=dict)  # C type -> elements of the const arrays

    @property
    def elem_bytes(self) -> int:
        return 1 if self.precision == "int8" else 4

    @property
    def output_size(self) -> int:
        return sum(self.output_sizes)


ALIGN = 4  # every buffer of the arena starts on a word boundary


def generate(model: QuantizedGraph | Graph, *, pack_sub_byte: bool = False) -> GeneratedModel:
    """Generate ``tinyml_model.c`` / ``.h`` text for an int8 or a float model."""
    precision = "int8" if isinstance(model, QuantizedGraph) else "float"
    em = CEmitter(model, precision, pack_sub_byte)
    steps = _schedule(em, model)
    mem = _plan_memory(em, model, steps)
    layers = []
    for step in steps:
        em.tag = step.tag
        op_of(step.node).emit_c(em, step)
        for n in step.nodes:
            if n.op != "relayout":
                layers.append(
                    dict(
                        name=n.name,
                        op=n.op,
                        output_shape=list(em.shape(n.output)),
                        macs=int(op_of(n).macs(em, n)),
                    )
                )
    largest_io = 0
    for n in model.nodes:
        io = em.size(n.output) + sum(em.size(i) for i in set(n.inputs) if not em.is_const(i))
        largest_io = max(largest_io, io * em.elem)
    out_sizes = [em.size(o) for o in model.output_names]
    in_size = em.size(model.input_name)
    header = _header(model, precision, mem.arena_bytes, in_size, out_sizes)
    source = _drop_unused_helpers(_source(model, precision, em, mem, out_sizes))
    return GeneratedModel(
        source=source, header=header, precision=precision, arena_bytes=mem.arena_bytes,
        arena_lower_bound_bytes=mem.bound, largest_layer_io_bytes=largest_io, weights_bytes=em.weights_bytes,
        scratch_bytes=0, input_size=in_size, output_sizes=out_sizes, layers=layers,
        const_elements=dict(em.const_elements),
    )  # fmt: skip


# -- the schedule: memory layouts, layout copies, fused layers ---------------------------------------
def _trivial(em: CEmitter, name: str) -> bool:
    """Both layouts are the same memory (one channel, or one position per channel)."""
    shape = em.shape(name)
    return len(shape) <= 2 or shape[1] == 1 or int(np.prod(shape[2:])) == 1


def _schedule(em: CEmitter, model) -> list[Step]:
    """The steps of ``tinyml_model_run``: layouts chosen (int8), layout copies added, fusions made."""
    nodes = list(model.nodes)
    tags = {id(n): f"L{i}" for i, n in enumerate(nodes)}
    if em.int8:
        nodes = _assign_layouts(em, model, nodes, tags)
    readers: dict[str, list] = {}
    for n in nodes:
        for i in set(n.inputs):
            readers.setdefault(i, []).append(n)
    steps: list[Step] = []
    fused: set[int] = set()
    for n in nodes:
        if id(n) in fused:
            continue
        step = Step(n, tags[id(n)])
        users = readers.get(n.output, [])
        if len(users) == 1 and n.output not in model.output_names and op_of(n).fuse(em, n, users[0]):
            step.fused.append(users[0])
            fused.add(id(users[0]))
        step.comment = (
            " + ".join(
                f"{m.op} {m.name}"
                + (f" [{em.layout(m.output)}]" if em.int8 and not _trivial(em, m.output) else "")
                for m in step.nodes
            )
            + f" {list(em.shape(n.inputs[0]))} -> {list(em.shape(step.output))}"
        )
        steps.append(step)
    return steps


def _assign_layouts(em: CEmitter, model, nodes: list, tags: dict) -> list:
    """Channel-last where the kernels want it; copies where a layer needs the other layout."""
    readers: dict[str, list] = {}
    for n in nodes:
        for i in set(n.inputs):
            readers.setdefault(i, []).append(n)
    rules = {id(n): op_of(n).layout_rule(em, n) for n in nodes}
    prefs: dict[str, str] = {}

    outputs = set(model.output_names)

    def pref(t: str) -> str:  # the layout the readers of t would like: nchw, nhwc or any
        if t in outputs and not _trivial(em, t):
            return "nchw"  # the caller's outputs are C-contiguous NCHW
        if t not in prefs:
            wants = []
            for r in readers.get(t, []):
                rule = rules[id(r)]
                if rule == "channel_last":
                    wants.append("nhwc")
                elif rule == "canonical" and _flatten_into_dense(em, r, readers):
                    wants.append(
                        "any"
                    )  # read flat in either layout: the dense takes its weights in that order
                elif rule == "canonical":
                    wants.append("nchw")
                else:
                    wants.append(pref(r.output))
            prefs[t] = "nhwc" if "nhwc" in wants else ("nchw" if "nchw" in wants else "any")
        return prefs[t]

    out: list = []
    copies: dict[tuple[str, str], str] = {}

    def as_layout(t: str, layout: str, reader) -> str:
        if em.is_const(t) or _trivial(em, t) or em.layout(t) == layout:
            return t
        if (t, layout) not in copies:
            name = f"{t}__{layout}"
            em.extra_shapes[name] = em.shape(t)
            em.layouts[name] = layout
            node = QNode("relayout", f"{t} to {layout}", [t], [name], dict(to=layout))
            tags[id(node)] = tags[id(reader)]
            out.append(node)
            copies[(t, layout)] = name
        return copies[(t, layout)]

    for n in nodes:
        rule = rules[id(n)]
        ins = list(n.inputs)
        if rule == "channel_last":
            ins[0] = as_layout(ins[0], "nhwc", n)
            layout = "nchw" if pref(n.output) == "nchw" else "nhwc"
        elif rule == "follow":
            runtime = {em.layout(i) for i in ins if not em.is_const(i) and not _trivial(em, i)}
            is_output = n.output in outputs and not _trivial(em, n.output)  # written NCHW for the caller
            layout = runtime.pop() if len(runtime) == 1 and not is_output else "nchw"
            ins = [as_layout(i, layout, n) for i in ins]
        elif _absorbs_flatten(em, n, readers):
            em.flat_perm[n.output] = _flat_perm(
                em.shape(ins[0])
            )  # the dense reads the channel-last tensor flat
            layout = "nchw"
        else:
            ins = [as_layout(i, "nchw", n) for i in ins]
            layout = "nchw"
        em.layouts[n.output] = layout
        if ins != list(n.inputs):
            node = replace(n, inputs=ins)
            tags[id(node)] = tags[id(n)]
            n = node
        out.append(n)
    return out


def _absorbs_flatten(em: CEmitter, node, readers) -> bool:
    """A flatten of a channel-last tensor read only by dense layers: they take their weights in its order."""
    if em.layout(node.inputs[0]) != "nhwc" or _trivial(em, node.inputs[0]):
        return False
    return _flatten_into_dense(em, node, readers)


def _flatten_into_dense(em: CEmitter, node, readers) -> bool:
    """A reshape to ``(1, K)`` read only by dense layers of ``K`` inputs (and not a graph output)."""
    if node.op != "reshape":
        return False
    users = readers.get(node.output, [])
    shape = em.shape(node.output)
    return (
        len(shape) == 2
        and bool(users)
        and node.output not in em.model.output_names
        and all(u.op == "dense" and u.arrays["w"].shape[1] == shape[1] for u in users)
    )


def _flat_perm(shape) -> np.ndarray:
    """NCHW flat index of each element of a channel-last tensor, in memory order."""
    c, spatial = shape[1], int(np.prod(shape[2:]))
    return np.arange(c * spatial).reshape(c, spatial).T.ravel()


# -- memory: buffers, in-place steps, the arena -------------------------------------------------------
@dataclass
class _Memory:
    arena_bytes: int
    bound: int
    input_offset: int | None  # the float wrapper's int8 input in the arena
    output_offset: int | None  # the float wrapper's int8 outputs in the arena
    copies: list[tuple[int, str]]  # (output index, tensor): outputs copied at the end of the run


def _plan_memory(em: CEmitter, model, steps: list[Step]) -> _Memory:
    """Buffers (views share their input's, in-place steps their first input's), lifetimes, the arena,
    and the C pointer of every tensor."""
    wrapper = em.int8  # the float wrapper keeps its int8 input and outputs in the arena
    root: dict[str, str] = {}
    members: dict[str, list[str]] = {}

    def base(t: str) -> str:
        return root.get(t, t)

    def bind(t: str, buffer: str) -> None:
        root[t] = buffer
        members.setdefault(buffer, [buffer]).append(t)

    last_read: dict[str, int] = {}
    for k, step in enumerate(steps):
        for i in step.node.inputs:
            last_read[i] = k
    output_chain = set(model.output_names)  # tensors that are, or are viewed as, graph outputs
    for step in reversed(steps):
        if step.node.op == "reshape" and step.node.output in output_chain:
            output_chain.add(step.node.inputs[0])
    for k, step in enumerate(steps):
        node = step.node
        src = base(node.inputs[0])
        if node.op == "reshape":
            bind(node.output, src)
            continue
        dies_here = all(last_read.get(u, -1) <= k and u not in output_chain for u in members.get(src, [src]))
        if (
            dies_here
            and src != model.input_name
            and not em.is_const(src)
            and step.output not in output_chain
            and [base(i) for i in node.inputs].count(src) == 1
            and em.size(step.output) <= max(em.size(u) for u in members.get(src, [src]))
            and op_of(node).in_place(em, node)
        ):
            step.in_place = True
            bind(step.output, src)
    # the graph outputs: written in place into the caller's out (the wrapper's int8 outputs in the arena)
    out_offsets, copies, offset = {}, [], 0
    for k, o in enumerate(model.output_names):
        b = base(o)
        if b == model.input_name or em.is_const(b) or b in out_offsets:
            copies.append((k, o))
        else:
            out_offsets[b] = offset
        offset += em.size(o)
    sizes: dict[str, int] = {}
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    end = len(steps)
    for k, step in enumerate(steps):
        for i in step.node.inputs:
            b = base(i)
            if not em.is_const(b):
                last[b] = max(last.get(b, k), k)
                first.setdefault(b, 0 if b == model.input_name else k)
        b = base(step.output)
        first.setdefault(b, k)
        last[b] = max(last.get(b, k), k)
        sizes[b] = max(sizes.get(b, 0), em.size(step.output) * em.elem)
    lives = []
    for b in first:
        if b in out_offsets or (b == model.input_name and not wrapper):
            continue
        size = em.size(b) * em.elem if b == model.input_name else sizes[b]
        lives.append(TensorLife(b, size, first[b], last[b]))
    if wrapper:
        produced = [first[b] for b in out_offsets if b in first] + ([end] if copies else [])
        lives.append(TensorLife("__outputs__", offset * em.elem, min(produced, default=end), end))
    offsets, arena = plan_arena(lives, align=ALIGN)
    bound = liveness_bound(lives, align=ALIGN)
    for name in list(model.tensors if em.int8 else model.shapes) + list(em.extra_shapes):
        b = base(name)
        if b == model.input_name:
            em.pointers[name] = "in"
        elif em.is_const(b):
            em.pointers[name] = f"tm_const{list(model.constants).index(b)}"
        elif b in out_offsets:
            em.pointers[name] = f"(out + {out_offsets[b]})" if out_offsets[b] else "out"
        elif b in offsets:
            off = offsets[b] // em.elem
            em.pointers[name] = f"(tm_arena + {off})" if off else "tm_arena"
    for k, value in enumerate(model.constants.values()):
        em.array(em.ctype, f"tm_const{k}", value)
    return _Memory(arena, bound, offsets.get(model.input_name) if wrapper else None,
                   offsets.get("__outputs__") if wrapper else None, copies)  # fmt: skip


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


def _source(model, precision, em: CEmitter, mem: _Memory, out_sizes) -> str:
    int8 = precision == "int8"
    ctype = "int8_t" if int8 else "float"
    mode = (
        f"int8 (quantization mode {model.mode}, {model.weight_bitwidth}-bit weights)" if int8 else "float32"
    )
    head = [
        "/* Generated by tinyml_tinyverse.common.compilation: do not edit.",
        f" * Model: {safe_comment(model.name)}, {mode}.",
        " * C99, no dynamic memory, no recursion; runs on the CPU (no accelerator instructions). */",
        "#include <stdint.h>",
    ]
    if em.uses_math and not int8:
        head.append("#include <math.h>")
    head += ['#include "tinyml_model.h"', ""]
    words = max(1, -(-mem.arena_bytes // 4))
    if int8:
        arena = (f"static union {{\n    int32_t align; /* word-aligned */\n    int8_t bytes[{words * 4}];\n}} tm_arena_u;\n"
                 "#define tm_arena (tm_arena_u.bytes)\n")  # fmt: skip
    else:
        arena = f"static float tm_arena[{words}];\n"
    run = [f"static void tm_run(const {ctype} *in, {ctype} *out)", "{", "\n".join(em.calls)]
    offsets = np.cumsum([0] + out_sizes)
    for k, name in mem.copies:
        run += [
            "    {",
            "        int32_t i;",
            f"        for (i = 0; i < {out_sizes[k]}; ++i) {{",
            f"            out[{offsets[k]} + i] = ({em.ptr(name)})[i];",
            "        }",
            "    }",
        ]
    if not any("out" in c for c in em.calls) and not mem.copies:
        run.append("    (void)out;")
    run.append("}\n")
    body = [
        "\n".join(head),
        em.kernels(),
        "/* ---- weights and layer parameters ---- */",
        "".join(em.decls),
        "/* ---- activation arena (offsets planned from buffer lifetimes) ---- */",
        arena,
        "\n".join(run),
        f"int tinyml_model_run(const {ctype} *in, {ctype} *out)\n{{",
        "    if (in == 0 || out == 0) {\n        return -1;\n    }",
        "    tm_run(in, out);",
        "    return 0;\n}\n",
    ]
    if int8:
        body.append(_float_wrapper(model, out_sizes, mem))
    else:
        body.append(
            "int tinyml_model_run_float(const float *in, float *out)\n{\n    return tinyml_model_run(in, out);\n}\n"
        )
    if mem.arena_bytes == 0 and not any("tm_arena" in part for part in body if part is not arena):
        body.remove(arena)  # a float model of one layer reads its input and writes its output in place
    return "\n".join(body)


def _float_wrapper(model: QuantizedGraph, out_sizes: list[int], mem: _Memory) -> str:
    lines = [
        "int tinyml_model_run_float(const float *in, float *out)",
        "{",
        f"    int8_t *const in_q = tm_arena + {mem.input_offset}; /* the arena holds the int8 input and outputs */",
        f"    int8_t *const out_q = tm_arena + {mem.output_offset};",
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
        "    tm_run(in_q, out_q);",
    ]
    for k in range(len(out_sizes)):
        lines += [
            f"    for (i = TINYML_MODEL_OUTPUT{k}_OFFSET; i < TINYML_MODEL_OUTPUT{k}_OFFSET + TINYML_MODEL_OUTPUT{k}_SIZE; ++i) {{",
            f"        out[i] = (float)((int32_t)out_q[i] - TINYML_MODEL_OUTPUT{k}_ZERO_POINT) * TINYML_MODEL_OUTPUT{k}_SCALE;",
            "    }",
        ]
    lines += ["    return 0;", "}", ""]
    return "\n".join(lines)
