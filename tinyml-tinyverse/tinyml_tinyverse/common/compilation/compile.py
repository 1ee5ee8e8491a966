"""``compile_model``: ONNX or quantized model -> verified C99 artifacts and a memory report.

Every compile builds the generated C with the host compiler (``-std=c99 -Wall -Wextra -Werror
-O2``), runs the harness over the test vectors and requires bit-exact equality with the integer
reference (float models: max error 1e-5 relative to the largest output magnitude). Artifacts are
written to ``out_dir/artifacts.partial`` and renamed to ``out_dir/artifacts`` only when every check
passed, so a failed compile never looks finished.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import onnx

from .. import run_files
from ..errors import CompilationError, ConfigError, DataError
from ..ir.graph import Graph, non_finite_message, run_float
from ..ir.importer import import_onnx
from ..ir.onnx_loader import load_onnx_model, names_model_file
from ..model_aux import model_aux_header
from ..quantization.quantize import quantize_graph
from ..quantization.quantized_graph import QuantizedGraph
from . import toolchain
from .codegen_c import generate
from .devices import Device, get_device
from .fit_check import check_model_fits
from .latency import measure_latency
from .memory_report import build_memory_report, check_fit, fit_problems, target_notes
from .presets import PRESET_REGISTRY
from .test_vectors import (
    harness_source,
    parse_harness_outputs,
    select_vectors,
    test_vector_source,
)

logger = logging.getLogger(__name__)

PRESETS = tuple(PRESET_REGISTRY)  # preset_name values
FLOAT_REL_TOL = 1e-5


@dataclass
class CompileReport:
    """What a compile produced and proved."""

    passed: bool
    precision: str
    target_device: str
    artifacts_dir: Path
    memory: dict
    max_abs_diff: float
    max_rel_diff: float
    num_vectors: int
    harness_output: str = ""
    npu_check: str = "not run"
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["artifacts_dir"] = str(self.artifacts_dir)
        return d


def is_qdq_model(proto: onnx.ModelProto) -> bool:
    """True when the graph holds QuantizeLinear / DequantizeLinear nodes."""
    return any(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in proto.graph.node)


def _resolve_model(
    model, calib_x, quantization, weight_bitwidth
) -> tuple[QuantizedGraph | Graph, onnx.ModelProto | None]:
    if isinstance(model, QuantizedGraph):
        proto = onnx.load_from_string(model.source_onnx) if model.source_onnx else None
        return model, proto
    if not isinstance(model, (str, Path, onnx.ModelProto)):
        raise ConfigError(
            f"compile_model: model must be an ONNX path, an onnx.ModelProto or a QuantizedGraph, got {type(model).__name__}"
        )
    proto = load_onnx_model(model)
    name = Path(model).stem if isinstance(model, (str, Path)) else (proto.graph.name or "model")
    if is_qdq_model(proto):
        if quantization not in (None, 1, 2):
            raise ConfigError(
                f"{name}: the model is already quantized (QDQ); leave quantization unset, got {quantization!r}"
            )
        from ..quantization.qdq_import import import_qdq

        qgraph = import_qdq(proto, name=name, calib_x=calib_x)
        return qgraph, onnx.load_from_string(qgraph.source_onnx)
    graph = import_onnx(proto)
    graph.name = name
    if quantization in (None, 0) and (quantization == 0 or calib_x is None):
        return graph, proto
    if quantization not in (None, 1, 2):
        raise ConfigError(
            f"quantization must be 0 (float), 1 (int8) or 2 (NPU, power-of-two scales), got {quantization!r}"
        )
    if calib_x is None:
        raise ConfigError(f"{name}: quantization={quantization} needs calibration data (calib_x)")
    qgraph = quantize_graph(graph, calib_x, mode=quantization or 1, weight_bitwidth=weight_bitwidth)
    qgraph.source_onnx = proto.SerializeToString()
    return qgraph, proto


def _npu_check(proto: onnx.ModelProto | None, device: Device, qgraph: QuantizedGraph | Graph) -> str:
    if not device.has_npu or not isinstance(qgraph, QuantizedGraph):
        return "not run (target has no NPU or the model is float)"
    if proto is None:
        return "not run (no source ONNX model recorded)"
    try:
        from .onnx_layers import check_onnx_npu_rules
    except ImportError as exc:
        logger.warning("NPU rule check unavailable: %s", exc)
        return f"not run (onnx_layers unavailable: {exc})"
    violations = check_onnx_npu_rules(proto, weight_bitwidth=qgraph.weight_bitwidth)
    if violations:
        lines = "\n".join(f"  - {v}" for v in violations)
        raise CompilationError(
            f"the model breaks {len(violations)} NPU rule(s) of {device.name}:\n{lines}\n"
            "Change these layers, or compile for a target without NPU"
        )
    return "passed"


def _test_inputs(model, test_vectors, calib_x, per_class=None):
    """``(x, raw, labels)`` float arrays of the vectors to embed."""
    shape = tuple(model.input_shape if isinstance(model, QuantizedGraph) else model.input_shape)
    if test_vectors is not None:
        if "x" not in test_vectors:
            raise ConfigError(
                "test_vectors must be a dict with key 'x' (model inputs) and optional 'raw', 'y'"
            )
        x = np.asarray(test_vectors["x"], dtype=np.float32)
        if tuple(x.shape[1:]) != shape[1:]:
            raise DataError(
                f"test_vectors['x'] has shape {x.shape}; the model input is (N, {', '.join(map(str, shape[1:]))})"
            )
        y = test_vectors.get("y")
        labels = None if y is None else np.asarray(y)
        # per_class given: the caller chose the vectors; keep per_class of each class, all without classes
        idx = select_vectors(x, labels, 2 * len(x), per_class) if per_class else select_vectors(x, labels)
        raw = test_vectors.get("raw")
        for key, value in (("raw", raw), ("y", y)):
            if value is not None and len(value) != len(x):
                raise DataError(
                    f"test_vectors[{key!r}] holds {len(value)} samples but test_vectors['x'] holds {len(x)}"
                )
        raw = None if raw is None else np.asarray(raw, dtype=np.float32)[idx]
        return x[idx], raw, None if y is None else np.asarray(y)[idx]
    if calib_x is not None:
        x = np.asarray(calib_x, dtype=np.float32)
        return x[np.linspace(0, len(x) - 1, min(4, len(x))).astype(int)], None, None
    rng = np.random.default_rng(0)
    return rng.standard_normal((4,) + shape[1:]).astype(np.float32), None, None


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _write_user_input_config(data_config, path: Path, notes: list[str], stats=None, raw=None) -> None:
    if data_config is None:
        return
    try:
        from ..datasets import write_user_input_config_h
    except ImportError as exc:
        notes.append(
            f"user_input_config.h not written: tinyml_tinyverse.common.datasets.write_user_input_config_h is unavailable ({exc})"
        )
        logger.warning(notes[-1])
        return
    try:
        variables = None if raw is None else (1 if np.ndim(raw) == 2 else int(np.shape(raw)[-1]))
        write_user_input_config_h(data_config, path, stats=stats, variables=variables)
    except ConfigError as exc:
        notes.append(f"user_input_config.h not written: {exc}")
        logger.warning(notes[-1])


@names_model_file  # every error names the model file
def compile_model(
    model: str | Path | onnx.ModelProto | QuantizedGraph,
    out_dir: str | Path,
    *,
    target_device: str = "F28P55",
    test_vectors: dict | None = None,
    calib_x: np.ndarray | None = None,
    quantization: int | None = None,
    weight_bitwidth: int = 8,
    data_config: dict | None = None,
    class_names: list[str] | None = None,
    preset_name: str = "default_preset",
    task: str | None = None,
    anomaly_threshold: float | None = None,
    vectors_per_class: int | None = None,
    feature_stats: dict | None = None,
) -> CompileReport:
    """Compile a model to C99 in ``out_dir/artifacts`` and verify it on the host; see the module doc.

    ``quantization``: None keeps a QDQ model as it is and quantizes a float model (mode 1) when
    ``calib_x`` is given, else compiles float; 0 forces float; 1 / 2 quantize with ``calib_x``.
    ``test_vectors``: ``dict(x=model inputs, raw=raw windows, y=labels)`` float arrays.
    ``vectors_per_class``: how many of ``test_vectors`` per class to embed (default up to 4 per
    class, 32 in all); given, every vector of a regression / forecasting ``test_vectors`` is kept.
    ``task`` and ``anomaly_threshold`` (the training summary's) go into ``model_aux.h``.
    ``data_config`` (with the train split's ``feature_stats``) adds the on-chip front end and pipeline
    (``feature_extract.c``, ``tinyml_pipeline.c``), checked from raw samples to the model's answer
    (see :mod:`.frontend`; ``test_vectors`` may add ``raw`` windows, a ``recording`` and ``columns``).
    Raises :class:`CompilationError` on a mismatch, a model that does not fit the target, or NPU
    rule violations.
    """
    device = get_device(target_device)
    if preset_name not in PRESETS:
        raise ConfigError(f"unknown preset_name {preset_name!r}; choose one of {', '.join(PRESETS)}")
    out_dir = Path(out_dir)
    notes: list[str] = []
    # a model far too large for the device is refused in seconds, before it is imported or run
    check_model_fits(model, device, quantization=quantization, calibrated=calib_x is not None,
                     weight_bitwidth=weight_bitwidth)  # fmt: skip
    resolved, proto = _resolve_model(model, calib_x, quantization, weight_bitwidth)
    int8 = isinstance(resolved, QuantizedGraph)
    npu_status = _npu_check(proto, device, resolved)

    x, raw, labels = _test_inputs(resolved, test_vectors, calib_x, vectors_per_class)
    inputs, expected = harness_io(resolved, x)
    if not np.isfinite(expected).all():  # the float model itself overflows: say where, not "mismatch"
        raise CompilationError(non_finite_message(resolved, x))

    gm = generate(resolved, pack_sub_byte=preset_name == "compress_npu_layer_data")
    partial = out_dir / "artifacts.partial"
    final = out_dir / "artifacts"
    build = out_dir / "build"
    previous = out_dir / "artifacts.previous"
    shutil.rmtree(partial, ignore_errors=True)
    if final.exists():  # an earlier compile's C must not pass for this one's if this one fails
        shutil.rmtree(previous, ignore_errors=True)
        os.replace(final, previous)
    partial.mkdir(parents=True)
    build.mkdir(parents=True, exist_ok=True)
    num_classes = len(class_names) if class_names else int(np.prod(resolved_output_shape(resolved)[1:]))
    _write(partial / "tinyml_model.h", gm.header)
    _write(partial / "tinyml_model.c", gm.source)
    _write(partial / "test_vector.c", test_vector_source(gm, inputs, expected, x, raw, labels))
    _write(partial / "main.c", harness_source(gm, rel_tol=FLOAT_REL_TOL))
    _write(
        partial / "model_aux.h",
        model_aux_header(
            class_names, num_classes=num_classes, task=task, anomaly_threshold=anomaly_threshold
        ),
    )
    _write_user_input_config(data_config, partial / "user_input_config.h", notes, feature_stats, raw)

    srcs = [partial / "tinyml_model.c", partial / "test_vector.c", partial / "main.c"]
    exe = toolchain.build_host(srcs, build / "tinyml_harness", include_dirs=[partial])
    proc = toolchain.run_binary(exe)
    got = parse_harness_outputs(proc.stdout, len(x), gm.output_size, int8)
    if np.isnan(got.astype(np.float64)).any():
        raise CompilationError(
            f"the harness {exe} did not print every output (exit code {proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
        )
    diff = np.abs(got.astype(np.float64) - expected.astype(np.float64))
    max_abs = float(diff.max(initial=0.0))
    peak = np.maximum(np.abs(expected.astype(np.float64)).max(axis=1, keepdims=True), 1e-6)
    max_rel = float((diff / peak).max(initial=0.0))
    passed = (
        proc.returncode == 0
        and "TINYML_TEST PASS" in proc.stdout
        and (max_abs == 0 if int8 else max_rel <= FLOAT_REL_TOL)
    )

    memory = model_memory(gm, resolved.name, device, partial, build)
    if passed and not fit_problems(memory, device):  # one inference on the target's ISA (Cortex-M: emulated)
        memory["latency"] = measure_latency(gm, device, partial, inputs[0], got[0], build / "emulator")
    notes += target_notes(device)
    if int8:
        memory["quantization"] = quantization_record(resolved, preset_name)
    report = CompileReport(
        passed=passed, precision=gm.precision, target_device=device.name, artifacts_dir=final, memory=memory,
        max_abs_diff=max_abs, max_rel_diff=max_rel, num_vectors=len(x), harness_output=proc.stdout[-4000:],
        npu_check=npu_status, notes=notes,
    )  # fmt: skip
    _write(out_dir / run_files.MEMORY_REPORT, json.dumps(memory, indent=2))
    if not passed:
        _write(out_dir / run_files.COMPILE_REPORT, json.dumps(report.to_dict(), indent=2))
        what = "bit-exact" if int8 else f"within {FLOAT_REL_TOL} relative error"
        raise CompilationError(
            f"the generated C does not match the Python reference {what} (max abs diff {max_abs:g}, "
            f"max rel diff {max_rel:g}); sources kept in {partial}\n{proc.stdout[-1500:]}{proc.stderr[-1500:]}"
        )
    if not all(memory["checks"].values()):
        raise CompilationError(
            f"the measured sections do not hold the planned memory: {memory['checks']} ({memory['host_size']})"
        )
    check_fit(memory, device)
    if data_config is not None:  # the on-chip front end and pipeline (issue 8), built and checked
        from .frontend import add_frontend

        memory["frontend"] = add_frontend(
            partial, build, data_config=data_config, stats=feature_stats, model_memory=memory,
            vectors=dict(test_vectors or {}, raw=raw, x=x), reference=lambda xf: reference_outputs(resolved, xf),
            model_input_size=gm.input_size, num_outputs=gm.output_size, device=device, task=task, notes=notes,
            output_rel_tol=0.0 if int8 else FLOAT_REL_TOL,
        )  # fmt: skip
        _write(out_dir / run_files.MEMORY_REPORT, json.dumps(memory, indent=2))
    os.replace(partial, final)
    shutil.rmtree(previous, ignore_errors=True)
    _write(out_dir / run_files.COMPILE_REPORT, json.dumps(report.to_dict(), indent=2))
    return report


def model_memory(
    gm, model_name: str, device: Device, src_dir: Path, build: Path, *, host_object: bool = True
) -> dict:
    """``memory_report.json``'s figures of the generated ``src_dir/tinyml_model.c``: its object built for
    ``device`` (arm-none-eabi-gcc, where it can be) and on the host (``host_object``, or where there
    is no device build)."""
    source = [Path(src_dir) / "tinyml_model.c"]
    device_note = toolchain.device_build_unavailable_reason(device)
    host_size = device_size = None
    if host_object or device_note is not None:
        obj = toolchain.build_host(
            source, build / "tinyml_model.o", include_dirs=[src_dir], extra_flags=("-c",)
        )
        host_size = toolchain.section_sizes(obj)
    if device_note is None:
        device_size = toolchain.build_for_device(source, device, build / "device", include_dirs=[src_dir])
    memory = build_memory_report(gm, host_size, device, device_size, device_note)
    memory["model"] = model_name
    return memory


def harness_io(model: QuantizedGraph | Graph, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(inputs, expected)`` of the generated C for float inputs ``x``: int8, the quantized inputs and
    the integer reference's outputs; float, ``x`` and the float run's outputs, ``(N, outputs)``."""
    if isinstance(model, QuantizedGraph):
        inputs = model.quantize_input(x)
        outs = model.run_int(inputs)
    else:
        inputs = x
        values = run_float(model, x)
        outs = [values[n] for n in model.output_names]
    return inputs, np.concatenate([o.reshape(len(x), -1) for o in outs], axis=1)


def quantization_record(model: QuantizedGraph, preset_name: str) -> dict:
    """``memory_report.json``'s ``quantization`` of an int8 model."""
    return dict(
        mode=model.mode, weight_bitwidth=model.weight_bitwidth, preset=preset_name,
        layer_bits=model.layer_bits,  # mixed precision: the width of each conv / dense layer
    )  # fmt: skip


def reference_outputs(model: QuantizedGraph | Graph, x: np.ndarray) -> np.ndarray:
    """``(N, outputs)`` float outputs the generated C gives for float inputs ``x`` (int8: the
    integer reference, dequantized as ``tinyml_model_run_float`` does)."""
    x = np.asarray(x, np.float32)
    if isinstance(model, QuantizedGraph):
        outs = model.dequantize_outputs(model.run_int(model.quantize_input(x)))
    else:
        values = run_float(model, x)
        outs = [values[n] for n in model.output_names]
    return np.concatenate([np.asarray(o, np.float32).reshape(len(x), -1) for o in outs], axis=1)


def resolved_output_shape(model: QuantizedGraph | Graph) -> tuple[int, ...]:
    name = model.output_names[0]
    return (
        tuple(model.tensors[name]["shape"])
        if isinstance(model, QuantizedGraph)
        else tuple(model.shapes[name])
    )
