"""The data docs name every config key, transform, preset and augmenter the code has."""

from __future__ import annotations

from pathlib import Path

import pytest
from tinyml_tinyverse.common.augmenters import AUGMENTER_REGISTRY
from tinyml_tinyverse.common.datasets import DATA_CONFIG_DEFAULTS
from tinyml_tinyverse.common.transforms import DATA_PROC_REGISTRY, FEATURE_REGISTRY, PRESET_REGISTRY

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.mark.skipif(
    not (DOCS / "feature_extraction.md").is_file(), reason="docs are not shipped with the package"
)
def test_feature_extraction_doc_lists_everything():
    text = (DOCS / "feature_extraction.md").read_text()
    names = [*DATA_CONFIG_DEFAULTS, *DATA_PROC_REGISTRY, *FEATURE_REGISTRY, *PRESET_REGISTRY]
    names += [n for n in AUGMENTER_REGISTRY if not n.islower()]
    missing = [n for n in names if f"`{n}`" not in text]
    assert not missing, f"docs/feature_extraction.md does not document {missing}"
