"""Golden test vectors (``test_vector.c``) and the host harness (``main.c``) that checks them."""

from __future__ import annotations

import numpy as np

from .codegen_c import GeneratedModel, c_array, fmt_float

MAX_VECTORS = 32
PER_CLASS = 4


def select_vectors(
    x: np.ndarray, y: np.ndarray | None, max_vectors: int = MAX_VECTORS, per_class: int = PER_CLASS
) -> np.ndarray:
    """Indices of the samples to embed: up to ``per_class`` per class for integer labels (at most
    ``max_vectors`` in all), else the first ``max_vectors // 2``."""
    n = len(x)
    if (
        y is not None
        and len(y) == n
        and np.asarray(y).ndim == 1
        and np.issubdtype(np.asarray(y).dtype, np.integer)
    ):
        y = np.asarray(y)
        picks = [i for c in np.unique(y) for i in np.flatnonzero(y == c)[:per_class]]
        return np.array(sorted(picks)[:max_vectors], dtype=np.int64)
    return np.arange(min(n, max(1, max_vectors // 2)))


def _block(ctype: str, name: str, rows: np.ndarray) -> str:
    """A ``const`` 2-D array (one row per vector) with external linkage."""
    rows = np.asarray(rows).reshape(len(rows), -1)
    body = []
    for row in rows:
        text = c_array(ctype, "x", row)
        body.append("    {" + text[text.index("{") + 1 : text.rindex("}")].strip() + "}")
    return f"const {ctype} {name}[{rows.shape[0]}][{rows.shape[1]}] = {{\n" + ",\n".join(body) + "\n};\n"


def test_vector_source(gm: GeneratedModel, inputs: np.ndarray, expected: np.ndarray, x_float: np.ndarray,
                       raw: np.ndarray | None = None, labels: np.ndarray | None = None) -> str:  # fmt: skip
    """``test_vector.c``: model inputs, expected outputs (from the reference), float inputs and labels.

    ``raw`` is not embedded here: the pipeline's block (:func:`pipeline_vector_source`) carries raw
    windows with their features and outputs."""
    int8 = gm.precision == "int8"
    ctype = "int8_t" if int8 else "float"
    count = len(inputs)
    parts = [
        "/* Generated test vectors: inputs and the outputs of the Python reference (bit-exact for int8). */",
        "#include <stdint.h>",
        '#include "tinyml_model.h"',
        "",
        f"const int32_t tinyml_test_count = {count};",
        _block(ctype, "tinyml_test_input", inputs.reshape(count, -1)),
        _block(ctype, "tinyml_test_expected", expected.reshape(count, -1)),
        _block("float", "tinyml_test_input_float", x_float.reshape(count, -1)),
    ]
    if labels is not None:
        lab = np.asarray(labels, dtype=np.float32).reshape(count, -1)
        parts.append(f"const int32_t tinyml_test_label_size = {lab.shape[1]};")
        parts.append(_block("float", "tinyml_test_label", lab))
    return "\n".join(parts)


def harness_source(
    gm: GeneratedModel, output_scales=None, output_zero_points=None, rel_tol: float = 1e-5
) -> str:
    """``main.c``: run every vector, print its outputs (``Y`` lines), compare, print one result line."""
    int8 = gm.precision == "int8"
    ctype = "int8_t" if int8 else "float"
    lines = [
        "/* Host harness: runs every test vector through the generated model and compares with the",
        " * Python reference. Prints 'TINYML_TEST PASS|FAIL ...' and exits with 0 on success. */",
        "#include <stdio.h>",
        "#include <stdint.h>",
        '#include "tinyml_model.h"',
        '#include "model_aux.h"',
        "",
        "extern const int32_t tinyml_test_count;",
        f"extern const {ctype} tinyml_test_input[][TINYML_MODEL_INPUT_SIZE];",
        f"extern const {ctype} tinyml_test_expected[][TINYML_MODEL_OUTPUT_SIZE];",
        "extern const float tinyml_test_input_float[][TINYML_MODEL_INPUT_SIZE];",
        "",
        f"static {ctype} out_buf[TINYML_MODEL_OUTPUT_SIZE];",
        "static float out_float[TINYML_MODEL_OUTPUT_SIZE];",
        "",
    ]
    if not int8:
        lines += ["static float absf(float v)", "{", "    return v < 0.0f ? -v : v;", "}", ""]
    if int8:
        lines += ["static float dequant(int32_t i, int8_t q)", "{"]
        for k in range(len(gm.output_sizes)):
            lines += [
                f"    if (i >= TINYML_MODEL_OUTPUT{k}_OFFSET && i < TINYML_MODEL_OUTPUT{k}_OFFSET + TINYML_MODEL_OUTPUT{k}_SIZE) {{",
                f"        return (float)((int32_t)q - TINYML_MODEL_OUTPUT{k}_ZERO_POINT) * TINYML_MODEL_OUTPUT{k}_SCALE;",
                "    }",
            ]
        lines += ["    return 0.0f;", "}", ""]
    lines += [
        "int main(void)",
        "{",
        "    int32_t v, i;",
        "    int32_t failed = 0;",
        '    printf("model: %d classes, input %d values, output %d values\\n", TINYML_MODEL_NUM_CLASSES,',
        "           TINYML_MODEL_INPUT_SIZE, TINYML_MODEL_OUTPUT_SIZE);",
        "    for (v = 0; v < tinyml_test_count; ++v) {",
        "        int32_t bad = 0;",
        *([] if int8 else ["        float peak = 0.0f, worst = 0.0f;"]),
        "        if (tinyml_model_run(tinyml_test_input[v], out_buf) != 0) {",
        "            bad = 1;",
        "        }",
        "        if (tinyml_model_run_float(tinyml_test_input_float[v], out_float) != 0) {",
        "            bad = 1;",
        "        }",
        '        printf("Y %d", (int)v);',
        "        for (i = 0; i < TINYML_MODEL_OUTPUT_SIZE; ++i) {",
    ]
    if int8:
        lines += [
            '            printf(" %d", (int)out_buf[i]);',
            "            if (out_buf[i] != tinyml_test_expected[v][i]) {",
            "                bad += 1;",
            "            }",
            "            /* the float wrapper must give exactly the dequantized expected output */",
            "            if (out_float[i] != dequant(i, tinyml_test_expected[v][i])) {",
            "                bad += 1;",
            "            }",
            "        }",
            '        printf("\\n");',
        ]
    else:
        lines += [
            '            printf(" %.9g", (double)out_buf[i]);',
            "            peak = absf(tinyml_test_expected[v][i]) > peak ? absf(tinyml_test_expected[v][i]) : peak;",
            "        }",
            '        printf("\\n");',
            "        for (i = 0; i < TINYML_MODEL_OUTPUT_SIZE; ++i) {",
            "            float d = absf(out_buf[i] - tinyml_test_expected[v][i]);",
            "            worst = d > worst ? d : worst;",
            "            if (out_float[i] != out_buf[i]) {",
            "                bad += 1;",
            "            }",
            "        }",
            f"        if (worst > {fmt_float(rel_tol)} * (peak > 1e-6f ? peak : 1e-6f)) {{",
            "            bad += 1;",
            "        }",
        ]
    lines += [
        '        printf("vector %d: %s\\n", (int)v, bad ? "FAIL" : "PASS");',
        "        failed += bad ? 1 : 0;",
        "    }",
        '    printf("TINYML_TEST %s: %d of %d vectors %s\\n", failed ? "FAIL" : "PASS", (int)(tinyml_test_count - failed),',
        f'           (int)tinyml_test_count, "{"bit-exact" if int8 else "within relative error " + str(rel_tol)}");',
        "    return failed ? 1 : 0;",
        "}",
        "",
    ]
    return "\n".join(lines)


def parse_harness_outputs(stdout: str, count: int, size: int, int8: bool) -> np.ndarray:
    """The ``Y`` lines of the harness as an array ``(count, size)``."""
    rows = {}
    for line in stdout.splitlines():
        if line.startswith("Y "):
            parts = line.split()
            rows[int(parts[1])] = [float(p) for p in parts[2:]]
    out = np.full((count, size), np.nan)
    for v, vals in rows.items():
        if v < count and len(vals) == size:
            out[v] = vals
    return out.astype(np.int64) if int8 and not np.isnan(out).any() else out


# ---- the on-chip pipeline (raw samples -> features -> model -> answer), issue 8 ----
def _float_block(name: str, rows: np.ndarray) -> str:
    """A ``const float`` 2-D array; 9 significant digits read back as the exact float32 values."""
    rows = np.asarray(rows, np.float32)
    body = ",\n".join("    {" + ", ".join(map("{:.9g}".format, r.tolist())) + "}" for r in rows)
    return f"const float {name}[{rows.shape[0]}][{rows.shape[1]}] = {{\n{body}\n}};\n"


def pipeline_vector_source(
    raw: np.ndarray, features: np.ndarray, expected: np.ndarray, recording: np.ndarray | None,
    rec_expected: np.ndarray | None,
) -> str:  # fmt: skip
    """Arrays appended to ``test_vector.c``: raw windows (rows in the pipeline's column order), the
    Python features and model outputs of each, and one recording with the outputs of its windows."""
    n = len(raw)
    parts = [
        "",
        "/* ---- the pipeline: raw windows, their Python features and expected (dequantized) outputs ---- */",
        '#include "tinyml_pipeline.h"',
        f"const int32_t tinyml_pipe_count = {n};",
        f"const int32_t tinyml_pipe_rows = {raw.shape[1]};",
        _float_block("tinyml_test_raw", raw.reshape(n, -1)),
        _float_block("tinyml_pipe_features", features.reshape(n, -1)),
        _float_block("tinyml_pipe_expected", expected.reshape(n, -1)),
    ]
    if recording is not None and rec_expected is not None and len(rec_expected):
        parts += [
            "/* one recording streamed row by row; the outputs of its windows */",
            f"const int32_t tinyml_pipe_rec_rows = {len(recording)};",
            f"const int32_t tinyml_pipe_rec_windows = {len(rec_expected)};",
            _float_block("tinyml_pipe_rec", recording.reshape(len(recording), -1)),
            _float_block("tinyml_pipe_rec_expected", rec_expected.reshape(len(rec_expected), -1)),
        ]
    else:
        parts += [
            "const int32_t tinyml_pipe_rec_rows = 0;",
            "const int32_t tinyml_pipe_rec_windows = 0;",
            "const float tinyml_pipe_rec[1][TINYML_PIPELINE_CHANNELS] = {{0}};",
            "const float tinyml_pipe_rec_expected[1][TINYML_PIPELINE_NUM_OUTPUTS] = {{0}};",
        ]
    return "\n".join(parts) + "\n"


def pipeline_harness_source(rows: int) -> str:
    """``pipeline_main.c``: pushes every raw window after a reset and the recording row by row;
    prints the features (``F`` lines), outputs (``P`` lines) and the recording's outputs (``S``)."""
    return f"""/* Host harness of the pipeline: raw windows -> tinyml_pipeline_push -> features and outputs,
 * printed for the Python side to compare with its reference. */
#include <stdio.h>
#include <stdint.h>
#include "tinyml_model.h"
#include "tinyml_pipeline.h"

extern const int32_t tinyml_pipe_count, tinyml_pipe_rows, tinyml_pipe_rec_rows, tinyml_pipe_rec_windows;
extern const float tinyml_test_raw[][{rows} * TINYML_PIPELINE_CHANNELS];
extern const float tinyml_pipe_features[][TINYML_PIPELINE_NUM_FEATURES];
extern const float tinyml_pipe_expected[][TINYML_PIPELINE_NUM_OUTPUTS];
extern const float tinyml_pipe_rec[][TINYML_PIPELINE_CHANNELS];
extern const float tinyml_pipe_rec_expected[][TINYML_PIPELINE_NUM_OUTPUTS];

static float out[TINYML_PIPELINE_NUM_OUTPUTS];

static void print_output(const char *tag, int32_t v, int done, int cls)
{{
    int32_t i;
    printf("%s %d %d %d", tag, (int)v, done, cls);
    for (i = 0; i < TINYML_PIPELINE_NUM_OUTPUTS; ++i) {{
        printf(" %.9g", (double)out[i]);
    }}
    printf("\\n");
}}

int main(void)
{{
    int32_t v, i, r, seen = 0;
    for (v = 0; v < tinyml_pipe_count; ++v) {{
        const float *features;
        int done, cls;
        tinyml_pipeline_reset();
        done = tinyml_pipeline_push(tinyml_test_raw[v], (int)tinyml_pipe_rows);
        cls = tinyml_pipeline_result(out);
        features = tinyml_pipeline_features();
        printf("F %d", (int)v);
        for (i = 0; i < TINYML_PIPELINE_NUM_FEATURES; ++i) {{
            printf(" %.9g", (double)features[i]);
        }}
        printf("\\n");
        print_output("P", v, done, cls);
    }}
    tinyml_pipeline_reset();
    for (r = 0; r < tinyml_pipe_rec_rows; ++r) {{ /* the recording, one row at a time */
        if (tinyml_pipeline_push(tinyml_pipe_rec[r], 1) == 1) {{
            int cls = tinyml_pipeline_result(out);
            print_output("S", seen, 1, cls);
            seen += 1;
        }}
    }}
    printf("TINYML_PIPELINE %d windows, %d of %d recording windows\\n", (int)tinyml_pipe_count, (int)seen,
           (int)tinyml_pipe_rec_windows);
    return 0;
}}
"""


def parse_pipeline_outputs(stdout: str) -> dict[str, dict[int, list[float]]]:
    """``F``, ``P`` and ``S`` lines of the pipeline harness, by tag and index."""
    out: dict[str, dict[int, list[float]]] = {"F": {}, "P": {}, "S": {}}
    for line in stdout.splitlines():
        parts = line.split()
        if parts and parts[0] in out and len(parts) >= 2:
            out[parts[0]][int(parts[1])] = [float(p) for p in parts[2:]]
    return out
