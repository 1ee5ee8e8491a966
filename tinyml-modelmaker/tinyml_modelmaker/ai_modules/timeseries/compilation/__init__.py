"""The compilation stage: the run's model (or ``compilation.model_path``) -> verified C.

Calls ``tinyml_tinyverse.common.compilation.compile_model`` into the run's ``compilation/``. The
model compiled is, in order: ``compilation.model_path`` (compile only); the run's quantized graph
from ``training/quantization/``; the run's float ``training/base/model.onnx``. Test vectors come
from the test split (a few per class) with their raw windows and one whole test recording, so the
compiler also emits and checks the on-chip pipeline (feature extraction + model, raw samples in);
for compile only they come from ``compilation.calibration_data`` (a .npy of model inputs) or,
without it, seeded random inputs, and the model is compiled alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from tinyml_tinyverse.common import run_files
from tinyml_tinyverse.common.errors import CompilationError, ConfigError
from tinyml_tinyverse.common.task_names import get_task_record

from tinyml_modelmaker.run_folder import RunPaths

from ...registry import config_data_modality, config_task
from ..constants import lowest_bitwidth
from ..params import DATA_SECTION

QUANTIZED_GRAPH_GLOB = "quantized_graph*"
RANDOM_VECTORS = 4


def find_run_model(paths: RunPaths, quantization: int) -> tuple[Any, str]:
    """The model an earlier stage left: the quantized graph when quantized, else the float ONNX."""
    if quantization:
        graphs = sorted(
            p for p in paths.training_quantization.glob(QUANTIZED_GRAPH_GLOB) if ".tmp" not in p.name
        )
        if graphs:
            from tinyml_tinyverse.common.quantization import load_quantized_graph

            return load_quantized_graph(graphs[0]), str(graphs[0])
        if (paths.training_quantization / run_files.MODEL_QDQ).is_file():
            return str(paths.training_quantization / run_files.MODEL_QDQ), str(
                paths.training_quantization / run_files.MODEL_QDQ
            )
    float_model = paths.training_base / run_files.MODEL_ONNX
    if float_model.is_file() and not quantization:
        return str(float_model), str(float_model)
    where = paths.training_quantization if quantization else paths.training_base
    raise ConfigError(
        f"compilation: no model in {where} (training.quantization is {quantization}); run the training stage "
        f"(training.enable: true), resume a run whose training finished, or compile a file with compilation.model_path"
    )


def training_aux(paths: RunPaths) -> dict:
    """What ``model_aux.h`` takes from the training summary: task, class names, anomaly threshold."""
    import yaml

    summary_path = paths.training_base / run_files.SUMMARY
    if not summary_path.is_file():
        return {}
    with open(summary_path) as f:
        summary = yaml.safe_load(f) or {}
    threshold = (summary.get("anomaly_threshold") or {}).get("threshold")
    return {
        "task": summary.get("task"),
        "class_names": [str(n) for n in summary.get("class_names") or []],
        "anomaly_threshold": None if threshold is None else float(threshold),
    }


def test_vectors_from_split(
    config: dict, dataset_dir: Path, per_class: int
) -> tuple[dict, np.ndarray, list, dict]:
    """A few test-split samples per class with their raw windows and one whole test recording (for
    the on-chip pipeline's checks), the training inputs for calibration, the class names and the
    train split's statistics (STANDARDIZE, user_input_config.h)."""
    from tinyml_tinyverse.common.datasets import load_split
    from tinyml_tinyverse.common.datasets.raw_windows import raw_windows

    task = config_task(config)
    data_config = config[DATA_SECTION]
    cache = Path(dataset_dir) / run_files.CACHE_DIR
    split = "test"
    test = load_split(dataset_dir, split, task, data_config, cache_dir=cache)
    if len(test.X) == 0:
        split = "val"
        test = load_split(dataset_dir, split, task, data_config, cache_dir=cache)
    y = np.asarray(test.y)
    if get_task_record(task).by_class:
        index = np.concatenate([np.flatnonzero(y == label)[:per_class] for label in np.unique(y)])
    else:
        index = np.arange(min(len(test.X), per_class * 2))
    vectors = {"x": np.asarray(test.X)[index], "y": y[index]}
    try:  # the raw samples behind them: what the chip's pipeline is pushed
        raw = raw_windows(dataset_dir, split, task, data_config, test.file_ids, index)
        vectors.update(
            raw=raw.windows, recording=raw.recording, columns=raw.columns, column_names=raw.column_names
        )
    except ConfigError as exc:  # e.g. resampling before windowing: the compiler names what the chip lacks
        print(f"compilation: no raw windows for the pipeline checks ({exc})")
    train = load_split(dataset_dir, "train", task, data_config, cache_dir=cache)
    calib_x = np.asarray(train.X)[:256]
    return vectors, calib_x, list(getattr(test, "class_names", None) or []), dict(train.stats or {})


def modality_test_vectors(
    config: dict, dataset_dir: Path, per_class: int
) -> tuple[dict, np.ndarray, list, dict, dict | None] | None:
    """For a data modality that says what the compiler needs (images, sound: ``compile_inputs``): a few
    test-split samples per class (with their raw clips for a sound front end), the training inputs for
    calibration, the class names, the front end's statistics and its data config (None: the C takes
    the model input). None for time series (:func:`test_vectors_from_split`)."""
    from tinyml_tinyverse.common.datasets import get_data_modality, read_dataset_info

    modality = get_data_modality(config_data_modality(config))
    if modality.compile_inputs is None:
        return None
    inputs = modality.compile_inputs(dataset_dir, config[DATA_SECTION], split="test")
    vectors = dict(inputs.test_vectors)
    y = np.asarray(vectors["y"])
    index = np.concatenate([np.flatnonzero(y == label)[:per_class] for label in np.unique(y)])
    for key in ("x", "y", "raw"):  # one row per sample; a streamed "recording" stays whole
        if key in vectors:
            vectors[key] = np.asarray(vectors[key])[index]
    train = modality.load_split(
        dataset_dir, "train", config_task(config), config[DATA_SECTION], cache_dir=Path(dataset_dir) / "cache",
        training=False,
    )  # fmt: skip
    class_names = list(read_dataset_info(dataset_dir).class_names)
    return vectors, np.asarray(train.X)[:256], class_names, dict(inputs.feature_stats), inputs.data_config


def user_model_vectors(model_path: str, calibration_data: str | None) -> tuple[dict, np.ndarray | None]:
    """Compile only: test vectors (and calibration inputs) for a user's ONNX model."""
    from tinyml_tinyverse.common.ir.onnx_loader import load_onnx_model

    # the toolchain's one ONNX loader checks the model (its errors name the file, the node and the fix):
    # one float32 input with static positive dims (a symbolic batch is compiled as 1)
    try:
        model = load_onnx_model(model_path, load_external_data=False)
    except CompilationError as exc:  # the model the config names: say which key names it
        raise ConfigError(f"compilation.model_path: {exc}") from None
    inputs = [i for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
    dims = [d.dim_value if d.HasField("dim_value") else 1 for d in inputs[0].type.tensor_type.shape.dim]
    if calibration_data is not None:
        try:
            calib = np.load(calibration_data, allow_pickle=False).astype(np.float32)
        except (ValueError, OSError, EOFError) as exc:
            # numpy's message for pickled data suggests loading it unsafely: pickles are never loaded here
            why = "it holds pickled Python objects" if "pickle" in str(exc) else str(exc)
            raise ConfigError(
                f"compilation.calibration_data {calibration_data}: not a numeric .npy array ({why}); save the "
                f"model inputs with numpy.save('calib.npy', x) as an (N, C, H, W) float array"
            ) from None
        if list(calib.shape[1:]) != dims[1:]:
            raise ConfigError(
                f"compilation.calibration_data {calibration_data}: samples of shape {list(calib.shape[1:])}, "
                f"but the model input {inputs[0].name!r} takes {dims[1:]}"
            )
        return {"x": calib[:RANDOM_VECTORS]}, calib
    rng = np.random.default_rng(0)
    return {"x": rng.standard_normal((RANDOM_VECTORS, *dims[1:])).astype(np.float32)}, None


def run(config: dict, paths: RunPaths, dataset_dir: Path | None) -> dict:
    """Compile into ``paths.compilation``; returns the compile report as a dict."""
    comp, tr = config["compilation"], config["training"]
    quantization = tr["quantization"]
    class_names: list = []
    calib_x = None
    train_stats = None
    aux: dict = {}
    front_end = config[DATA_SECTION] if comp["model_path"] is None else None  # + the on-chip pipeline
    if comp["model_path"] is not None:
        model, source = comp["model_path"], comp["model_path"]
        aux = {"task": config_task(config)}
        from tinyml_tinyverse.common.compilation.fit_check import check_model_fits

        # refused in seconds, before test vectors are drawn from the model's input shape
        calibrated = comp["calibration_data"] is not None
        check_model_fits(model, config["common"]["target_device"], quantization=quantization if calibrated else None,
                         calibrated=calibrated, weight_bitwidth=lowest_bitwidth(tr["quantization_weight_bitwidth"]))  # fmt: skip
        vectors, calib_x = user_model_vectors(comp["model_path"], comp["calibration_data"])
        if calib_x is None:
            quantization = None  # the compiler keeps a QDQ model as it is and compiles a float one as float
    else:
        model, source = find_run_model(paths, quantization)
        if dataset_dir is None:
            raise ConfigError(
                "compilation: the run has no dataset to take test vectors from; run the dataset stage"
            )
        per_class = comp["num_test_vectors_per_class"]
        from_modality = modality_test_vectors(config, dataset_dir, per_class)
        if from_modality is None:
            vectors, calib_x, class_names, train_stats = test_vectors_from_split(
                config, dataset_dir, per_class
            )
        else:
            vectors, calib_x, class_names, train_stats, front_end = from_modality
        aux = training_aux(paths)
    from tinyml_tinyverse.common.compilation import compile_model
    from tinyml_tinyverse.common.utils.memory import release_free_memory

    release_free_memory()  # the reading of the test vectors (the CSV parser's code and buffers)
    paths.compilation.mkdir(parents=True, exist_ok=True)
    print(f"compilation: {source} for {config['common']['target_device']} into {paths.compilation}")
    report = compile_model(
        model,
        paths.compilation,
        target_device=config["common"]["target_device"],
        test_vectors=vectors,
        calib_x=calib_x,
        quantization=quantization,
        weight_bitwidth=lowest_bitwidth(tr["quantization_weight_bitwidth"]),
        data_config=front_end,
        feature_stats=train_stats,
        class_names=aux.get("class_names") or class_names,
        preset_name=comp["preset_name"],
        task=aux.get("task"),
        anomaly_threshold=aux.get("anomaly_threshold"),
        vectors_per_class=comp["num_test_vectors_per_class"],
    )
    return summarize_report(report.to_dict(), source)


def summarize_report(report: dict, source: str) -> dict:
    """The compile report as the run summary shows it (per-layer figures stay in memory_report.json)."""
    summary = {k: v for k, v in report.items() if k not in ("harness_output", "memory")}
    memory = dict(report.get("memory") or {})
    macs = memory.pop("macs", None)
    if isinstance(macs, dict):
        memory["macs_total"] = macs.get("total")
    frontend = memory.pop("frontend", None)
    if isinstance(frontend, dict):  # the on-chip pipeline: its totals (details in memory_report.json)
        memory["frontend"] = {
            "ram_bytes": frontend["ram"]["total_bytes"],
            "flash_bytes": frontend["flash"]["total_bytes"],
            "pipeline_total": frontend.get("pipeline_total"),
            "checks": {k: v for k, v in frontend.get("checks", {}).items() if k != "stream"},
        }
    summary["memory"] = memory
    summary["model"] = source
    summary["passed"] = bool(report.get("passed"))
    return summary
