"""UCR / UEA converter: .ts and .arff, univariate and multivariate, TRAIN/TEST kept as lists."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from tinyml_tinyverse.common.datasets import load_split, prepare_dataset
from tinyml_tinyverse.common.datasets.ucr_converter import convert_ucr, read_arff, read_ts, ts_label_kind
from tinyml_tinyverse.common.errors import DataError

TS_UNI = """# a comment
@problemName Tiny
@timeStamps false
@missing true
@univariate true
@equalLength true
@seriesLength 6
@classLabel true up down
@data
1,2,3,4,5,6:up
6,5,4,3,?,1:down
2,3,4,5,6,7:up
"""

TS_MULTI = """@problemName TinyMV
@timeStamps false
@univariate false
@dimensions 2
@classLabel true a b
@data
1,2,3,4:10,20,30,40:a
4,3,2,1:40,30,20,10:b
"""

ARFF_UNI = """% UCR style
@relation Tiny
@attribute att1 numeric
@attribute att2 numeric
@attribute att3 numeric
@attribute att4 numeric
@attribute target {1,2}
@data
0.1,0.2,0.3,0.4,1
0.4,0.3,0.2,0.1,2
"""

ARFF_MULTI = """@relation TinyMV
@attribute relationalAtt relational
@attribute t1 numeric
@attribute t2 numeric
@attribute t3 numeric
@end relationalAtt
@attribute classAttribute {cw,ccw}
@data
'1,2,3\\n4,5,6',cw
"7,8,9\\n1,1,1",ccw
"""


def test_readers_parse_every_variant(tmp_path):
    (tmp_path / "u.ts").write_text(TS_UNI)
    (tmp_path / "m.ts").write_text(TS_MULTI)
    (tmp_path / "u.arff").write_text(ARFF_UNI)
    (tmp_path / "m.arff").write_text(ARFF_MULTI)
    u = read_ts(tmp_path / "u.ts")
    assert [c[1] for c in u] == ["up", "down", "up"] and u[0][0].shape == (6, 1)
    assert np.isnan(u[1][0][4, 0]) and u[1][0][5, 0] == 1
    m = read_ts(tmp_path / "m.ts")
    np.testing.assert_array_equal(m[1][0], [[4, 40], [3, 30], [2, 20], [1, 10]])
    ua = read_arff(tmp_path / "u.arff")
    assert [c[1] for c in ua] == ["1", "2"] and ua[1][0][:, 0].tolist() == [0.4, 0.3, 0.2, 0.1]
    ma = read_arff(tmp_path / "m.arff")
    assert [c[1] for c in ma] == ["cw", "ccw"]
    np.testing.assert_array_equal(ma[0][0], [[1, 4], [2, 5], [3, 6]])


def test_convert_folder_keeps_train_test_and_prepares(tmp_path):
    src = tmp_path / "Tiny"
    src.mkdir()
    rng = np.random.default_rng(0)
    for split, n in (("TRAIN", 6), ("TEST", 4)):
        rows = []
        for i in range(n):
            label = "up" if i % 2 else "down"
            vals = np.cumsum(rng.normal(size=40)) * (1 if label == "up" else -1)
            dim2 = rng.normal(size=40)
            rows.append(
                ",".join(f"{v:.4f}" for v in vals) + ":" + ",".join(f"{v:.4f}" for v in dim2) + f":{label}"
            )
        (src / f"Tiny_{split}.ts").write_text("@classLabel true up down\n@data\n" + "\n".join(rows) + "\n")
    out = tmp_path / "converted"
    proc = subprocess.run(
        [sys.executable, "-m", "tinyml_tinyverse.common.datasets.ucr_converter", str(src), str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "wrote" in proc.stdout
    train = (out / "annotations" / "instances_train_list.txt").read_text().split()
    test = (out / "annotations" / "instances_test_list.txt").read_text().split()
    assert len(train) == 6 and len(test) == 4 and not set(train) & set(test)
    first = np.loadtxt(out / "classes" / train[0], delimiter=",", skiprows=1)
    assert first.shape == (40, 2)
    cfg = {"frame_size": 40}
    info = prepare_dataset(out, tmp_path / "ds", "classification", data_config=cfg, plots=False)
    assert sorted(info.splits["test"]) == sorted(test)
    assert len(info.splits["val"]) == 2 and sorted(info.splits["train"] + info.splits["val"]) == sorted(train)
    data = load_split(tmp_path / "ds", "test", "classification", cfg)
    assert data.X.shape == (4, 2, 40, 1) and data.class_names == ["down", "up"]


def test_single_arff_file_finds_its_sibling_and_refuses_overwrite(tmp_path):
    (tmp_path / "Tiny_TRAIN.arff").write_text(ARFF_MULTI)
    (tmp_path / "Tiny_TEST.arff").write_text(ARFF_MULTI)
    convert_ucr(tmp_path / "Tiny_TEST.arff", tmp_path / "o")
    assert (tmp_path / "o" / "annotations" / "instances_train_list.txt").read_text().split() == [
        "cw/Tiny_train_00000.csv",
        "ccw/Tiny_train_00001.csv",
    ]
    with pytest.raises(DataError, match="already holds data"):
        convert_ucr(tmp_path / "Tiny_TEST.arff", tmp_path / "o")


def test_bad_files(tmp_path):
    (tmp_path / "x.ts").write_text("@timeStamps true\n@data\n(1,2):a\n")
    with pytest.raises(DataError, match="time stamps"):
        read_ts(tmp_path / "x.ts")
    (tmp_path / "y.ts").write_text("@classLabel true a\n@data\n1,2,x:a\n")
    with pytest.raises(DataError, match=r"y\.ts:3"):
        read_ts(tmp_path / "y.ts")
    (tmp_path / "z.ts").write_text("@classLabel true a\n@data\n1,2,3:1,2:a\n")
    with pytest.raises(DataError, match="different lengths"):
        read_ts(tmp_path / "z.ts")
    with pytest.raises(DataError, match="no such file"):
        convert_ucr(tmp_path / "missing.ts", tmp_path / "o")


def test_folder_with_two_problems_is_refused_not_mixed(tmp_path):
    src = tmp_path / "ucr"
    src.mkdir()
    (src / "Toy_TRAIN.ts").write_text(TS_UNI)
    (src / "Toy_TEST.ts").write_text(TS_UNI)
    (src / "Uni_TRAIN.arff").write_text(ARFF_UNI)  # used to be ignored without a word
    with pytest.raises(DataError, match=r"holds 2 problems \(Toy, Uni\).*Give one file"):
        convert_ucr(src, tmp_path / "o")
    (src / "Uni_TRAIN.arff").unlink()
    (src / "Toy_TEST.arff").write_text(ARFF_UNI)  # the same problem in both formats: .ts is read
    convert_ucr(src, tmp_path / "o")
    assert (tmp_path / "o" / "annotations" / "instances_test_list.txt").is_file()


TS_REGRESSION = """% a comment line as aeon's files have them
@problemName TinyReg
@univariate false
@equalLength true
@seriesLength {length}
@targetLabel true
@data
{rows}
"""


def _regression_ts(path, n: int, length: int, rng) -> np.ndarray:
    """``n`` two-dimension series whose target is the mean of the first dimension."""
    rows, targets = [], []
    for _ in range(n):
        a, b = rng.normal(size=length), rng.normal(size=length)
        targets.append(float(a.mean()))
        rows.append(f"{','.join(f'{v:.5f}' for v in a)}:{','.join(f'{v:.5f}' for v in b)}:{targets[-1]:.6f}")
    path.write_text(TS_REGRESSION.format(length=length, rows="\n".join(rows)))
    return np.array(targets)


def test_regression_ts_goes_to_the_files_layout_with_its_target(tmp_path):
    """A TSER file (@targetLabel true): files/*.csv with the series' target in a last column; prepared
    with the frame size taken from the fixed series length, one window and one target per series."""
    rng = np.random.default_rng(1)
    targets = _regression_ts(tmp_path / "TinyReg_TRAIN.ts", 8, 12, rng)
    _regression_ts(tmp_path / "TinyReg_TEST.ts", 3, 12, rng)
    assert ts_label_kind(tmp_path / "TinyReg_TRAIN.ts") == "target"
    out = convert_ucr(tmp_path / "TinyReg_TRAIN.ts", tmp_path / "o")
    train = (out / "annotations" / "instances_train_list.txt").read_text().split()
    assert train[0] == "TinyReg_train_00000.csv" and not (out / "classes").exists()
    first = np.genfromtxt(out / "files" / train[0], delimiter=",", names=True)
    assert first.dtype.names == ("dim_0", "dim_1", "target") and len(first) == 12
    assert np.allclose(first["target"], targets[0], atol=1e-6)
    info = prepare_dataset(out, tmp_path / "ds", "regression", plots=False)
    assert info.inferred["frame_size"] == 12 and info.target_columns == ["target"]
    test = load_split(tmp_path / "ds", "test", "regression", {})
    assert test.X.shape == (3, 2, 12, 1) and test.y.shape == (3, 1)
