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
READ_CFG = {
    "variables": None,
    "target_columns": [],
    "forecast_variables": [],
    "time_columns": [],
    "nan_policy": "error",
}


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
    cfg = READ_CFG
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


def test_reading_a_file_hashes_the_bytes_read_and_a_change_is_hashed_again(tmp_path, monkeypatch):
    import hashlib

    monkeypatch.setattr(cache, "RACY_SECONDS", -1.0)  # remember even a file written just now
    path = tmp_path / "r.csv"
    path.write_text("a,b\n1,2\n3,4\n")
    reads = collections.Counter()
    real_open = open
    monkeypatch.setattr("builtins.open", lambda p, *a, **k: reads.update([str(p)]) or real_open(p, *a, **k))
    readers.read_text_table(path)
    assert reads[str(path)] == 1
    assert cache.file_digest(path) == hashlib.sha256(path.read_bytes()).hexdigest()[:32]
    assert reads[str(path)] == 1  # the digest of the parse's bytes: no second read
    time.sleep(0.05)  # past the file system clock's tick
    path.write_text("a,b\n1,2\n3,5\n")  # same size, changed: its change time differs
    assert cache.file_digest(path) == hashlib.sha256(path.read_bytes()).hexdigest()[:32]


def test_a_split_reads_only_the_metadata_of_the_train_entry(tmp_path, monkeypatch):
    from tinyml_tinyverse.common.datasets import timeseries_dataset

    data = generate_motor_fault(tmp_path / "d", files_per_class=4, length=3000)
    prepare_dataset(data, tmp_path / "o", "classification", data_config=CFG, plots=False)
    loaded = []
    real = timeseries_dataset.load_cached
    monkeypatch.setattr(timeseries_dataset, "load_cached", lambda d, k: loaded.append(k) or real(d, k))
    train = load_split(tmp_path / "o", "train", "classification", CFG)
    val = load_split(tmp_path / "o", "val", "classification", CFG)
    assert len(loaded) == 2 and loaded[0] != loaded[1]  # val's statistics came from train's metadata alone
    assert set(val.stats) == set(train.stats)
    for k in train.stats:
        np.testing.assert_array_equal(val.stats[k], train.stats[k])


def test_channel_range_is_nanmin_and_nanmax():
    from tinyml_tinyverse.common.datasets.data_derived import channel_range

    x = np.random.default_rng(0).normal(size=(1000, 3)).astype(np.float32)
    x[5, 1] = np.nan
    x[7, 2] = np.inf
    lo, hi = channel_range(x)
    np.testing.assert_array_equal(lo, np.nanmin(x, axis=0))
    np.testing.assert_array_equal(hi, np.nanmax(x, axis=0))
    assert lo.dtype == np.float32


def test_read_recordings_reads_ahead_in_threads_in_order_and_raises_at_the_bad_file(tmp_path):
    import pytest
    from tinyml_tinyverse.common.errors import DataError

    data = generate_motor_fault(tmp_path / "d", files_per_class=2, length=600)
    paths = sorted((data / "classes").rglob("*.csv"))
    cfg = READ_CFG
    got = list(readers.read_recordings(paths, cfg, "classification", workers=3))
    for path, rec in zip(paths, got, strict=True):
        np.testing.assert_array_equal(rec.x, readers.read_recording(path, cfg, "classification").x)
    paths[3].write_text("a,b\n1,2\n3,x\n")  # the fourth file: a cell that is no number
    seen = []
    with pytest.raises(DataError, match=paths[3].name):
        for rec in readers.read_recordings(paths, cfg, "classification", workers=3):
            seen.append(rec)
    assert len(seen) == 3
