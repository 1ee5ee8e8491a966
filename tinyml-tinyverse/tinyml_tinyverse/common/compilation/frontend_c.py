"""``feature_extract.c/.h``: the configured feature extraction of one frame as C99.

Each feature transform emits its own C (``c_step`` next to its Python, see
``tinyml_tinyverse.common.transforms.c_code``); this module chains the steps of the run's
``feat_ext_transform`` list into ``fe_frame_features()``: no malloc, no recursion, two static work
buffers. Three passes: the signal each step produces, then backwards how many values each step's
successors use (a step computes only those), then the C. A transform without C, or a data
processing step the chip cannot run, is a :class:`CompilationError` naming it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import CompilationError, ConfigError
from ..transforms import Recording, extract_features
from ..transforms.basic import Concat, RawFeatures
from ..transforms.c_code import Q15_ROUND_DECL, CContext, CSignal, CStep, NoCImplementation
from ..transforms.data_processing import frame_hop, frame_length
from ..transforms.pipeline import build_pipeline

# data processing steps that are the identity at inference time (no C needed)
INFERENCE_IDENTITY = ("SimpleWindow", "GainVariation")


@dataclass
class FrontendSpec:
    """What the generated front end computes, in numbers."""

    channels: int  # input variables (before 1D stacking)
    frame_size: int
    hop: int
    features_per_frame: int  # per channel
    num_frame_concat: int
    concat_stride: int
    model_channels: int
    q15_samples: bool  # samples are int16 counts (the first step takes them as such)
    steps: list[str] = field(default_factory=list)

    @property
    def span(self) -> int:
        """Samples one example covers."""
        return self.frame_size + (self.num_frame_concat - 1) * self.hop

    @property
    def input_size(self) -> int:
        return self.channels * self.num_frame_concat * self.features_per_frame


@dataclass
class FrontendSource:
    spec: FrontendSpec
    header: str
    source: str
    buffer_entries: int
    integer_features: bool  # the features are fixed-point integers (bit-exact with Python)


def _check_data_processing(cfg: dict[str, Any]) -> None:
    for name in cfg["data_proc_transforms"]:
        if name not in INFERENCE_IDENTITY:
            raise CompilationError(
                f"data_proc_transforms lists {name}, which has no C implementation in the on-chip pipeline "
                f"(only {', '.join(INFERENCE_IDENTITY)} are supported there); the chip cannot reproduce the "
                f"features the model was trained on. Do {name} before the samples reach the pipeline "
                "(e.g. sample at the lower rate) and remove it from the config, or compile without the "
                "feature extraction (data_config=None)"
            )


def frontend_spec(cfg: dict[str, Any], channels: int) -> FrontendSpec:
    """The numbers of the front end of ``channels`` input variables, checked against Python."""
    _check_data_processing(cfg)
    probe = extract_features(
        [Recording(np.zeros((_span(cfg) + 1, channels), np.float32))], cfg, stats=None, fit=True
    )
    _, model_channels, h, w = probe.X.shape
    k = int(cfg["num_frame_concat"]) if "CONCAT" in cfg["feat_ext_transform"] else 1
    per_frame, rem = divmod(model_channels * h * w, channels * k)
    if rem:
        raise CompilationError(
            f"the features {probe.X.shape[1:]} do not split into {channels} channels x {k} frames"
        )
    pipe = build_pipeline(cfg, fuse=False)
    first = next((s for s in pipe.features if not _is_identity(s)), None)
    return FrontendSpec(
        channels=channels,
        frame_size=frame_length(cfg),
        hop=frame_hop(cfg),
        features_per_frame=per_frame,
        num_frame_concat=k,
        concat_stride=int(cfg["concat_stride"]) if k > 1 or "CONCAT" in cfg["feat_ext_transform"] else 1,
        model_channels=model_channels,
        q15_samples=bool(first is not None and getattr(first, "takes_counts", False)),
        steps=list(pipe.feature_names),
    )


def _span(cfg: dict[str, Any]) -> int:
    k = int(cfg["num_frame_concat"]) if "CONCAT" in cfg["feat_ext_transform"] else 1
    return int(cfg["frame_size"]) + (k - 1) * frame_hop(cfg)


def _is_identity(step) -> bool:
    """RAW_FE without dc_remove and CONCAT leave a frame as it is."""
    return isinstance(step, (RawFeatures, Concat)) and not (
        isinstance(step, RawFeatures) and step.cfg.get("dc_remove")
    )


def _uses(code: str, name: str) -> bool:
    code = re.sub(r"/\*.*?\*/", "", code, flags=re.S)
    return re.search(rf"\b{name}\b", code) is not None


def _function(index: int, name: str, step: CStep) -> tuple[str, str]:
    """The static function of one step and how to call it (``{src}``/``{dst}`` placeholders)."""
    fname = f"fe_step{index}_{re.sub(r'[^a-z0-9]+', '_', name.lower()).strip('_')}"
    params = (
        ["fe_value_t *restrict buf"]
        if step.in_place
        else ["fe_value_t *restrict src", "fe_value_t *restrict dst"]
    )
    args = ["{src}"] if step.in_place else ["{src}", "{dst}"]
    if _uses(step.body, "channel"):
        params.append("int32_t channel")
        args.append("channel")
    counters = [v for v in ("n", "k") if _uses(step.body, v)]
    body = "\n".join("    " + ln if ln else "" for ln in step.body.splitlines())
    decl = f"    int32_t {', '.join(counters)};\n" if counters else ""
    text = f"static void {fname}({', '.join(params)})\n{{\n{decl}{body}\n}}\n"
    return text, f"{fname}({', '.join(args)});"


def generate_frontend(
    cfg: dict[str, Any], channels: int, stats: dict[str, Any] | None = None
) -> FrontendSource:
    """``feature_extract.h`` and ``.c`` for the validated data config ``cfg`` and ``channels`` inputs."""
    spec = frontend_spec(cfg, channels)
    pipe = build_pipeline(cfg, fuse=False)
    length = spec.frame_size
    sig = CSignal(length, integer=spec.q15_samples)

    def ctx_for(i: int, signal: CSignal, demand: int) -> CContext:
        return CContext(
            signal=signal, demand=demand, cfg=cfg, frame_length=length, channels=spec.channels,
            stats=dict(stats or {}), following=tuple(pipe.feature_names[i + 1 :]), prefix=f"fe_s{i}",
        )  # fmt: skip

    def step_of(i, name, transform, signal, demand) -> CStep:
        try:
            return transform.c_step(ctx_for(i, signal, demand))
        except NoCImplementation as exc:
            raise CompilationError(
                f"feat_ext_transform step {name} has no C for the on-chip pipeline ({exc}); the chip cannot "
                "reproduce the features. Replace it with a step that has C (docs/feature_extraction.md lists "
                "them), or compile without the feature extraction"
            ) from None
        except ConfigError as exc:
            raise CompilationError(f"feat_ext_transform step {name}: {exc}") from None

    # pass 1: the signal after each step (everything computed)
    signals = [sig]
    for i, (name, t) in enumerate(zip(pipe.feature_names, pipe.features)):
        signals.append(step_of(i, name, t, signals[-1], signals[-1].length).out)
    last = signals[-1]
    if last.complex:
        raise CompilationError("feat_ext_transform ends with a complex spectrum; add ABS or Q15_MAG")
    if last.length != spec.features_per_frame:
        raise CompilationError(
            f"the C front end gives {last.length} features per frame but Python gives {spec.features_per_frame}"
        )
    # pass 2: how many values each step must compute
    demands = [0] * (len(pipe.features) + 1)
    demands[-1] = last.length
    for i in range(len(pipe.features) - 1, -1, -1):
        demands[i] = min(signals[i].length, pipe.features[i].c_input_demand(signals[i], demands[i + 1]))
    # pass 3: the C
    functions, calls, decls, math, entries = [], [], [], False, length
    cur = CSignal(length, integer=spec.q15_samples)
    buf = 0
    for i, (name, t) in enumerate(zip(pipe.feature_names, pipe.features)):
        step = step_of(i, name, t, cur, demands[i + 1])
        decls += [d for d in step.decls if d not in decls]
        math |= step.math
        entries = max(entries, step.out.entries, step.entries, cur.entries)
        cur = step.out
        if not step.body:
            continue
        text, call = _function(i, name, step)
        functions.append(text)
        calls.append("    " + call.format(src=f"fe_buf{buf}", dst=f"fe_buf{1 - buf}"))
        if not step.in_place:
            buf = 1 - buf
    if cur.n < spec.features_per_frame:
        raise CompilationError(
            f"the C front end computes {cur.n} of {spec.features_per_frame} features per frame"
        )
    member = cur.member
    header = _header(spec)
    source = _source(spec, cfg, decls, functions, calls, buf, member, entries, math)
    return FrontendSource(spec, header, source, entries, member == "i")


def _header(spec: FrontendSpec) -> str:
    sample = "int16_t" if spec.q15_samples else "float"
    return f"""/* Generated by tinyml_tinyverse: the feature extraction of one frame. Do not edit.
 * Steps: {", ".join(spec.steps)}. C99, no dynamic memory, no recursion. */
#ifndef FEATURE_EXTRACT_H
#define FEATURE_EXTRACT_H

#include <stdint.h>

#define FE_CHANNELS {spec.channels}
#define FE_FRAME_SIZE {spec.frame_size}
#define FE_HOP {spec.hop}
#define FE_FEATURES_PER_FRAME {spec.features_per_frame}
#define FE_NUM_FRAME_CONCAT {spec.num_frame_concat}
#define FE_CONCAT_STRIDE {spec.concat_stride}
#define FE_INPUT_SIZE {spec.input_size}
#define FE_SAMPLES_ARE_Q15 {int(spec.q15_samples)}

typedef {sample} fe_sample_t;

#ifdef __cplusplus
extern "C" {{
#endif

/* A raw float sample as the front end stores it{" (rounded half to even, saturated to int16)" if spec.q15_samples else ""}. */
fe_sample_t fe_sample_from_float(float v);

/* Features of one frame of one channel. samples: a circular buffer of FE_FRAME_SIZE samples whose
 * oldest is at index first (0 for a plain frame); writes FE_FEATURES_PER_FRAME floats. Not reentrant
 * (two static work buffers). */
void fe_frame_features(const fe_sample_t *samples, int32_t first, int32_t channel, float *features);

#ifdef __cplusplus
}}
#endif

#endif /* FEATURE_EXTRACT_H */
"""


def _source(spec, cfg, decls, functions, calls, buf, member, entries, math) -> str:
    q15 = spec.q15_samples
    store = "fe_buf0[n].i = samples[k];" if q15 else "fe_buf0[n].f = samples[k];"
    convert = "    return (fe_sample_t)fe_q15_round(v);\n" if q15 else "    return v;\n"
    head = [
        "/* Generated by tinyml_tinyverse: the feature extraction of one frame. Do not edit.",
        f" * feat_ext_transform: {', '.join(cfg['feat_ext_transform'])}",
        f" * frame_size {spec.frame_size}, {spec.features_per_frame} features per frame and channel. */",
        "#include <stdint.h>",
    ]
    if math or q15:
        head.append("#include <math.h>")
    head += [
        '#include "feature_extract.h"',
        "",
        "#if defined(__clang__)",
        "#pragma STDC FP_CONTRACT OFF /* the Python reference rounds every product on its own */",
        "#endif",
        "",
        "typedef union {",
        "    float f;",
        "    int32_t i;",
        "} fe_value_t;",
        "",
        f"static fe_value_t fe_buf0[{entries}];",
        *([f"static fe_value_t fe_buf1[{entries}];"] if any("fe_buf1" in c for c in calls) else []),
        "",
    ]
    if q15 and Q15_ROUND_DECL not in decls:
        decls = [Q15_ROUND_DECL, *decls]
    body = [
        "fe_sample_t fe_sample_from_float(float v)",
        "{",
        convert.rstrip("\n"),
        "}",
        "",
        "void fe_frame_features(const fe_sample_t *samples, int32_t first, int32_t channel, float *features)",
        "{",
        "    int32_t n, k;",
        f"    for (n = 0, k = first; k < {spec.frame_size}; ++n, ++k) {{ /* the oldest samples, then the rest */",
        f"        {store}",
        "    }",
        "    for (k = 0; k < first; ++n, ++k) {",
        f"        {store}",
        "    }",
        *calls,
        f"    for (n = 0; n < {spec.features_per_frame}; ++n) {{",
        f"        features[n] = {'(float)' if member == 'i' else ''}fe_buf{buf}[n].{member};",
        "    }",
        "    (void)channel;",
        "}",
        "",
    ]
    return "\n".join(head) + "\n" + "\n".join(decls) + "\n" + "\n".join(functions) + "\n" + "\n".join(body)
