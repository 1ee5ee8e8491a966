"""docs/adding_custom_models.md works as written: every Python block runs, in order."""

import re
import sys
from pathlib import Path

import pytest
from tinyml_tinyverse.common.models import (
    LAYER_REGISTRY,
    MODEL_REGISTRY,
    get_model,
    import_model_module,
    model_task,
)

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "adding_custom_models.md"
BLOCK = re.compile(r"^```python([^\n]*)\n(.*?)^```", re.S | re.M)
GUIDE_MODELS = ("CLS_CUSTOM_1k", "CLS_CUSTOM_NPU")


def python_blocks() -> list[tuple[str, str]]:
    """(info string, code) of every ```python block of the guide, in order."""
    return [(info.strip(), code) for info, code in BLOCK.findall(GUIDE.read_text())]


@pytest.fixture
def clean_registry():
    yield
    for name in GUIDE_MODELS:
        dict.pop(MODEL_REGISTRY, name, None)


def test_guide_has_the_expected_blocks():
    blocks = python_blocks()
    assert len(blocks) >= 8
    assert sum(info.startswith("file=") for info, _ in blocks) == 1
    text = GUIDE.read_text()
    for needed in ("opset_version=11", "torch.randn(1, 1, 512, 1)", "(1, 3)", "model_config", "AddLayer"):
        assert needed in text


def test_guide_lists_every_layer_type():
    text = GUIDE.read_text()
    missing = [name for name in LAYER_REGISTRY if f"`{name}`" not in text]
    assert not missing, f"document these layer types in {GUIDE.name}: {missing}"


def test_every_python_block_runs_in_order(tmp_path, monkeypatch, capsys, clean_registry):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "guide"}
    ran = 0
    for i, (info, code) in enumerate(python_blocks()):
        if info.startswith("file="):
            continue  # an excerpt of a package file: run by the next test
        exec(compile(code, f"{GUIDE.name}[block {i}]", "exec"), namespace)
        ran += 1
    assert ran >= 7
    assert MODEL_REGISTRY["CLS_CUSTOM_1k"] is namespace["CLS_CUSTOM_1k"]
    assert (tmp_path / "cls_custom_1k.onnx").is_file() and (tmp_path / "cls_custom_npu.yaml").is_file()
    assert "total params" in capsys.readouterr().out


def test_the_package_init_of_the_page_registers_through_model_module(tmp_path, clean_registry):
    """The __init__.py excerpt, in a package next to a my_models.py made of the model blocks, imported the
    way training.model_module imports a package folder."""
    blocks = python_blocks()
    models = "\n\n".join(code for info, code in blocks if "class CLS_CUSTOM" in code)
    (init_info, init_code) = next((i, c) for i, c in blocks if i.startswith("file="))
    assert init_info == "file=my_tinyml_models/__init__.py"
    pkg = tmp_path / "my_tinyml_models"
    pkg.mkdir()
    (pkg / "my_models.py").write_text(models)
    (pkg / "__init__.py").write_text(init_code)
    try:
        module, names = import_model_module("my_tinyml_models", base_dir=tmp_path)
        assert names == ["CLS_CUSTOM_1k", "CLS_CUSTOM_NPU"]
        assert MODEL_REGISTRY["CLS_CUSTOM_NPU"] is module.CLS_CUSTOM_NPU
        assert get_model("CLS_CUSTOM_1k", num_classes=2).output_shape == (2,)
        assert model_task("CLS_CUSTOM_NPU") == "classification"  # from the name's prefix
    finally:
        for name in ("my_tinyml_models", "my_tinyml_models.my_models"):
            sys.modules.pop(name, None)
