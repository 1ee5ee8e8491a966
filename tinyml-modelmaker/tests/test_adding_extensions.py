"""The extension promises, proved on copies of the packages with the normal command:

- docs/adding_modalities.md: a new folder under ``ai_modules/`` is a modality (run, --describe, wrong
  keys named); a folder missing a part is an error naming the part.
- docs/adding_feature_extractors.md: a new file under ``common/transforms/`` is a feature extraction
  step a project can name, trained and compiled to the chip's front end.

Every code block of the two pages runs here.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tinyml_modelmaker
import tinyml_tinyverse
import yaml
from conftest import REPO_ROOT

DOCS = REPO_ROOT / "docs"


def code_blocks(page: Path) -> list[tuple[str, str]]:
    """``(language, text)`` of every fenced code block of a Markdown page."""
    return re.findall(r"^```(\w*)\n(.*?)^```", page.read_text(), flags=re.S | re.M)


def first_line_path(text: str) -> str:
    """The file a block is (its first line is ``# path``)."""
    return text.splitlines()[0].lstrip("# ").strip()


def copy_package(module, dest: Path) -> Path:
    """Copy an installed package (without caches) into ``dest``; it shadows the installed one for
    processes started with ``cwd=dest``."""
    src = Path(module.__file__).parent
    out = dest / src.name
    shutil.copytree(src, out, ignore=shutil.ignore_patterns("__pycache__"))
    return out


def command(words: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """``tinyml-modelmaker ...`` as ``python -m``, so that the copies in ``cwd`` come first on sys.path."""
    assert words[0] == "tinyml-modelmaker"
    cmd = [sys.executable, "-m", "tinyml_modelmaker.run_tinyml_modelmaker", *words[1:]]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)


def shell_lines(blocks: list[tuple[str, str]]) -> list[list[str]]:
    return [line.split() for lang, text in blocks if lang == "bash" for line in text.splitlines() if line]


# -- a modality ----------------------------------------------------------------------------------------
@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    """A copy of tinyml_modelmaker with the documented ``inventory`` modality added, and its data."""
    package = copy_package(tinyml_modelmaker, tmp_path)
    blocks = code_blocks(DOCS / "adding_modalities.md")
    files = [text for lang, text in blocks if lang == "python"]
    assert len(files) == 5
    for text in files:
        path = package / first_line_path(text)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    project = next(text for lang, text in blocks if lang == "yaml")
    (tmp_path / first_line_path(project)).write_text(project)
    for name, n in (("fan_on", 3), ("fan_off", 2)):
        (tmp_path / "my_data" / "classes" / name).mkdir(parents=True)
        for i in range(n):
            (tmp_path / "my_data" / "classes" / name / f"r{i}.csv").write_text("x\n1\n")
    (tmp_path / "my_data" / "classes" / "fan_on" / "notes.txt").write_text("not counted")
    return tmp_path


def test_documented_modality_runs_with_the_normal_command(inventory: Path):
    run, describe = shell_lines(code_blocks(DOCS / "adding_modalities.md"))
    out = command(run, inventory)
    assert out.returncode == 0, out.stderr
    assert "inventory: fan_off: 2 files" in out.stdout and "inventory: fan_on: 3 files" in out.stdout
    out = command(describe, inventory)
    assert out.returncode == 0, out.stderr
    assert "count_files" in out.stdout and "dataset.suffix" in out.stdout
    # the installed package (no copy on the path) does not know it: the folder is the modality
    installed = subprocess.run(
        [sys.executable, "-m", "tinyml_modelmaker.run_tinyml_modelmaker", str(inventory / "inventory.yaml")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert installed.returncode == 2 and "unknown target_module 'inventory'" in installed.stderr


def test_new_modality_names_a_wrong_key(inventory: Path):
    out = command(["tinyml-modelmaker", "inventory.yaml", "--set", "dataset.sufix=.csv"], inventory)
    assert out.returncode == 2
    assert "unknown key dataset.'sufix'" in out.stderr and "did you mean 'suffix'" in out.stderr
    assert "input_data_path, suffix" in out.stderr  # the known keys


@pytest.mark.parametrize(
    "part, removed, message",
    [
        ("runner.py", None, "has no part 'runner' (runner.py)"),
        ("params.py", None, "has no part 'params' (params.py)"),
        ("descriptions.py", "TASK_DESCRIPTIONS = ", "part descriptions.py defines no TASK_DESCRIPTIONS"),
    ],
)
def test_a_missing_part_is_named(inventory: Path, part: str, removed: str | None, message: str):
    path = inventory / "tinyml_modelmaker" / "ai_modules" / "inventory" / part
    if removed is None:
        path.unlink()
    else:
        path.write_text(path.read_text().replace(removed, "OTHER_NAME = "))
    out = command(["tinyml-modelmaker", "inventory.yaml"], inventory)
    assert out.returncode == 2
    assert message in out.stderr and "a modality package needs constants.py" in out.stderr
    assert "Traceback" not in out.stderr


# -- a feature extractor ---------------------------------------------------------------------------------
def test_documented_feature_extractor_trains_and_compiles(tmp_path: Path):
    """The page's file dropped into a copy of tinyverse; its project trained, quantized, compiled, and
    the C front end with the new step checked from raw samples to the class."""
    package = copy_package(tinyml_tinyverse, tmp_path)
    blocks = code_blocks(DOCS / "adding_feature_extractors.md")
    (source,) = [text for lang, text in blocks if lang == "python"]
    (package / first_line_path(source).split("/", 1)[1]).write_text(source)
    (project,) = [text for lang, text in blocks if lang == "yaml"]
    (tmp_path / first_line_path(project)).write_text(project)
    ((run,),) = [shell_lines(blocks)]
    small = {
        "common.projects_path": str(tmp_path / "projects"),
        "common.run_name": "r",
        "dataset.generator_config": "{files_per_class: 3, length: 2048}",
        "training.training_epochs": "3",
        "training.quantization_method": "PTQ",
        "training.num_gpus": "0",
    }
    out = command(run + [a for k, v in small.items() for a in ("--set", f"{k}={v}")], tmp_path)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    run_dir = tmp_path / "projects" / "motor_fault" / "run" / "r"
    summary = yaml.safe_load((run_dir / "run_summary.yaml").read_text())
    comp = summary["compilation"]
    assert comp["passed"] and comp["precision"] == "int8"
    checks = comp["memory"]["frontend"]["checks"]
    assert checks["windows"] > 0 and checks["outputs_exact"] == checks["windows"]
    assert checks["features_bit_exact"] == checks["windows"]  # sqrtf, fabsf, copysignf are exact
    front_end = (run_dir / "compilation" / "artifacts" / "feature_extract.c").read_text()
    assert "copysignf(sqrtf(fabsf(" in front_end
    # the step came from the copy's new file, not from the installed package
    assert not (Path(tinyml_tinyverse.__file__).parent / "common" / "transforms" / "signed_sqrt.py").exists()
