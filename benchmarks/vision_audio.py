"""Images and sound end to end: accuracy (float and int8), wall times and Cortex-M4F memory.

For each run: generate the data (``digits`` 28 x 28 grey, ``shapes`` 32 x 32 RGB, ``spoken_words``
with espeak-ng), prepare it (the modality's dataset stage), train with the reference loop and
quantize (QAT), test the float and QDQ ONNX models with onnxruntime, and compile the QDQ model to
C for CORTEX_M4F (bit-exact check; for sound with the MFCC front end and the pipeline). Prints one
markdown table row per run.

    python benchmarks/vision_audio.py [--runs digits:IMG_CLS_4k shapes:IMG_CLS_20k words:KWS_20k ...]
        [--files-per-class 100] [--words-per-class 40] [--epochs 30] [--threads 1] [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import yaml

RUNS = {  # name -> modality, generator, data config
    "digits": ("vision", "digits", {"random_crop_padding": 2, "rotation_degrees": 10.0, "brightness": 0.2}),
    "shapes": (
        "vision", "shapes",
        {"color_mode": "rgb", "image_height": 32, "image_width": 32, "horizontal_flip": True, "vertical_flip": True,
         "rotation_degrees": 20.0, "random_crop_padding": 2},
    ),
    "words": ("audio", "spoken_words", {}),
}  # fmt: skip
DEFAULT_RUNS = (
    "digits:Lenet5 digits:IMG_CLS_1k digits:IMG_CLS_4k digits:IMG_CLS_20k shapes:IMG_CLS_4k shapes:IMG_CLS_20k "
    "words:KWS_4k words:KWS_20k words:KWS_80k"
).split()


def run_one(data: str, model: str, args, out: Path) -> dict:
    from tinyml_tinyverse.common.compilation import compile_model
    from tinyml_tinyverse.common.datasets.generators import generate_dataset
    from tinyml_tinyverse.common.datasets.modalities import get_data_modality
    from tinyml_tinyverse.references.timeseries_classification import test_onnx, train

    modality_name, kind, config = RUNS[data]
    modality = get_data_modality(modality_name)
    per_class = args.words_per_class if data == "words" else args.files_per_class
    t0 = time.perf_counter()
    raw = generate_dataset(kind, out / "raw" / f"{kind}_{per_class}", seed=0, files_per_class=per_class)
    t_gen = time.perf_counter() - t0
    dataset = out / "datasets" / f"{data}_{per_class}"
    t0 = time.perf_counter()
    if not (dataset / "dataset_info.yaml").is_file():
        modality.prepare_dataset(raw, dataset, "classification", config=config, seed=0)
    t_prep = time.perf_counter() - t0
    run = out / "runs" / f"{data}_{model}"
    cfg_path = run / "data.yaml"
    run.mkdir(parents=True, exist_ok=True)
    cfg_path.write_text(yaml.safe_dump(config))
    argv = [
        "--dataset-dir", str(dataset), "--data-config", str(cfg_path), "--model", model,
        "--output-dir", str(run / "base"), "--epochs", str(args.epochs), "--lr", "0.01", "--batch-size", "32",
        "--quantization", "1", "--quantization-method", "QAT", "--qat-epochs", str(args.qat_epochs), "--no-progress",
    ]  # fmt: skip
    t0 = time.perf_counter()
    summary = train.main(train.get_args_parser().parse_args(argv))
    t_train = time.perf_counter() - t0
    onnx_acc = {}
    for name, path in (
        ("float", run / "base" / "model.onnx"),
        ("int8", run / "quantization" / "model_qdq.onnx"),
    ):
        targs = test_onnx.get_args_parser().parse_args(
            ["--dataset-dir", str(dataset), "--data-config", str(cfg_path), "--model-path", str(path),
             "--output-dir", str(run / "testing" / name)]
        )  # fmt: skip
        onnx_acc[name] = test_onnx.main(targs)["metrics"]["accuracy"]
    inputs = modality.compile_inputs(dataset, modality.validate_config(config))
    t0 = time.perf_counter()
    report = compile_model(
        run / "quantization" / "model_qdq.onnx", run / "compilation", target_device="CORTEX_M4F",
        test_vectors=inputs.test_vectors, data_config=inputs.data_config, feature_stats=inputs.feature_stats,
        class_names=summary["class_names"], task="classification",
    )  # fmt: skip
    t_compile = time.perf_counter() - t0
    mem = report.memory
    ram, flash = mem["ram"]["static_bytes_measured"], mem["flash"]["total_bytes"]
    front = mem.get("frontend")
    return {
        "data": data, "model": model, "classes": len(summary["class_names"]),
        "train/val/test": f"{summary['num_train']}/{summary['num_val']}/{summary['num_test']}",
        "epochs": summary["epochs_run"], "float acc": summary["test"]["accuracy"],
        "int8 acc": summary["quantization"]["test"]["accuracy"], "ONNX float / QDQ acc (onnxruntime)":
        f"{onnx_acc['float']:.3f} / {onnx_acc['int8']:.3f}", "C bit-exact": report.max_abs_diff == 0,
        "model RAM / flash KB": f"{ram / 1024:.1f} / {flash / 1024:.1f}",
        "+ front end RAM / flash KB": "-" if front is None else
        f"{front['pipeline_total']['ram_bytes'] / 1024:.1f} / {front['pipeline_total']['flash_bytes'] / 1024:.1f}",
        "MACs": mem["macs"]["total"], "generate s": round(t_gen, 1), "prepare s": round(t_prep, 1),
        "train+QAT+export s": round(t_train, 1), "compile s": round(t_compile, 1),
    }  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--runs", nargs="+", default=DEFAULT_RUNS, help="data:model pairs (data: digits, shapes, words)"
    )
    p.add_argument("--files-per-class", type=int, default=100, help="images per class")
    p.add_argument("--words-per-class", type=int, default=40, help="clips per spoken word (10 words)")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--qat-epochs", type=int, default=5)
    p.add_argument("--threads", type=int, default=1, help="torch / OpenMP threads")
    p.add_argument("--out", default=None, help="work folder (default: a temporary one)")
    args = p.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import torch

    torch.set_num_threads(args.threads)
    out = Path(args.out or tempfile.mkdtemp(prefix="vision_audio_"))
    rows = []
    for pair in args.runs:
        data, model = pair.split(":")
        rows.append(run_one(data, model, args, out))
        print(rows[-1], flush=True)
    keys = list(rows[0])
    print("\n| " + " | ".join(keys) + " |\n|" + "---|" * len(keys))
    for r in rows:
        print("| " + " | ".join(f"{r[k]:.3f}" if k.endswith("acc") else str(r[k]) for k in keys) + " |")
    print(f"\nwork folder: {out}; torch threads: {args.threads}")


if __name__ == "__main__":
    main()
