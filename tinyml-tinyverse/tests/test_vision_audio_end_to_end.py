"""Images and sound from generated files to verified C, through the library: the dataset stage,
a few epochs of real training, QAT or PTQ, the ONNX models run by onnxruntime, and the C compiled
with gcc and checked bit for bit against the integer reference (for sound also the MFCC front end
in C against Python, raw samples to the class)."""

from __future__ import annotations

import os
import shutil

import pytest
import torch
import yaml
from tinyml_tinyverse.common.compilation import compile_model
from tinyml_tinyverse.common.compilation.devices import get_device
from tinyml_tinyverse.common.datasets.generators import generate_dataset
from tinyml_tinyverse.common.datasets.modalities import get_data_modality
from tinyml_tinyverse.references.timeseries_classification import test_onnx, train

os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(1)
pytestmark = [
    pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # the TorchScript ONNX exporter
]

CASES = {
    "digits_grey_qat": dict(
        modality="vision", kind="digits", generate=dict(files_per_class=30), model="IMG_CLS_4k", method="QAT",
        config={"random_crop_padding": 2, "rotation_degrees": 10.0, "brightness": 0.2}, epochs=30, min_accuracy=0.8,
    ),
    "shapes_rgb_ptq": dict(
        modality="vision", kind="shapes", generate=dict(files_per_class=30), model="IMG_CLS_20k", method="PTQ",
        config={"color_mode": "rgb", "image_height": 32, "image_width": 32, "horizontal_flip": True,
                "vertical_flip": True, "rotation_degrees": 20.0, "random_crop_padding": 2},
        epochs=30, min_accuracy=0.55,
    ),
    "spoken_words_qat": dict(
        modality="audio", kind="spoken_words", generate=dict(files_per_class=15, words=("yes", "no", "up", "down")),
        model="KWS_4k", method="QAT", config={}, epochs=20, min_accuracy=0.8,
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(CASES))
def test_modality_from_files_to_verified_c(tmp_path, name):
    case = CASES[name]
    modality = get_data_modality(case["modality"])
    raw = generate_dataset(case["kind"], tmp_path / "raw", seed=0, **case["generate"])
    dataset = tmp_path / "dataset"
    info = modality.prepare_dataset(
        raw, dataset, "classification", config=case["config"], seed=0, plots=False
    )
    config_path = tmp_path / "data.yaml"
    config_path.write_text(yaml.safe_dump(case["config"]))
    out = tmp_path / "training" / "base"
    args = train.get_args_parser().parse_args(
        [
            "--dataset-dir", str(dataset), "--data-config", str(config_path), "--model", case["model"],
            "--output-dir", str(out), "--epochs", str(case["epochs"]), "--lr", "0.01", "--batch-size", "16",
            "--quantization", "1", "--quantization-method", case["method"], "--qat-epochs", "3", "--no-progress",
        ]
    )  # fmt: skip
    summary = train.main(args)
    float_acc, int8_acc = summary["test"]["accuracy"], summary["quantization"]["test"]["accuracy"]
    assert float_acc >= case["min_accuracy"] > 2 / len(info.class_names), (name, float_acc)
    assert int8_acc >= float_acc - 0.15, (name, float_acc, int8_acc)
    assert summary["input_shape"] == list(
        modality.load_split(dataset, "test", "classification", case["config"]).X.shape[1:]
    )

    # the float and the quantized (QDQ) ONNX models in onnxruntime
    qdir = tmp_path / "training" / "quantization"
    for model_path, want in ((out / "model.onnx", float_acc), (qdir / "model_qdq.onnx", int8_acc)):
        targs = test_onnx.get_args_parser().parse_args(
            ["--dataset-dir", str(dataset), "--data-config", str(config_path), "--model-path", str(model_path),
             "--output-dir", str(tmp_path / "testing" / model_path.stem)]
        )  # fmt: skip
        res = test_onnx.main(targs)
        assert abs(res["metrics"]["accuracy"] - want) <= (1e-6 if model_path.stem == "model" else 0.1)
        assert (tmp_path / "testing" / model_path.stem / "confusion_matrix.png").is_file()

    # C: bit-exact with the integer reference, fits a Cortex-M4F; sound also runs its front end in C
    inputs = modality.compile_inputs(dataset, modality.validate_config(case["config"]))
    report = compile_model(
        qdir / "model_qdq.onnx", tmp_path / "compilation", target_device="CORTEX_M4F",
        test_vectors=inputs.test_vectors, data_config=inputs.data_config, feature_stats=inputs.feature_stats,
        class_names=info.class_names, task="classification",
    )  # fmt: skip
    assert report.passed and report.precision == "int8" and report.max_abs_diff == 0.0
    device, memory = get_device("CORTEX_M4F"), report.memory
    ram, flash = memory["ram"]["static_bytes_measured"], memory["flash"]["total_bytes"]
    artifacts = tmp_path / "compilation" / "artifacts"
    if case["modality"] == "audio":
        front = memory["frontend"]
        checks = front["checks"]
        assert checks["passed"] and checks["windows"] >= 4 and checks["feature_max_abs_diff"] < 1e-4
        assert (
            checks["stream"]["windows"] >= 2 and checks["stream"]["same_class"] == checks["stream"]["windows"]
        )
        ram, flash = front["pipeline_total"]["ram_bytes"], front["pipeline_total"]["flash_bytes"]
        for f in ("feature_extract.c", "tinyml_pipeline.h", "user_input_config.h"):
            assert (artifacts / f).is_file()
        assert "MEL_FILTERBANK" in (artifacts / "feature_extract.c").read_text()
    assert 0 < ram < device.ram_bytes and 0 < flash < device.flash_bytes
    names = (artifacts / "model_aux.h").read_text()
    assert all(f'"{c}"' in names for c in info.class_names)
