"""A user's own model from the command line, without editing the installed package: a Python file named by
``training.model_module``, or an installed package's entry point (group ``tinyml_tinyverse.models``).
The user guide's project-YAML blocks (docs/seed/adding_custom_models.rst) run here as written."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO_ROOT, write_yaml
from tinyml_modelmaker.run_tinyml_modelmaker import main
from tinyml_tinyverse.common.models import MODEL_REGISTRY
from tinyml_tinyverse.common.utils.doc_blocks import code_blocks

GUIDE = REPO_ROOT / "docs" / "seed" / "adding_custom_models.rst"
DOCS_PAGE = REPO_ROOT / "docs" / "adding_custom_models.md"


def guide_block(language: str, first_line: str) -> str:
    found = [c for lang, c in code_blocks(GUIDE) if lang == language and c.startswith(first_line)]
    assert len(found) == 1, f"{GUIDE.name}: one {language} block starting with {first_line!r} expected"
    return found[0]


def guide_model_file() -> str:
    """The guide's model file: the base-class block (its imports) and the two complete models, as written."""
    return "\n\n".join(
        guide_block("python", first)
        for first in (
            "from tinyml_tinyverse.common.models.generic_model_spec import",
            "class CLS_CUSTOM_1k(",
            "class CLS_CUSTOM_NPU(",
        )
    )


def project(tmp_path: Path, training: dict | None = None) -> dict:
    """A small classification project (generated 3-axis motor data, 16 FFT bins x 8 frames), float only."""
    return {
        "common": {
            "task_type": "generic_timeseries_classification",
            "target_device": "F28P55",
            "projects_path": str(tmp_path / "projects"),
            "run_name": "run1",
        },
        "dataset": {
            "dataset_name": "motor",
            "input_data_path": "generated://motor_fault",
            "generator_config": {"files_per_class": 4, "length": 2048},
        },
        "data_processing_feature_extraction": {
            "feature_extraction_name": "Generic_256Input_FFTBIN_16Feature_8Frame",
            "variables": 3,
        },
        "training": {"quantization": 0, **(training or {})},
        "testing": {"enable": True},
        "compilation": {"enable": False},
    }


def with_guide_yaml(cfg: dict, guide_yaml: str) -> dict:
    """The project with the guide's ``training:`` block merged in as written."""
    for section, values in yaml.safe_load(guide_yaml).items():
        cfg.setdefault(section, {}).update(values)
    return cfg


@pytest.fixture
def clean_registry():
    before, path = set(dict.keys(MODEL_REGISTRY)), list(sys.path)
    yield
    sys.path[:] = path
    for name in set(dict.keys(MODEL_REGISTRY)) - before:
        dict.pop(MODEL_REGISTRY, name)
    for name in [n for n, m in sys.modules.items() if getattr(m, "__file__", "") and "pytest-" in m.__file__]:
        sys.modules.pop(name)  # the user modules each test wrote under tmp_path


def test_guide_model_in_a_user_file_trains_through_model_module(tmp_path, capsys, clean_registry):
    """The guide's classes pasted into my_models.py next to the YAML, and the training block of
    docs/adding_custom_models.md (training.model_module: my_models.py): the CLI trains, tests and exports."""
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "my_models.py").write_text(guide_model_file())
    ours = [c for lang, c in code_blocks(DOCS_PAGE) if lang == "yaml" and "model_module: my_models.py" in c]
    assert len(ours) == 1, f"{DOCS_PAGE.name}: one training block with model_module expected"
    cfg = with_guide_yaml(project(tmp_path), ours[0])
    path = write_yaml(folder / "project.yaml", cfg)
    assert main([str(path), "--set", "training.training_epochs=3"]) == 0  # the guide's 30, cut for the test
    out = capsys.readouterr().out
    assert (
        f"model module: imported {folder / 'my_models.py'}: MY_CUSTOM_MODEL, CLS_CUSTOM_1k, CLS_CUSTOM_NPU"
        in out
    )
    run = tmp_path / "projects" / "motor" / "run" / "run1"
    resolved = yaml.safe_load((run / "config_resolved.yaml").read_text())
    assert resolved["training"]["model_module"] == [str(folder / "my_models.py")]
    summary = yaml.safe_load((run / "run_summary.yaml").read_text())
    assert summary["model_modules"][0]["models"] == ["MY_CUSTOM_MODEL", "CLS_CUSTOM_1k", "CLS_CUSTOM_NPU"]
    assert summary["stages"]["training"]["status"] == summary["stages"]["testing"]["status"] == "done"
    trained = yaml.safe_load((run / "training" / "base" / "summary.yaml").read_text())
    assert trained["model"] == "CLS_CUSTOM_1k" and trained["epochs_run"] == 3
    with open(run / "training" / "base" / "training_log.csv", newline="") as f:
        losses = [float(r["train_loss"]) for r in csv.DictReader(f) if r["phase"] == "train"]
    assert losses[-1] < losses[0]  # it learns
    assert (run / "training" / "base" / "model.onnx").is_file()


def test_guide_package_installed_with_an_entry_point_trains_from_the_command_line(tmp_path):
    """The guide's Step 1 / Step 2 (models/your_custom_model.py, models/__init__.py as written) as a package
    installed into a folder on PYTHONPATH with an entry point of group tinyml_tinyverse.models; the CLI of a
    fresh process finds CLS_CUSTOM_1k with no model_module."""
    site = tmp_path / "site"
    (site / "models").mkdir(parents=True)
    (site / "models" / "your_custom_model.py").write_text(guide_model_file())
    (site / "models" / "__init__.py").write_text(guide_block("python", "from .your_custom_model import"))
    dist = site / "guide_models-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: guide-models\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[tinyml_tinyverse.models]\nguide = models\n")
    cfg = with_guide_yaml(project(tmp_path), guide_block("yaml", "training:\n  model_name: 'CLS_CUSTOM_1k'"))
    cfg["testing"]["enable"] = False
    path = write_yaml(tmp_path / "project.yaml", cfg)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    cmd = [sys.executable, "-m", "tinyml_modelmaker.run_tinyml_modelmaker", str(path),
           "--set", "training.training_epochs=2"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    trained = tmp_path / "projects" / "motor" / "run" / "run1" / "training" / "base" / "summary.yaml"
    assert yaml.safe_load(trained.read_text())["model"] == "CLS_CUSTOM_1k"


def test_guide_model_config_block_overrides_timeseries_generic_13k_t(tmp_path):
    """The guide's last training block as written, with its /path/to/tinyml-modelmaker/misc/ placeholder
    pointing at this repository's misc/ folder (misc/ sits at the root of the monorepo)."""
    text = guide_block("yaml", "training:\n  enable: True")
    placeholder = "/path/to/tinyml-modelmaker/misc/"
    assert placeholder in text
    cfg = with_guide_yaml(project(tmp_path), text.replace(placeholder, f"{REPO_ROOT / 'misc'}/"))
    cfg["testing"]["enable"] = False
    path = write_yaml(tmp_path / "project.yaml", cfg)
    assert main([str(path), "--set", "training.training_epochs=1"]) == 0
    run = tmp_path / "projects" / "motor" / "run" / "run1"
    trained = yaml.safe_load((run / "training" / "base" / "summary.yaml").read_text())
    assert trained["model"] == "TimeSeries_Generic_13k_t"
    model_config = yaml.safe_load((REPO_ROOT / "misc" / "TimeSeries_Generic_x_t.yaml").read_text())
    assert trained["input_shape"][0] == model_config["variables"]
    assert len(trained["class_names"]) == model_config["num_classes"]


def _fails(path: Path, capsys, *args: str) -> str:
    assert main([str(path), *args]) == 2
    return capsys.readouterr().err


@pytest.mark.parametrize(
    "source, expected",
    [
        ("from tinyml_tinyverse.common.models.generic_model_spec import GenericModelWithSpec\n\n"
         "class CLS_BAD(GenericModelWithSpec)\n    pass\n", "my_models.py:3: SyntaxError"),
        ("import math\n\n\nx = math.nothing\n", "my_models.py:4: AttributeError: module 'math' has no attribute"),
        ("import numpy as np\n", "defines no model"),
    ],
)  # fmt: skip
def test_a_model_module_that_fails_names_the_file_the_line_and_the_error(
    tmp_path, capsys, clean_registry, source, expected
):
    (tmp_path / "my_models.py").write_text(source)
    cfg = project(tmp_path, {"model_name": "CLS_BAD", "model_module": "my_models.py"})
    err = _fails(write_yaml(tmp_path / "project.yaml", cfg), capsys)
    assert "training.model_module" in err and expected in err and "Traceback" not in err
    assert not (tmp_path / "projects").exists()  # rejected before any run folder is made


def test_model_module_paths_start_at_the_yaml_folder(tmp_path, capsys, monkeypatch):
    (tmp_path / "my_models.py").write_text("")
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path)  # the file is in the current folder, but not in the YAML's
    cfg = project(tmp_path, {"model_name": "CLS_MINE", "model_module": "my_models.py"})
    err = _fails(write_yaml(tmp_path / "sub" / "project.yaml", cfg), capsys)
    assert (
        f"looked for {tmp_path / 'sub' / 'my_models.py'}" in err
        and "relative paths start at the folder of the YAML" in err
    )
    cfg["training"]["model_module"] = "no_such_module_here"
    err = _fails(write_yaml(tmp_path / "sub" / "project.yaml", cfg), capsys)
    assert "no module named 'no_such_module_here'" in err


def test_unknown_model_says_how_to_register_one(tmp_path, capsys):
    cfg = project(tmp_path, {"model_name": "CLS_MY_OWN"})
    err = _fails(write_yaml(tmp_path / "project.yaml", cfg), capsys)
    assert "unknown model 'CLS_MY_OWN'" in err
    assert "training.model_module: my_models.py" in err and "tinyml_tinyverse.models" in err
    assert "MODEL_REGISTRY.register" in err
