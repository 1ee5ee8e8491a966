"""Regressions found by walking the user journeys of docs/modelmaker.md (QA pass): small and fast."""

from __future__ import annotations

import copy

import pytest
from tinyml_modelmaker.config import resolve_config
from tinyml_tinyverse.common.errors import ConfigError


def test_choice_error_reads_as_a_sentence(base_config):
    """A value outside the choices: '... is not allowed; allowed: one of ...' (no run-on text)."""
    cfg = copy.deepcopy(base_config)
    cfg.setdefault("dataset", {})["split_type"] = "random"
    with pytest.raises(ConfigError) as info:
        resolve_config(cfg)
    assert "'random' is not allowed; allowed: one of 'amongst_files', 'within_files'" in str(info.value)
    cfg["dataset"]["split_type"] = "within_file"
    with pytest.raises(ConfigError) as info:
        resolve_config(cfg)
    assert "is not allowed (did you mean 'within_files'" in str(info.value) and "?); allowed: one of" in str(
        info.value
    )
