"""Progress bars: on a terminal by default, forced on or off by one switch (``--no-progress``)."""

from __future__ import annotations

import pytest
from test_references_train import DATA_CONFIGS, make_dataset
from tinyml_tinyverse.common.datasets import load_split
from tinyml_tinyverse.common.utils.progress import bar_disabled, set_progress


@pytest.fixture
def progress_switch():
    yield set_progress
    set_progress(None)


def test_bar_disabled_follows_the_switch(progress_switch):
    assert bar_disabled() is None  # tqdm decides: bars only when stderr is a terminal
    assert bar_disabled(True) is True
    progress_switch(False)
    assert bar_disabled() is True
    progress_switch(True)
    assert bar_disabled() is False and bar_disabled(True) is True


@pytest.mark.parametrize("enabled, shown", [(True, True), (False, False), (None, False)])
def test_reading_bar_obeys_the_switch(tmp_path, capsys, progress_switch, enabled, shown):
    dataset, _ = make_dataset(tmp_path, "classification")
    capsys.readouterr()
    progress_switch(enabled)
    cfg = {**DATA_CONFIGS["classification"]}
    load_split(dataset, "train", "classification", cfg, cache_dir=tmp_path / "no_cache")
    assert ("reading train" in capsys.readouterr().err) == shown  # captured stderr is not a terminal
