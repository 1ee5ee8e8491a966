"""Formats, layouts, annotation lists, zips, split rules and the cache, on real files on disk."""

from __future__ import annotations

import pickle
import zipfile

import numpy as np
import pytest
from tinyml_tinyverse.common.datasets import load_split, prepare_dataset, read_dataset_info
from tinyml_tinyverse.common.datasets import timeseries_dataset as tsd
from tinyml_tinyverse.common.datasets.readers import is_time_column, read_recording
from tinyml_tinyverse.common.datasets.splitting import row_ranges, split_amongst_files

CFG = {"frame_size": 16}


def rec(n=48, seed=0, cols=2):
    return np.random.default_rng(seed).normal(size=(n, cols)).round(4)


def write_csv(path, data, header=None, sep=","):
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ([sep.join(header)] if header else []) + [sep.join(f"{v:g}" for v in row) for row in data]
    path.write_text("\n".join(lines) + "\n")


def make_classes(root, classes=("a", "b"), files=4, n=48):
    for ci, c in enumerate(classes):
        for i in range(files):
            write_csv(root / "classes" / c / f"{c}{i}.csv", rec(n, 10 * ci + i), ["ax", "ay"])
    return root


def test_time_column_names():
    for name in ("time", "Time", "TIMESTAMP", "time_s", "Time (ms)", "time_us", "t"):
        assert is_time_column(name), name
    for name in ("temperature", "timer_count", "x", "ax"):
        assert not is_time_column(name), name


def test_every_file_format_reads_the_same_numbers(tmp_path):
    data = rec(40, 3, cols=3)
    cfg = {"frame_size": 8, "variables": None, "time_columns": [], "nan_policy": "error"}
    from tinyml_tinyverse.common.datasets import validate_data_config

    cfg = validate_data_config(cfg)
    t = np.arange(40)[:, None] / 1000
    write_csv(tmp_path / "a.csv", np.hstack([t, data]), ["Time (s)", "x", "y", "z"])
    write_csv(tmp_path / "b.txt", data, sep="\t")
    write_csv(tmp_path / "c.txt", data, sep=" ")
    write_csv(tmp_path / "d.csv", data, ["x", "y", "z"], sep=";")
    np.save(tmp_path / "e.npy", data)
    (tmp_path / "f.pkl").write_bytes(pickle.dumps({"x": data[:, 0], "y": data[:, 1], "z": data[:, 2]}))
    (tmp_path / "g.pkl").write_bytes(pickle.dumps(data))
    for name in "a.csv b.txt c.txt d.csv e.npy f.pkl g.pkl".split():
        got = read_recording(tmp_path / name, cfg, "classification")
        np.testing.assert_allclose(got.x, data.astype(np.float32), err_msg=name)
    sel = read_recording(tmp_path / "a.csv", validate_data_config({"variables": ["z", 1]}), "classification")
    np.testing.assert_allclose(sel.x, data[:, [2, 0]].astype(np.float32))
    drop = read_recording(tmp_path / "b.txt", validate_data_config({"time_columns": [0]}), "classification")
    np.testing.assert_allclose(drop.x, data[:, 1:].astype(np.float32))


def test_splits_are_stratified_deterministic_and_disjoint():
    files = [f"{c}/{i}.csv" for c in "abc" for i in range(10)]
    groups = [f[0] for f in files]
    s1 = split_amongst_files(files, groups, (0.6, 0.2, 0.2), seed=1)
    assert s1 == split_amongst_files(files, groups, (0.6, 0.2, 0.2), seed=1)
    assert s1 != split_amongst_files(files, groups, (0.6, 0.2, 0.2), seed=2)
    for c in "abc":
        assert [sum(f[0] == c for f in s1[s]) for s in ("train", "val", "test")] == [6, 2, 2]
    assert sorted(s1["train"] + s1["val"] + s1["test"]) == sorted(files)
    assert row_ranges(100, (0.7, 0.2, 0.1)) == {"train": (0, 70), "val": (70, 90), "test": (90, 100)}


def test_within_files_cuts_rows_without_overlap(tmp_path):
    root = make_classes(tmp_path / "d", files=2, n=160)
    prepare_dataset(
        root, tmp_path / "o", "classification", split_type="within_files", data_config=CFG, plots=False
    )
    parts = {s: load_split(tmp_path / "o", s, "classification", CFG) for s in ("train", "val", "test")}
    assert [len(parts[s].X) for s in ("train", "val", "test")] == [4 * 6, 4 * 2, 4 * 2]  # 96/32/32 rows
    raw = np.loadtxt(root / "classes" / "a" / "a0.csv", delimiter=",", skiprows=1)
    i = parts["val"].files.index("a/a0.csv")
    first_val = parts["val"].X[parts["val"].file_ids == i][0, :, :, 0]
    np.testing.assert_allclose(first_val, raw[96:112].T, rtol=1e-5)


def test_shipped_lists_win_and_missing_val_is_carved_from_train(tmp_path):
    root = make_classes(tmp_path / "d", files=5)
    ann = root / "annotations"
    ann.mkdir()
    train = [f"{c}/{c}{i}.csv" for c in "ab" for i in range(4)]
    (ann / "instances_train_list.txt").write_text("\n".join(train) + "\n")
    (ann / "instances_test_list.txt").write_text(
        "a/a4.csv\nclasses/b/b4.csv\n"
    )  # a classes/ prefix is accepted
    info = prepare_dataset(root, tmp_path / "o", "classification", data_config=CFG, plots=False)
    assert info.splits["test"] == ["a/a4.csv", "b/b4.csv"]
    assert len(info.splits["val"]) == 2 and set(info.splits["val"]) < set(
        train
    )  # 0.2 / 0.8 of train, per class
    assert sorted(info.splits["train"] + info.splits["val"]) == sorted(train)
    assert not list(root.glob("*.txt")) and sorted(p.name for p in ann.iterdir()) == [
        "instances_test_list.txt",
        "instances_train_list.txt",
    ]  # nothing written into the user's folder
    written = (tmp_path / "o" / "annotations" / "test_list.txt").read_text().split()
    assert written == ["a/a4.csv", "b/b4.csv"]


def test_file_list_limits_the_files(tmp_path):
    root = make_classes(tmp_path / "d", files=5)
    (root / "file_list.txt").write_text("\n".join(f"{c}/{c}{i}.csv" for c in "ab" for i in range(3)))
    info = prepare_dataset(root, tmp_path / "o", "classification", data_config=CFG, plots=False)
    used = sorted(sum(info.splits.values(), []))
    assert used == sorted(f"{c}/{c}{i}.csv" for c in "ab" for i in range(3))


def test_zip_input_is_extracted_into_the_output_dir(tmp_path):
    root = make_classes(tmp_path / "d")
    z = tmp_path / "data.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for p in root.rglob("*.csv"):
            zf.write(p, "mydata/" + str(p.relative_to(root)))
    info = prepare_dataset(z, tmp_path / "o", "classification", data_config=CFG, plots=False)
    assert info.root == (tmp_path / "o" / "extracted" / "mydata" / "classes").resolve()
    assert read_dataset_info(tmp_path / "o").root == info.root
    assert len(load_split(tmp_path / "o", "train", "classification", CFG).X) > 0
    again = prepare_dataset(
        z, tmp_path / "o", "classification", data_config=CFG, plots=False
    )  # re-run reuses
    assert again.splits == info.splits


def test_single_file_and_files_folder_for_regression(tmp_path):
    t = np.arange(200)[:, None]
    write_csv(
        tmp_path / "one.csv", np.hstack([t, rec(200, 1, 2), rec(200, 2, 1)]), ["timestamp", "i1", "i2", "y"]
    )
    cfg = {"frame_size": 20, "target_reduction": "last"}
    info = prepare_dataset(
        tmp_path / "one.csv", tmp_path / "o", "regression", split_type="within_files", data_config=cfg
    )
    assert info.input_columns == ["i1", "i2"] and info.target_columns == ["y"]
    val = load_split(tmp_path / "o", "val", "regression", cfg)
    raw = np.loadtxt(tmp_path / "one.csv", delimiter=",", skiprows=1)
    np.testing.assert_allclose(val.y[:, 0], raw[120:160, 3][19::20], rtol=1e-5)  # last sample of each window
    assert (tmp_path / "o" / "feature_pca.png").is_file()


def test_cache_hits_and_invalidates(tmp_path, monkeypatch):
    root = make_classes(tmp_path / "d")
    prepare_dataset(root, tmp_path / "o", "classification", data_config=CFG, plots=False)
    first = load_split(tmp_path / "o", "train", "classification", CFG)
    calls = []
    real = tsd.read_recording
    monkeypatch.setattr(tsd, "read_recording", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    hit = load_split(tmp_path / "o", "train", "classification", CFG)
    assert calls == []  # served from the cache
    np.testing.assert_array_equal(hit.X, first.X)
    np.testing.assert_array_equal(hit.y, first.y)
    load_split(tmp_path / "o", "train", "classification", {**CFG, "stride_size": 0.5})
    assert len(calls) == len(first.files)  # another config: processed again
    calls.clear()
    f = root / "classes" / first.files[0]
    f.write_text(f.read_text() + "0.5,0.5\n")
    changed = load_split(tmp_path / "o", "train", "classification", CFG)
    assert len(calls) == len(first.files)  # the data changed: processed again
    assert len(changed.X) == len(first.X)


def test_training_randomness_is_seeded(tmp_path):
    root = make_classes(tmp_path / "d")
    cfg = {**CFG, "data_proc_transforms": ["SimpleWindow", "GainVariation"], "gain_variations": [0.5, 1.5]}
    prepare_dataset(root, tmp_path / "o", "classification", data_config=cfg, plots=False)
    a = load_split(tmp_path / "o", "train", "classification", cfg, seed=1)
    b = load_split(tmp_path / "o", "train", "classification", cfg, seed=1, cache_dir=tmp_path / "c2")
    c = load_split(tmp_path / "o", "train", "classification", cfg, seed=2)
    plain = load_split(tmp_path / "o", "train", "classification", cfg, training=False)
    np.testing.assert_array_equal(a.X, b.X)
    assert not np.allclose(a.X, c.X) and not np.allclose(a.X, plain.X)
    val = load_split(tmp_path / "o", "val", "classification", cfg)
    raw = np.loadtxt(root / "classes" / val.files[0], delimiter=",", skiprows=1)
    np.testing.assert_allclose(val.X[0, :, :, 0], raw[:16].T, rtol=1e-5)  # no gain outside training


def test_date_time_column_decimal_comma_and_header_detection(tmp_path):
    from tinyml_tinyverse.common.datasets import validate_data_config

    cfg = validate_data_config({})
    (tmp_path / "dates.csv").write_text("Timestamp,x,y\n2024-01-01 00:00:00,1.5,2\n2024-01-01 00:00:01,3,4\n")
    got = read_recording(tmp_path / "dates.csv", cfg, "classification")
    np.testing.assert_array_equal(got.x, [[1.5, 2], [3, 4]])
    (tmp_path / "eu.csv").write_text("zeit_s;wert\n0,0;1,25\n0,5;-2,5\n")
    eu = read_recording(
        tmp_path / "eu.csv", validate_data_config({"time_columns": ["zeit_s"]}), "classification"
    )
    np.testing.assert_array_equal(eu.x, [[1.25], [-2.5]])
    (tmp_path / "noheader.csv").write_text("1,2\n3,4\n")
    assert read_recording(tmp_path / "noheader.csv", cfg, "classification").x.shape == (2, 2)


def test_parse_errors_name_the_file_line(tmp_path):
    from tinyml_tinyverse.common.datasets import validate_data_config
    from tinyml_tinyverse.common.errors import DataError

    cfg = validate_data_config({})
    (tmp_path / "bad.csv").write_text("x,y\n1,2\n3,oops\n")
    with pytest.raises(
        DataError,
        match=r"bad\.csv: cannot read the numbers: line 3, column 2 \('y'\): 'oops' is not a number",
    ):
        read_recording(tmp_path / "bad.csv", cfg, "classification")
    (tmp_path / "ragged.csv").write_text("x,y\n1,2\n3,4\n5,6,7\n")
    with pytest.raises(DataError, match=r"ragged\.csv: cannot read the numbers: line 4 has 3 columns"):
        read_recording(tmp_path / "ragged.csv", cfg, "classification")


def test_val_cache_follows_the_train_statistics(tmp_path):
    root = make_classes(tmp_path / "d")
    cfg = {**CFG, "feat_ext_transform": ["STANDARDIZE"]}
    info = prepare_dataset(root, tmp_path / "o", "classification", data_config=cfg, plots=False)
    before = load_split(tmp_path / "o", "val", "classification", cfg)
    train_file = root / "classes" / info.splits["train"][0]
    data = np.loadtxt(train_file, delimiter=",", skiprows=1)
    write_csv(train_file, data * 10 + 5, ["ax", "ay"])  # only a train file changes
    after = load_split(tmp_path / "o", "val", "classification", cfg)
    assert not np.allclose(before.X, after.X)
    assert not np.allclose(before.stats["standardize_mean"], after.stats["standardize_mean"])


def test_dataset_stage_work_is_reused_by_training(tmp_path, monkeypatch):
    root = make_classes(tmp_path / "d")
    prepare_dataset(root, tmp_path / "o", "classification", data_config=CFG, plots=False)
    calls = []
    real = tsd.read_recording
    monkeypatch.setattr(tsd, "read_recording", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    for split in ("train", "val", "test"):  # what a trainer does, with its own seed
        load_split(tmp_path / "o", split, "classification", CFG, seed=17)
    assert calls == []


def test_sub_folders_in_class_folders_and_macos_litter(tmp_path):
    root = make_classes(tmp_path / "d")
    write_csv(root / "classes" / "a" / "subject7" / "deep.csv", rec(48, 99), ["ax", "ay"])
    (root / "classes" / "a" / "._a0.csv").write_bytes(b"\x00\x05\x16\x07 resource fork")
    (root / "classes" / ".DS_Store").write_bytes(b"\x00")
    (root / "__MACOSX").mkdir()
    info = prepare_dataset(root, tmp_path / "o", "classification", data_config=CFG, plots=False)
    used = sorted(sum(info.splits.values(), []))
    assert "a/subject7/deep.csv" in used and not any("._" in f for f in used)
    assert info.class_names == ["a", "b"]
    split = next(s for s in ("train", "val", "test") if "a/subject7/deep.csv" in info.splits[s])
    data = load_split(tmp_path / "o", split, "classification", CFG)
    i = data.files.index("a/subject7/deep.csv")
    assert set(data.y[data.file_ids == i].tolist()) == {0}
