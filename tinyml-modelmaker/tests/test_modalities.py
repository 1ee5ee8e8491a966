"""Modalities are found by name: a new sub-package of ``ai_modules`` is usable with no central edit."""

from __future__ import annotations

import sys
import textwrap

import pytest
import tinyml_modelmaker.ai_modules as ai_modules
from conftest import write_yaml
from tinyml_modelmaker.ai_modules.registry import get_target_module, target_module_names
from tinyml_modelmaker.config import resolve_config
from tinyml_modelmaker.run_tinyml_modelmaker import main
from tinyml_tinyverse.common.errors import ConfigError

TOY_FILES = {
    "__init__.py": '"""A toy modality used by the tests."""\n',
    "constants.py": "TARGET_MODULE = 'toy'\nTASK_TYPES = {'greeting': 'classification'}\n",
    "descriptions.py": textwrap.dedent(
        """
        TASK_DESCRIPTIONS = {'greeting': 'say hello'}
        SECTION_DESCRIPTIONS = {'common': 'what to say'}
        PARAM_DESCRIPTIONS = {'common': {'target_module': 'm', 'greeting': 'g'}}
        """
    ),
    "params.py": textwrap.dedent(
        """
        from tinyml_modelmaker.config import Param

        SCHEMA = {"common": {"target_module": Param("toy", (str,)), "greeting": Param("hello", (str,))}}
        FREE_SECTIONS = ()

        def validate(resolved, source=""):
            return resolved
        """
    ),
    "runner.py": textwrap.dedent(
        """
        def run(config, *, resume=False, source=""):
            print("toy says", config["common"]["greeting"])
            return {}
        """
    ),
}


@pytest.fixture
def toy_modality(tmp_path, monkeypatch):
    package = tmp_path / "extra_modalities" / "toy"
    package.mkdir(parents=True)
    for name, text in TOY_FILES.items():
        (package / name).write_text(text)
    monkeypatch.setattr(ai_modules, "__path__", [*ai_modules.__path__, str(package.parent)])
    yield
    for name in [m for m in sys.modules if m.startswith("tinyml_modelmaker.ai_modules.toy")]:
        del sys.modules[name]


def test_new_modality_found_by_name(toy_modality, tmp_path, capsys):
    assert "toy" in target_module_names() and "timeseries" in target_module_names()
    assert get_target_module("toy").params.SCHEMA["common"]["greeting"].default == "hello"
    cfg = resolve_config({"common": {"target_module": "toy", "greeting": "hi"}})
    assert cfg == {"common": {"target_module": "toy", "greeting": "hi"}}
    path = write_yaml(tmp_path / "toy.yaml", {"common": {"target_module": "toy"}})
    assert main([str(path)]) == 0
    assert "toy says hello" in capsys.readouterr().out


def test_unknown_modality_lists_known_ones():
    with pytest.raises(ConfigError, match=r"common.target_module.*did you mean 'timeseries'"):
        resolve_config({"common": {"target_module": "timeserie"}})
