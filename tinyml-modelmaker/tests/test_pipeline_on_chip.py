"""The on-chip pipeline of each task's example: the compilation stage emits and checks it (raw
samples -> features -> model), the testing stage writes predictions.csv, and a firmware-style C
sampling loop that pushes the test recordings row by row gets the class of every window that
predictions.csv lists."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml
from tinyml_modelmaker.run_tinyml_modelmaker import main

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = {
    "classification": "classification_motor_fault.yaml",
    "regression": "regression_motor_torque.yaml",
    "forecasting": "forecasting_motor_temperature.yaml",
    "anomalydetection": "anomalydetection_motor_vibration.yaml",
}

# a sampling loop as firmware writes it: the ADC interrupt queues rows, the main loop pushes them
SAMPLING_LOOP_C = r"""
#include <stdio.h>
#include "tinyml_pipeline.h"

#define QUEUE_ROWS 32
static float queue[QUEUE_ROWS][TINYML_PIPELINE_CHANNELS];
static volatile unsigned head, tail;

static int adc_isr(FILE *adc) /* stands in for the sample-ready interrupt: one row per call */
{
    if (fread(queue[head % QUEUE_ROWS], sizeof(float), TINYML_PIPELINE_CHANNELS, adc) != TINYML_PIPELINE_CHANNELS) {
        return 0;
    }
    head++;
    return 1;
}

int main(int argc, char **argv)
{
    float out[TINYML_PIPELINE_NUM_OUTPUTS];
    int window = 0, more = 1;
    FILE *adc = fopen(argv[1], "rb");
    if (adc == NULL || argc < 2) {
        return 2;
    }
    tinyml_pipeline_reset();
    while (more || tail != head) {
        more = more && adc_isr(adc);
        while (tail != head) { /* main loop: drain the queue */
            if (tinyml_pipeline_push(queue[tail % QUEUE_ROWS], 1) > 0) {
                printf("%d %d\n", window++, tinyml_pipeline_result(out));
            }
            tail++;
        }
    }
    fclose(adc);
    return 0;
}
"""


def run_example(tmp_path: Path, task: str) -> Path:
    cfg = yaml.safe_load((REPO / "misc" / "examples" / EXAMPLES[task]).read_text())
    cfg["common"]["projects_path"] = str(tmp_path / "projects")
    cfg["common"]["run_name"] = "run1"
    cfg["training"].update(training_epochs=2, qat_epochs=1)
    cfg["dataset"]["generator_config"] = {**cfg["dataset"].get("generator_config", {}), "files_per_class": 5}
    path = tmp_path / "example.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main([str(path)]) == 0
    return tmp_path / "projects" / cfg["dataset"]["dataset_name"] / "run" / "run1"


def read_predictions(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
@pytest.mark.parametrize("task", list(EXAMPLES))
def test_example_pipeline_and_predictions(tmp_path, task):
    root = run_example(tmp_path, task)
    art = root / "compilation" / "artifacts"
    for name in (
        "feature_extract.c",
        "feature_extract.h",
        "tinyml_pipeline.c",
        "tinyml_pipeline.h",
        "user_input_config.h",
    ):
        assert (art / name).is_file(), name
    fe = json.loads((root / "compilation" / "memory_report.json").read_text())["frontend"]
    assert fe["checks"]["passed"] and fe["checks"]["outputs_exact"] == fe["checks"]["windows"] > 0
    assert fe["checks"]["stream"]["windows"] > 0
    assert fe["ram"]["ring_buffer_bytes"] > 0 and fe["flash"]["code_bytes"] > 0
    summary = yaml.safe_load((root / "run_summary.yaml").read_text())
    assert summary["compilation"]["memory"]["frontend"]["checks"]["passed"]

    rows = read_predictions(root / "testing" / "quantized" / "predictions.csv")
    assert list(rows[0]) == ["file", "window", "label", "predicted"]
    files = {r["file"] for r in rows}
    data_dir = Path(yaml.safe_load((root / "dataset" / "dataset_info.yaml").read_text())["root"])
    data_dir = data_dir if data_dir.is_absolute() else root / "dataset" / data_dir
    assert all((data_dir / f).is_file() for f in files)  # paths relative to the data folder
    for f in files:  # windows numbered from 0 in order within each recording
        assert [int(r["window"]) for r in rows if r["file"] == f] == list(
            range(sum(r["file"] == f for r in rows))
        )
    if task != "classification":
        return

    # the C sampling loop over every test recording: the class of each window as predictions.csv
    from tinyml_tinyverse.common.datasets import validate_data_config
    from tinyml_tinyverse.common.datasets.readers import read_recording

    (tmp_path / "loop.c").write_text(SAMPLING_LOOP_C)
    exe = tmp_path / "loop"
    sources = [art / n for n in ("tinyml_model.c", "feature_extract.c", "tinyml_pipeline.c")] + [
        tmp_path / "loop.c"
    ]
    build = subprocess.run(
        [
            "gcc",
            "-std=c99",
            "-O2",
            "-Wall",
            "-Wextra",
            "-Werror",
            f"-I{art}",
            *map(str, sources),
            "-o",
            str(exe),
            "-lm",
        ],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr
    cfg = validate_data_config(
        yaml.safe_load((root / "config_resolved.yaml").read_text())["data_processing_feature_extraction"]
    )
    checked = 0
    for f in sorted(files):
        rec = read_recording(data_dir / f, cfg, "classification")
        order = np.argsort(rec.columns.inputs, kind="stable")  # the pipeline's columns: the file's order
        (tmp_path / "adc.bin").write_bytes(np.ascontiguousarray(rec.x[:, order], np.float32).tobytes())
        out = subprocess.run(
            [str(exe), str(tmp_path / "adc.bin")], capture_output=True, text=True, check=True
        ).stdout
        chip = [int(line.split()[1]) for line in out.splitlines()]
        python = [int(r["predicted"]) for r in rows if r["file"] == f]
        assert chip == python, f
        checked += len(chip)
    assert checked == len(rows)
