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
from dataclasses import dataclass, field

import numpy as np

from ..ir.c_emit import CEmitter, Step, c_array, chw, fmt_float, pack_weights, safe_comment  # noqa: F401
from ..ir.graph import Graph
from ..ir.op import op_of
from ..quantization.quantized_graph import QuantizedGraph
from .arena import lifetimes, plan_arena

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

    @property
    def elem_bytes(self) -> int:
        return 1 if self.precision == "int8" else 4

    @property
    def output_size(self) -> int:
        return sum(self.output_sizes)


def _size(shape) -> int:
    return int(np.prod(shape))


def generate(model: QuantizedGraph | Graph, *, pack_sub_byte: bool = False) -> GeneratedModel:
    """Generate ``tinyml_model.c`` / ``.h`` text for an int8 or a float model."""
    precision = "int8" if isinstance(model, QuantizedGraph) else "float"
    em = CEmitter(model, precision, pack_sub_byte)
    nodes = model.nodes
    steps = [Step(n, f"L{i}") for i, n in enumerate(nodes)]
    for step in steps:
        n = step.node
        step.comment = f"{n.op} {n.name} {list(em.shape(n.inputs[0]))} -> {list(em.shape(n.output))}"
    # tensors are written once, so a reshape's output can share its input's memory (no copy)
    root: dict[str, str] = {}
    for n in nodes:
        if n.op == "reshape":
            root[n.output] = root.get(n.inputs[0], n.inputs[0])

    def base(name: str) -> str:
        return root.get(name, name)

    sizes = {base(n.output): em.size(n.output) * em.elem for n in nodes}
    plan_steps = [([base(i) for i in n.inputs], base(n.output)) for n in nodes]
    lives = lifetimes(plan_steps, [base(o) for o in model.output_names], sizes, external={model.input_name})
    offsets, arena_bytes = plan_arena(lives, align=4)
    largest_io = 0
    for n in nodes:
        io = em.size(n.output) * em.elem + sum(
            em.size(i) * em.elem for i in set(n.inputs) if not em.is_const(i)
        )
        largest_io = max(largest_io, io)
    lower = max(
        (sum(t.size for t in lives if t.first <= s <= t.last) for s in range(len(nodes) + 1)), default=0
    )

    const_names: dict[str, str] = {}
    for k, (cname, value) in enumerate(model.constants.items()):
        const_names[cname] = em.array(em.ctype, f"tm_const{k}", value)
    for name in list(model.tensors if precision == "int8" else model.shapes):
        b = base(name)
        if b == model.input_name:
            em.pointers[name] = "in"
        elif em.is_const(b):
            em.pointers[name] = const_names[b]
        elif b in offsets:
            off = offsets[b] // em.elem
            em.pointers[name] = f"(tm_arena + {off})" if off else "tm_arena"

    layers = []
    for step in steps:
        em.tag = step.tag
        op = op_of(step.node)
        op.emit_c(em, step)
        for n in step.nodes:
            layers.append(
                dict(
                    name=n.name,
                    op=n.op,
                    output_shape=list(em.shape(n.output)),
                    macs=int(op_of(n).macs(em, n)),
                )
            )

    out_sizes = [em.size(o) for o in model.output_names]
    in_size = em.size(model.input_name)
    scratch = (in_size + sum(out_sizes)) if precision == "int8" else 0
    header = _header(model, precision, arena_bytes, in_size, out_sizes)
    source = _drop_unused_helpers(_source(model, precision, em, arena_bytes, out_sizes))
    return GeneratedModel(
        source=source, header=header, precision=precision, arena_bytes=arena_bytes, arena_lower_bound_bytes=lower,
        largest_layer_io_bytes=largest_io, weights_bytes=em.weights_bytes, scratch_bytes=scratch,
        input_size=in_size, output_sizes=out_sizes, layers=layers,
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


def _source(model, precision, em: CEmitter, arena_bytes: int, out_sizes) -> str:
    int8 = precision == "int8"
    ctype = "int8_t" if int8 else "float"
    uses_math = em.uses_math and not int8
    mode = (
        f"int8 (quantization mode {model.mode}, {model.weight_bitwidth}-bit weights)" if int8 else "float32"
    )
    head = [
        "/* Generated by tinyml_tinyverse.common.compilation: do not edit.",
        f" * Model: {safe_comment(model.name)}, {mode}.",
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
        em.kernels(),
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
        body.append(f"    memcpy(out + {offset}, {em.ptr(name)}, {out_sizes[k]} * sizeof({ctype}));")
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
