"""The dataset stage parses each file once (checks, every split's processing, the plots) and the training
stage's loader parses none; file digests are remembered only while a file is unchanged."""

from __future__ import annotations

import collections
import os
import time

import numpy as np
from tinyml_tinyverse.common.datasets import cache, load_split, prepare_dataset, readers
from tinyml_tinyverse.common.datasets.generators import generate_motor_fault
from tinyml_tinyverse.common.datasets.read_once import read_once

CFG = {"feature_extraction_name": "Generic_256Input_FFTBIN_16Feature_8Frame", "variables": 3}


def _count_parses(monkeypatch) -> collections.Counter:
    parsed: collections.Counter = collections.Counter()
    real = readers.read_table
    monkeypatch.setattr(readers, "read_table", lambda p: parsed.update([str(p)]) or real(p))
    return parsed


def test_dataset_stage_parses_each_file_once_and_training_none(tmp_path, monkeypatch):
    data = generate_motor_fault(tmp_path / "d", files_per_class=5, length=3000)
    parsed = _count_parses(monkeypatch)
    info = prepare_dataset(data, tmp_path / "o", "classification", data_config=CFG, plots=True)
    files = sorted(set().union(*info.splits.values()))
    assert (tmp_path / "o" / "recordings_per_class.png").is_file()
    assert sorted(parsed) == sorted(str(info.root / f) for f in files)
    assert set(parsed.values()) == {1}
    parsed.clear()
    for split in ("train", "val", "test"):  # what the training stage's loader does
        assert len(load_split(tmp_path / "o", split, "classification", CFG, seed=3).X)
    assert not parsed


def test_read_once_keeps_nothing_outside_its_block_or_past_its_budget(tmp_path, monkeypatch):
    data = generate_motor_fault(tmp_path / "d", files_per_class=1, length=600)
    path = next((data / "classes").rglob("*.csv"))
    cfg = {
        "variables": None,
        "target_columns": [],
        "forecast_variables": [],
        "time_columns": [],
        "nan_policy": "error",
    }
    parsed = _count_parses(monkeypatch)
    readers.read_recording(path, cfg, "classification")
    readers.read_recording(path, cfg, "classification")
    assert parsed[str(path)] == 2
    with read_once():
        a = readers.read_recording(path, cfg, "classification")
        b = readers.read_recording(path, cfg, "classification")
        assert a is b and parsed[str(path)] == 3
        readers.read_recording(path, {**cfg, "variables": 2}, "classification")  # other columns: parsed
        assert parsed[str(path)] == 4
        path.write_text(path.read_text() + "0.5,1,2,3\n")  # the file changed: parsed again
        c = readers.read_recording(path, cfg, "classification")
        assert parsed[str(path)] == 5 and len(c.x) == len(a.x) + 1
    with read_once(budget_bytes=0):
        readers.read_recording(path, cfg, "classification")
        readers.read_recording(path, cfg, "classification")
    assert parsed[str(path)] == 7


def test_file_digests_follow_changes(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("x\n1\n")
    old = time.time() - 60
    os.utime(path, (old, old))
    first = cache.file_digest(path)
    path.write_text("x\n2\n")  # same size, changed now
    assert cache.file_digest(path) != first
    os.utime(path, (old, old))  # the old modification time back: the change time still differs
    assert cache.file_digest(path) != first
    assert cache.file_digest(path) == cache.file_digest(path)
    np.testing.assert_equal(cache.file_digest(path), cache.file_digest(str(path)))
