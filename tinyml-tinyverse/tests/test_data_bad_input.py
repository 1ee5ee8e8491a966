"""Each bad-input case of the issue gets a TinyMLError naming the file (and row / column / key)."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
from tinyml_tinyverse.common.datasets import load_split, prepare_dataset
from tinyml_tinyverse.common.errors import ConfigError, DataError


def write_csv(path, rows, header="time,ax,ay"):
    path.parent.mkdir(parents=True, exist_ok=True)
    body = "\n".join(",".join(str(v) for v in r) for r in rows)
    path.write_text((header + "\n" if header else "") + body + "\n")


def signal_rows(n=64, seed=0, cols=2):
    rng = np.random.default_rng(seed)
    return [[i / 100] + list(np.round(rng.normal(size=cols), 4)) for i in range(n)]


def make_classes(root, classes=("a", "b"), files=3, n=64, cols=2):
    for c in classes:
        for i in range(files):
            write_csv(root / "classes" / c / f"r{i}.csv", signal_rows(n, hash((c, i)) % 1000, cols))
    return root


CFG = {"frame_size": 16}


def prep(root, tmp_path, task="classification", cfg=CFG, **kw):
    return prepare_dataset(root, tmp_path / "out", task, data_config=cfg, plots=False, **kw)


def test_unparsable_value_names_file_and_row(tmp_path):
    root = make_classes(tmp_path / "d")
    bad = root / "classes" / "a" / "r1.csv"
    lines = bad.read_text().splitlines()
    lines[5] = "0.04,abc,1.0"
    bad.write_text("\n".join(lines))
    with pytest.raises(DataError, match=r"r1\.csv.*'abc'"):
        prep(root, tmp_path)


def test_ragged_csv(tmp_path):
    root = make_classes(tmp_path / "d")
    bad = root / "classes" / "b" / "r0.csv"
    bad.write_text(bad.read_text() + "1.0,2.0\n")
    with pytest.raises(DataError, match=r"b/r0\.csv.*number of columns"):
        prep(root, tmp_path)


def test_column_count_differs_between_files(tmp_path):
    root = make_classes(tmp_path / "d")
    write_csv(root / "classes" / "b" / "r9.csv", signal_rows(64, 1, cols=3), header="time,ax,ay,az")
    with pytest.raises(DataError, match=r"r9\.csv: has 4 columns but .* has 3"):
        prep(root, tmp_path)


def test_nan_policies(tmp_path):
    root = make_classes(tmp_path / "d")
    bad = root / "classes" / "a" / "r2.csv"
    lines = bad.read_text().splitlines()
    lines[3] = "0.02,nan,0.5"  # data row 3 = file line 4
    lines[4] = "0.03,inf,0.7"
    bad.write_text("\n".join(lines))
    with pytest.raises(
        DataError, match=r"r2\.csv: NaN/Inf value at line 4, ax \(2 rows affected\).*nan_policy"
    ):
        prep(root, tmp_path)
    info = prep(root, tmp_path, cfg={**CFG, "nan_policy": "interpolate"})
    summary = (tmp_path / "out" / "dataset_summary.yaml").read_text()
    assert "a/r2.csv: 2" in summary
    split = next(s for s in ("train", "val", "test") if "a/r2.csv" in info.splits[s])
    data = load_split(tmp_path / "out", split, "classification", {**CFG, "nan_policy": "interpolate"})
    x = data.X[data.file_ids == data.files.index("a/r2.csv")][0, 0, :, 0]
    ax = [float(line.split(",")[1]) for line in lines[1:]]
    np.testing.assert_allclose(
        x[1:4], [ax[1], ax[1] + (ax[4] - ax[1]) / 3, ax[1] + 2 * (ax[4] - ax[1]) / 3], rtol=1e-5
    )
    prep(root, tmp_path, cfg={**CFG, "nan_policy": "drop"})
    assert "a/r2.csv: 2" in (tmp_path / "out" / "dataset_summary.yaml").read_text()


def test_empty_class_folder_and_single_class(tmp_path):
    root = make_classes(tmp_path / "d")
    (root / "classes" / "c").mkdir()
    with pytest.raises(DataError, match=r"classes/c: the class folder 'c' holds no"):
        prep(root, tmp_path)
    one = make_classes(tmp_path / "one", classes=("a",))
    with pytest.raises(DataError, match="at least two class folders"):
        prep(one, tmp_path)


def test_short_recording(tmp_path):
    root = make_classes(tmp_path / "d")
    write_csv(root / "classes" / "a" / "short.csv", signal_rows(10))
    with pytest.raises(DataError, match=r"short\.csv: too short: it has 10 samples but one example needs 16"):
        prep(root, tmp_path)


def test_split_factor_and_split_type(tmp_path):
    root = make_classes(tmp_path / "d")
    with pytest.raises(ConfigError, match="sums to 1.1"):
        prep(root, tmp_path, split_factor=(0.6, 0.3, 0.2))
    with pytest.raises(ConfigError, match="split_type"):
        prep(root, tmp_path, split_type="random")


def test_unknown_transform_via_prepare(tmp_path):
    root = make_classes(tmp_path / "d")
    with pytest.raises(ConfigError, match="did you mean 'WINDOWING'"):
        prep(root, tmp_path, cfg={"feat_ext_transform": ["WINDOWNG"]})


def test_missing_variable_column(tmp_path):
    root = make_classes(tmp_path / "d")
    with pytest.raises(
        DataError, match=r"r0\.csv: variables names column 'az' which does not exist; columns are"
    ):
        prep(root, tmp_path, cfg={**CFG, "variables": ["ax", "az"]})
    with pytest.raises(DataError, match="variables=5 but the file has only 2 data columns"):
        prep(root, tmp_path, cfg={**CFG, "variables": 5})
    with pytest.raises(DataError, match="asks for column 7"):
        prep(root, tmp_path, cfg={**CFG, "variables": [7]})


def test_empty_and_header_only_files(tmp_path):
    root = make_classes(tmp_path / "d")
    (root / "classes" / "a" / "r0.csv").write_text("")
    with pytest.raises(DataError, match=r"r0\.csv: the file is empty"):
        prep(root, tmp_path)
    (root / "classes" / "a" / "r0.csv").write_text("time,ax,ay\n")
    with pytest.raises(DataError, match=r"r0\.csv: the file has a header but no data rows"):
        prep(root, tmp_path)


def test_anomaly_needs_normal_and_layout_mismatch(tmp_path):
    root = make_classes(tmp_path / "d", classes=("good", "bad"))
    with pytest.raises(DataError, match="classes/Normal/"):
        prep(root, tmp_path, task="anomalydetection")
    with pytest.raises(DataError, match="files/"):
        prep(root, tmp_path, task="regression")
    with pytest.raises(DataError, match="does not exist"):
        prep(tmp_path / "nowhere", tmp_path)


def test_zip_with_path_traversal_is_refused(tmp_path):
    z = tmp_path / "evil.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("classes/a/r0.csv", "1,2\n")
        zf.writestr("../../escaped.csv", "1,2\n")
    with pytest.raises(DataError, match=r"evil\.zip: member '\.\./\.\./escaped\.csv' points outside"):
        prep(z, tmp_path)
    assert not (tmp_path / "escaped.csv").exists() and not (tmp_path.parent / "escaped.csv").exists()


def test_zip_with_symlink_is_refused(tmp_path):
    z = tmp_path / "link.zip"
    with zipfile.ZipFile(z, "w") as zf:
        info = zipfile.ZipInfo("classes/a/r0.csv")
        info.external_attr = 0o120777 << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(DataError, match="symbolic link"):
        prep(z, tmp_path)


def test_bad_annotation_list(tmp_path):
    root = make_classes(tmp_path / "d")
    (root / "annotations").mkdir()
    (root / "annotations" / "instances_train_list.txt").write_text("a/r0.csv\na/missing.csv\n")
    with pytest.raises(DataError, match=r"instances_train_list\.txt:2: 'a/missing\.csv' does not exist"):
        prep(root, tmp_path)


def test_pickle_with_code_is_refused(tmp_path):
    import os
    import pickle

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    root = make_classes(tmp_path / "d")
    (root / "classes" / "a" / "evil.pkl").write_bytes(pickle.dumps(Evil()))
    with pytest.raises(
        DataError, match=r"evil\.pkl: cannot load the pickle .*posix.system|evil\.pkl: cannot load"
    ):
        prep(root, tmp_path)


def test_output_dir_inside_the_data_folder_is_refused(tmp_path):
    root = make_classes(tmp_path / "d")
    for out in (root, root / "classes" / "run"):
        with pytest.raises(ConfigError, match="nothing is written into the data you bring"):
            prepare_dataset(root, out, "classification", data_config=CFG, plots=False)
    assert not (root / "annotations").exists() and not (root / "classes" / "run").exists()


def test_a_failed_preparation_does_not_look_prepared(tmp_path):
    root = make_classes(tmp_path / "d")
    cfg = {
        **CFG,
        "data_proc_transforms": ["SimpleWindow", "GainVariation"],
        "gain_variations": {"zz": [1, 2]},
    }
    with pytest.raises(ConfigError, match="gain_variations names classes"):
        prep(root, tmp_path, cfg=cfg)  # fails while processing the splits, after the checks
    assert not (tmp_path / "out" / "dataset_info.yaml").exists()


def test_loading_with_a_larger_frame_than_prepared(tmp_path):
    root = make_classes(tmp_path / "d", n=64)
    prep(root, tmp_path)
    with pytest.raises(DataError, match="no recording of the train split is long enough.*frame_size=128"):
        load_split(tmp_path / "out", "train", "classification", {"frame_size": 128})
