"""docs/vision_audio.md does not drift: its Python runs, it lists every config key of both
modalities, and its model table gives today's parameter counts."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tinyml_tinyverse.common.datasets.audio_dataset import AUDIO_CONFIG_DEFAULTS
from tinyml_tinyverse.common.datasets.image_dataset import IMAGE_CONFIG_DEFAULTS
from tinyml_tinyverse.common.models import get_model, keyword_spotting, vision

DOC = Path(__file__).resolve().parents[2] / "docs" / "vision_audio.md"
pytestmark = pytest.mark.skipif(not DOC.is_file(), reason="docs are not shipped with the package")


def test_the_doc_names_every_key_and_model_with_its_size():
    text = DOC.read_text()
    missing = [k for k in [*IMAGE_CONFIG_DEFAULTS, *AUDIO_CONFIG_DEFAULTS] if f"| `{k}` |" not in text]
    assert not missing, f"docs/vision_audio.md does not document {missing}"
    for name in [*vision.MODELS, *keyword_spotting.MODELS]:
        row = re.search(rf"^\| `{name}` \| ([\d ]+) \|", text, re.M)
        assert row, name
        assert int(row.group(1).replace(" ", "")) == sum(p.numel() for p in get_model(name).parameters()), (
            name
        )


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
def test_the_python_example_runs(tmp_path):
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert blocks
    script = tmp_path / "example.py"
    script.write_text("\n".join(blocks))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "{'input_features': (49, 10), 'variables': 1}" in proc.stdout
    assert "True {'ram_bytes':" in proc.stdout
    assert (tmp_path / "work" / "compilation" / "artifacts" / "feature_extract.c").is_file()
