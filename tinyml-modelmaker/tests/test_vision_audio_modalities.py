"""``common.target_module: vision | audio``: the examples end to end on small generated data (training,
QAT, testing, compilation with the bit-exact check; for sound the C front end from raw samples), and
their config: own keys and defaults, wrong keys named, --describe."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO_ROOT, write_yaml
from tinyml_modelmaker.config import resolve_config
from tinyml_modelmaker.run_tinyml_modelmaker import main

EXAMPLES = REPO_ROOT / "misc" / "examples"
VISION = EXAMPLES / "image_classification_digits.yaml"
AUDIO = EXAMPLES / "keyword_spotting_spoken_words.yaml"

# the examples, made small: a few files per class, a few epochs
SMALL = {
    "vision": (VISION, {"files_per_class": 8}, [1, 1, 28, 28]),
    "audio": (AUDIO, {"files_per_class": 5, "words": ["yes", "no", "stop"]}, [1, 1, 49, 10]),
}


def small_example(name: str, tmp_path: Path) -> Path:
    path, generator_config, _ = SMALL[name]
    cfg = yaml.safe_load(path.read_text())
    cfg["common"].update(projects_path=str(tmp_path / "projects"), run_name="r")
    cfg["dataset"]["generator_config"] = generator_config
    cfg["training"].update(training_epochs=4, qat_epochs=1, num_gpus=0)
    return write_yaml(tmp_path / path.name, cfg)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_example_end_to_end(name: str, tmp_path: Path, capsys):
    path = small_example(name, tmp_path)
    assert main([str(path)]) == 0
    out = capsys.readouterr().out
    run_dir = next((tmp_path / "projects").glob("*/run/r"))
    summary = yaml.safe_load((run_dir / "run_summary.yaml").read_text())
    assert {s: v["status"] for s, v in summary["stages"].items()} == dict.fromkeys(
        ("dataset", "training", "testing", "compilation"), "done"
    )
    assert summary["task_type"] == {"vision": "image_classification", "audio": "audio_classification"}[name]
    assert summary["model_check"]["input_shape"] == SMALL[name][2]  # from the data section, before the data
    info = yaml.safe_load((run_dir / "dataset" / "dataset_info.yaml").read_text())
    assert info["modality"] == name
    training, testing = summary["training"], summary["testing"]
    assert training["quantization"]["test"]["accuracy"] is not None
    assert set(testing) == {"float", "quantized"} and testing["float"]["max_rel_diff_vs_reference"] < 1e-4
    assert (run_dir / "testing" / "float").is_dir()
    comp = summary["compilation"]
    assert comp["passed"] and comp["precision"] == "int8" and comp["target_device"] == "CORTEX_M4F"
    classes = len(training["class_names"])
    # num_test_vectors_per_class (2) of each class, or what the small test split has: checked bit for bit
    assert classes <= comp["num_vectors"] <= 2 * classes
    artifacts = run_dir / "compilation" / "artifacts"
    assert (artifacts / "tinyml_model.c").is_file()
    if name == "audio":  # the MFCC front end and the pipeline, checked from raw samples to the word
        checks = comp["memory"]["frontend"]["checks"]
        assert checks["windows"] > 0 and checks["outputs_exact"] == checks["windows"]
        assert (artifacts / "feature_extract.c").is_file() and "pipeline (raw samples -> answer)" in out
    else:  # the C takes the normalised image: no front end
        assert "frontend" not in comp["memory"] and not (artifacts / "feature_extract.c").exists()
    assert "C output bit-exact" in out


def _fails(tmp_path: Path, cfg: dict, capsys) -> str:
    path = write_yaml(tmp_path / "p.yaml", cfg)
    assert main([str(path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and not (tmp_path / "projects").exists()  # refused before any run folder
    return err


@pytest.fixture
def vision_cfg(tmp_path: Path) -> dict:
    return {
        "common": {"target_module": "vision", "projects_path": str(tmp_path / "projects")},
        "dataset": {"input_data_path": "generated://shapes"},
        "training": {"model_name": "IMG_CLS_1k"},
    }


@pytest.mark.parametrize(
    "module, section, key, close",
    [
        ("vision", "data_processing_feature_extraction", "image_heigth", "image_height"),
        ("audio", "data_processing_feature_extraction", "n_mel", "n_mels"),
        ("audio", "training", "learning_rat", "learning_rate"),
    ],
)
def test_a_wrong_key_names_it_and_the_known_ones(tmp_path, vision_cfg, capsys, module, section, key, close):
    cfg = vision_cfg
    if module == "audio":
        cfg["common"]["target_module"] = "audio"
        cfg["dataset"]["input_data_path"] = "generated://tones"
        cfg["training"]["model_name"] = "KWS_4k"
    cfg.setdefault(section, {})[key] = 1
    err = _fails(tmp_path, cfg, capsys)
    assert "p.yaml" in err and key in err and f"did you mean '{close}'" in err
    known = {"image_heigth": "image_width, color_mode", "n_mel": "n_mfcc, frame_length_ms"}.get(
        key, "optimizer"
    )
    assert known in err


@pytest.mark.parametrize(
    "change, message",
    [
        (("dataset", "split_type", "within_files"), "allowed: one of 'amongst_files'"),
        (("dataset", "input_data_path", "generated://tones"), "unknown generator 'tones'"),
        (
            ("common", "task_type", "generic_timeseries_classification"),
            "allowed: one of 'image_classification'",
        ),
        (("training", "model_name", "KWS_4k"), "'KWS_4k' is an audio classification model, not vision"),
        (("training", "model_name", "CLS_1k"), "models for image_classification: IMG_CLS_1k"),
    ],
)
def test_wrong_values_for_vision(tmp_path, vision_cfg, capsys, change, message):
    section, key, value = change
    vision_cfg[section][key] = value
    assert message in _fails(tmp_path, vision_cfg, capsys)


def test_own_defaults_and_describe(vision_cfg, capsys):
    cfg = resolve_config(vision_cfg)
    assert cfg["common"]["task_type"] == "image_classification"  # the only task: the default
    assert cfg["data_processing_feature_extraction"]["color_mode"] == "grayscale"
    assert "frame_size" not in cfg["data_processing_feature_extraction"]
    assert main(["--describe", "--target-module", "vision"]) == 0
    text = capsys.readouterr().out
    assert "image_height = 28" in text and "rotation_degrees" in text and "image_classification" in text
    assert main(["--describe", "data_processing_feature_extraction", "--target-module", "audio"]) == 0
    text = capsys.readouterr().out
    assert "n_mfcc = 10" in text and "frame_step_ms = 20" in text and "sampling_rate = 16000" in text
    assert main(["--describe", "models", "--target-module", "audio"]) == 0
    text = capsys.readouterr().out
    assert "KWS_4k" in text and "CLS_4k_NPU" not in text and "IMG_CLS" not in text
    assert main(["--describe"]) == 0  # every modality
    text = capsys.readouterr().out
    assert all(f"== {m} ==" in text for m in ("timeseries", "vision", "audio"))


def test_the_documented_projects_resolve():
    """The YAML blocks of docs/vision_audio.md are valid projects (their data keys checked by tinyverse)."""
    blocks = re.findall(r"```yaml\n(.*?)```", (REPO_ROOT / "docs" / "vision_audio.md").read_text(), re.S)
    modules = [resolve_config(yaml.safe_load(b))["common"]["target_module"] for b in blocks]
    assert modules == ["vision", "audio"]


def test_a_config_check_loads_only_its_own_data_modality(base_config):
    """Checking a time-series config imports neither the image nor the sound readers (Pillow,
    scipy.signal: seconds of start-up), and no torch; a vision config imports Pillow, not scipy.signal."""
    script = (
        "import sys, json; from tinyml_modelmaker.config import resolve_config; "
        "resolve_config(json.loads(sys.argv[1])); "
        "print(*[m in sys.modules for m in ('torch', 'PIL.Image', 'scipy.signal')])"
    )
    vision = {"common": {"target_module": "vision"}, "dataset": {"input_data_path": "generated://digits"},
              "training": {"model_name": "IMG_CLS_1k"}}  # fmt: skip
    for cfg, expected in ((base_config, "False False False"), (vision, "False True False")):
        out = subprocess.run(
            [sys.executable, "-c", script, json.dumps(cfg)], capture_output=True, text=True, check=True
        )
        assert out.stdout.split() == expected.split()
