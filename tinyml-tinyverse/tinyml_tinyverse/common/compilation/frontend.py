"""The on-chip front end of a compile: feature extraction and pipeline as C, built and proven.

:func:`add_frontend` runs inside ``compile_model`` (before ``artifacts.partial`` becomes
``artifacts``) when a data config is given. It writes ``feature_extract.c/.h`` and
``tinyml_pipeline.c/.h``, appends raw windows, their Python features and expected outputs (and
one streamed recording) to ``test_vector.c``, builds ``pipeline_main.c`` with the model on the
host and checks each stage:

- C features against Python features: bit-exact when the features are integers (Q15 chains),
  else within 1e-4 relative or 1e-5 absolute per value;
- raw samples to the model's output: exactly the integer reference's output when the features are
  bit-exact, the same class otherwise (the model itself is proven bit-exact by ``main.c``);
- the recording pushed row by row gives one output per Python window, in order.

It returns the front end's memory (RAM: ring buffer, frame features, work buffers, FFT scratch;
flash: FFT tables, window, statistics, code), measured from the objects of the real build.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import CompilationError, ConfigError, TinyMLError
from ..task_names import scores_classes
from ..transforms import Recording, extract_features
from . import toolchain
from .devices import Device
from .elf_symbols import sized_symbols
from .frontend_c import FrontendSource, generate_frontend
from .pipeline_c import pipeline_header, pipeline_source
from .test_vectors import parse_pipeline_outputs, pipeline_harness_source, pipeline_vector_source

logger = logging.getLogger(__name__)

MAX_WINDOWS = 8  # raw windows embedded in test_vector.c
MAX_RECORDING_WINDOWS = 6  # windows of the streamed recording
MAX_RAW_VALUES = 100_000  # floats of raw samples per block in test_vector.c at most
FLOAT_REL_TOL, FLOAT_ABS_TOL = 1e-4, 1e-5
SOURCES = ("feature_extract.c", "tinyml_pipeline.c")


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _windows(raw: np.ndarray | None, span: int, channels: int, q15: bool) -> np.ndarray:
    """Raw windows ``(n, span, channels)``: the given ones, or seeded noise."""
    if raw is None:
        rng = np.random.default_rng(0)
        noise = rng.standard_normal((4, span, channels)) * (2000.0 if q15 else 1.0)
        return np.round(noise).astype(np.float32) if q15 else noise.astype(np.float32)
    raw = np.asarray(raw, np.float32)
    if raw.ndim == 2:
        raw = raw[..., None]
    if raw.ndim != 3 or raw.shape[1:] != (span, channels):
        raise CompilationError(
            f"test_vectors['raw'] holds windows of shape {raw.shape[1:]}, but one window of the pipeline is "
            f"{span} samples x {channels} channels"
        )
    keep = max(1, min(MAX_WINDOWS, MAX_RAW_VALUES // (span * channels)))
    return raw[:keep]


def _python_features(windows: list[np.ndarray], cfg: dict, stats: dict | None) -> list[np.ndarray]:
    try:
        feats = extract_features([Recording(w) for w in windows], cfg, stats=stats)
    except TinyMLError as exc:
        raise CompilationError(f"the feature extraction of the raw test windows failed: {exc}") from None
    return [feats.X[feats.file_ids == i] for i in range(len(windows))]


def _classes(outputs: np.ndarray, task: str | None) -> np.ndarray:
    return np.argmax(outputs, axis=1) if scores_classes(task) else np.zeros(len(outputs), np.int64)


def _feature_diff(c: np.ndarray, py: np.ndarray) -> tuple[float, float, int]:
    d = np.abs(c.astype(np.float64) - py.astype(np.float64))
    bad = int(np.count_nonzero(d > np.maximum(FLOAT_REL_TOL * np.abs(py), FLOAT_ABS_TOL)))
    rel = d / np.maximum(np.abs(py.astype(np.float64)), 1e-30)
    return float(d.max(initial=0)), float(rel.max(initial=0)), bad


def add_frontend(
    partial: Path,
    build: Path,
    *,
    data_config: dict,
    stats: dict | None,
    model_memory: dict,
    vectors: dict,
    reference: Callable[[np.ndarray], np.ndarray],
    model_input_size: int,
    num_outputs: int,
    device: Device,
    task: str | None,
    notes: list[str],
    output_rel_tol: float = 0.0,
) -> dict:
    """Write, build and check the front end in ``partial``; returns its memory report section.

    ``vectors``: ``raw`` windows ``(n, span, channels)`` in the model's channel order (or None:
    seeded noise), ``x`` the model inputs the raw windows should give (checked, a note if not),
    ``recording`` one recording ``(T, channels)``, ``columns`` the file column index of each model
    channel and ``column_names`` their names. ``reference(x)`` gives the dequantized outputs the C
    model computes for float inputs ``x``. ``output_rel_tol``: 0 for an int8 model (outputs bit-exact
    for bit-exact features); a float model's outputs may differ by this much relative to the largest
    output of the window, as the model check allows.
    """
    from ..datasets.data_config import validate_data_config

    try:
        cfg = validate_data_config(data_config)
    except ConfigError as exc:
        raise CompilationError(f"the data config of the feature extraction is invalid: {exc}") from None
    raw = vectors.get("raw")
    channels = _channel_count(cfg, raw, vectors.get("recording"))
    fe = generate_frontend(cfg, channels, stats)
    spec = fe.spec
    if spec.input_size != model_input_size:
        raise CompilationError(
            f"the feature extraction gives {spec.input_size} values per window ({spec.channels} channels x "
            f"{spec.num_frame_concat} frames x {spec.features_per_frame} features) but the model takes "
            f"{model_input_size}; compile with the data config the model was trained with"
        )
    windows = _windows(raw, spec.span, channels, spec.q15_samples)
    feats = _python_features(list(windows), cfg, stats)
    if any(len(f) != 1 for f in feats):
        raise CompilationError("a raw test window does not give exactly one example; its span is wrong")
    features = np.concatenate(feats).reshape(len(windows), -1)
    given = vectors.get("x")
    if raw is not None and given is not None:
        want = np.asarray(given, np.float32).reshape(len(given), -1)[: len(windows)]
        if want.shape != features.shape or not np.allclose(want, features, rtol=1e-5, atol=1e-6):
            notes.append(
                "the raw test windows do not reproduce the given model inputs through the feature extraction; "
                "the pipeline is checked against the features Python computes from the raw windows"
            )
            logger.warning(notes[-1])
    expected = reference(features.reshape(len(windows), *_model_shape(feats[0])))
    rec, rec_expected = _recording(vectors.get("recording"), cfg, stats, spec, reference)

    order = _column_order(vectors.get("columns"), channels)  # pushed column j -> model channel order[j]
    names = list(vectors.get("column_names") or [f"channel {c}" for c in range(channels)])
    push_raw = windows[:, :, order]
    _write(partial / "feature_extract.h", fe.header)
    _write(partial / "feature_extract.c", fe.source)
    _write(partial / "tinyml_pipeline.h", pipeline_header(spec, [names[c] for c in order], task, num_outputs))
    _write(partial / "tinyml_pipeline.c", pipeline_source(spec, order, task))
    with open(partial / "test_vector.c", "a") as f:
        f.write(
            pipeline_vector_source(
                push_raw, features, expected, None if rec is None else rec[:, order], rec_expected
            )
        )
    _write(partial / "pipeline_main.c", pipeline_harness_source(spec.span))

    sources = [partial / n for n in ("tinyml_model.c", *SOURCES, "test_vector.c", "pipeline_main.c")]
    exe = toolchain.build_host(sources, build / "tinyml_pipeline_harness", include_dirs=[partial])
    proc = toolchain.run_binary(exe)
    if proc.returncode != 0:
        raise CompilationError(
            f"the pipeline harness {exe} failed (exit code {proc.returncode}):\n{proc.stderr[-2000:]}"
        )
    checks = _check(
        parse_pipeline_outputs(proc.stdout),
        features,
        expected,
        rec_expected,
        task,
        fe,
        partial,
        output_rel_tol,
    )
    memory = _memory(partial, build, device)
    memory["checks"] = checks
    memory["pipeline_total"] = _fit(memory, model_memory, device)
    memory["spec"] = dict(
        channels=spec.channels, frame_size=spec.frame_size, hop=spec.hop, features_per_frame=spec.features_per_frame,
        num_frame_concat=spec.num_frame_concat, concat_stride=spec.concat_stride, q15_samples=spec.q15_samples,
        steps=spec.steps,
    )  # fmt: skip
    return memory


def _model_shape(one: np.ndarray) -> tuple[int, ...]:
    return tuple(one.shape[1:])


def _channel_count(cfg: dict, raw, recording) -> int:
    if raw is not None:
        raw = np.asarray(raw)
        return 1 if raw.ndim == 2 else int(raw.shape[-1])
    if recording is not None:
        return int(np.asarray(recording).shape[1])
    var = cfg["variables"]
    if isinstance(var, int):
        return var
    if isinstance(var, list):
        return len(var)
    raise CompilationError(
        "the pipeline's channel count is unknown: set data_processing_feature_extraction.variables or pass "
        "raw test windows (test_vectors['raw'])"
    )


def _column_order(columns, channels: int) -> list[int]:
    if columns is None:
        return list(range(channels))
    columns = [int(c) for c in columns]
    if len(columns) != channels:
        raise CompilationError(
            f"test_vectors['columns'] names {len(columns)} columns for {channels} channels"
        )
    return [int(i) for i in np.argsort(columns, kind="stable")]


def _recording(recording, cfg, stats, spec, reference):
    if recording is None:
        return None, None
    rec = np.asarray(recording, np.float32)
    windows = MAX_RECORDING_WINDOWS
    rows = spec.span + (windows - 1) * spec.hop * spec.concat_stride
    rows = min(len(rec), rows, max(spec.span, MAX_RAW_VALUES // max(1, spec.channels)))
    rec = rec[:rows]
    feats = _python_features([rec], cfg, stats)[0]
    if len(feats) == 0:
        return None, None
    return rec, reference(feats)


def _outputs_match(got: np.ndarray, want: np.ndarray, rel_tol: float) -> np.ndarray:
    """Per window: outputs equal (``rel_tol`` 0) or within ``rel_tol`` of the window's largest output."""
    if rel_tol == 0:
        return np.all(got == want, axis=1)
    diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
    peak = np.maximum(np.abs(want.astype(np.float64)).max(axis=1, keepdims=True), 1e-6)
    return np.all(diff <= rel_tol * peak, axis=1)


def _check(
    got: dict,
    features,
    expected,
    rec_expected,
    task,
    fe: FrontendSource,
    partial: Path,
    output_rel_tol: float = 0.0,
) -> dict:
    """Compare the harness's lines with the Python reference; raise on a mismatch."""
    n = len(features)
    integer_features = fe.integer_features
    if len(got["F"]) != n or len(got["P"]) != n:
        raise CompilationError(
            f"the pipeline harness printed {len(got['F'])} of {n} windows; sources kept in {partial}"
        )
    c_feats = np.array([got["F"][v] for v in range(n)], np.float32)  # %.9g reads back as the float32
    p_lines = np.array([got["P"][v] for v in range(n)], np.float32)
    done, cls, c_out = p_lines[:, 0], p_lines[:, 1], p_lines[:, 2:]
    max_abs, max_rel, bad = _feature_diff(c_feats, features)
    exact = np.all(c_feats == features, axis=1)
    problems = []
    if np.any(done != 1):
        problems.append(f"pushing one window gave {done.astype(int).tolist()} outputs (1 each expected)")
    if integer_features and not exact.all():
        problems.append(f"fixed-point features differ from Python (max abs diff {max_abs:g})")
    if bad:
        problems.append(
            f"{bad} feature values differ by more than {FLOAT_REL_TOL} relative / {FLOAT_ABS_TOL} absolute"
        )
    out_exact = _outputs_match(c_out, expected, output_rel_tol)
    if np.any(exact & ~out_exact):
        problems.append(
            "the model output from raw samples differs from the integer reference for bit-exact features"
            if output_rel_tol == 0
            else f"the float model's output from raw samples differs from Python by more than {output_rel_tol} "
            "relative for bit-exact features"
        )
    want_cls = _classes(expected, task)
    if scores_classes(task) and np.any(cls != want_cls):
        problems.append(f"classes from raw samples {cls.astype(int).tolist()} != Python {want_cls.tolist()}")
    stream = {"windows": 0, "same_class": 0, "exact_outputs": 0}
    if rec_expected is not None:
        s = got["S"]
        stream["windows"] = len(s)
        if len(s) != len(rec_expected):
            problems.append(
                f"the streamed recording gave {len(s)} outputs, Python makes {len(rec_expected)} windows"
            )
        else:
            s_lines = np.array([s[k] for k in range(len(s))], np.float32)
            s_out = s_lines[:, 2:]
            stream["exact_outputs"] = int(
                np.count_nonzero(_outputs_match(s_out, rec_expected, output_rel_tol))
            )
            same = s_lines[:, 1] == _classes(rec_expected, task)
            stream["same_class"] = int(np.count_nonzero(same))
            if scores_classes(task) and not same.all():
                problems.append(
                    f"the streamed recording's classes differ from Python at windows {np.flatnonzero(~same).tolist()}"
                )
    if problems:
        raise CompilationError(
            "the on-chip pipeline does not reproduce Python: "
            + "; ".join(problems)
            + f". Sources kept in {partial}"
        )
    return dict(
        passed=True,
        windows=n,
        features_bit_exact=int(exact.sum()),
        feature_max_abs_diff=max_abs,
        feature_max_rel_diff=max_rel,
        outputs_exact=int(out_exact.sum()),
        stream=stream,
    )


def _fit(memory: dict, model_memory: dict, device: Device) -> dict:
    """RAM and flash of model and front end together; raise when they exceed the device."""
    ram = int(model_memory["ram"]["static_bytes_measured"]) + memory["ram"]["total_bytes"]
    flash = int(model_memory["flash"]["total_bytes"]) + memory["flash"]["total_bytes"]
    if ram > device.ram_bytes or flash > device.flash_bytes:
        raise CompilationError(
            f"model and feature extraction together need {ram} bytes of RAM and {flash} of flash (front end: "
            f"{memory['ram']} / {memory['flash']}), but {device.name} has {device.ram_bytes} and "
            f"{device.flash_bytes}; choose a smaller preset (frame_size, num_frame_concat) or model, or a larger "
            "target_device"
        )
    return dict(ram_bytes=ram, flash_bytes=flash)


# ---- memory, from the objects of the real build ----
RAM_GROUPS = (
    ("ring_buffer_bytes", ("tp_ring",)),
    ("frame_features_bytes", ("tp_input",)),
    ("outputs_bytes", ("tp_output",)),
    ("work_buffers_bytes", ("fe_buf0", "fe_buf1")),
)
FLASH_GROUPS = (
    ("fft_tables_bytes", ("_rev", "_split", "_w")),
    ("window_bytes", ("_hann",)),
    ("statistics_bytes", ("_mean", "_den")),
)


def _categorise(symbols: list[tuple[str, str, int]]) -> tuple[dict, dict]:
    ram = {key: 0 for key, _ in RAM_GROUPS} | {"fft_scratch_bytes": 0, "state_bytes": 0}
    flash = {key: 0 for key, _ in FLASH_GROUPS} | {"other_tables_bytes": 0, "code_bytes": 0}
    for name, kind, size in symbols:
        k = kind.lower()
        if k in "bd":
            key = next((g for g, names in RAM_GROUPS if name.split(".")[0] in names), None)
            if key is None:
                key = "fft_scratch_bytes" if name.startswith("fe_rfft") else "state_bytes"
            ram[key] += size
        elif k == "r":
            key = next(
                (
                    g
                    for g, ends in FLASH_GROUPS
                    if name.startswith(("fe_rfft", "fe_s")) and any(e in name for e in ends)
                ),
                None,
            )
            flash[key or "other_tables_bytes"] += size
        elif k == "t":
            flash["code_bytes"] += size
    ram["total_bytes"] = sum(v for k, v in ram.items() if k != "total_bytes")
    flash["total_bytes"] = sum(v for k, v in flash.items() if k != "total_bytes")
    return ram, flash


def _memory(partial: Path, build: Path, device: Device) -> dict:
    objects = []
    for name in SOURCES:
        obj = build / (Path(name).stem + ".o")
        toolchain.build_host([partial / name], obj, include_dirs=[partial], extra_flags=("-c",))
        objects.append(obj)
    host = {o.name: toolchain.section_sizes(o) for o in objects}
    measured_on, symbols = "host", [s for o in objects for s in sized_symbols(o)]
    device_sizes = None
    if toolchain.device_build_unavailable_reason(device) is None:
        out_dir = build / "device_frontend"
        device_sizes = toolchain.build_for_device(
            [partial / n for n in SOURCES], device, out_dir, include_dirs=[partial]
        )
        dev_objects = [out_dir / (Path(n).stem + ".o") for n in SOURCES]
        dev_syms = [s for o in dev_objects if o.is_file() for s in sized_symbols(o)]
        if dev_syms:
            measured_on, symbols = "device", dev_syms
    ram, flash = _categorise(symbols)
    return dict(
        ram=ram,
        flash=flash,
        measured_on=measured_on,
        host_size=host,
        device_size=None if device_sizes is None else device_sizes["objects"],
    )
