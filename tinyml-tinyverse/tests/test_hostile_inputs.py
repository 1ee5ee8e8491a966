"""Hostile inputs at the library level (issue 10), each on real files: bounded YAML, zip bombs and lying
zip headers, links out of the data folder, non-regular files, class names C cannot hold as they are,
models far too large for the target, damaged checkpoints, two processes generating the same data.
The same inputs through the ``tinyml-modelmaker`` command: tinyml-modelmaker/tests/test_hostile_inputs.py."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import torch
import torch.nn as nn
from tinyml_tinyverse.common.augmenters import read_augmentation_config
from tinyml_tinyverse.common.compilation import compile_model
from tinyml_tinyverse.common.compilation.fit_check import check_model_fits, estimate_model_memory
from tinyml_tinyverse.common.datasets import InputLimits, prepare_dataset
from tinyml_tinyverse.common.datasets.generators import COMPLETE_MARKER, generate_dataset
from tinyml_tinyverse.common.datasets.safe_zip import safe_extract
from tinyml_tinyverse.common.errors import CompilationError, ConfigError, DataError, ModelError
from tinyml_tinyverse.common.model_aux import class_macros, model_aux_header
from tinyml_tinyverse.common.models.model_config import read_model_config
from tinyml_tinyverse.common.models.spec_yaml import read_spec_file
from tinyml_tinyverse.common.safe_yaml import SIZE_ENV, load_yaml_file
from tinyml_tinyverse.references.common import checkpoint


def write_recordings(root, classes=("a", "b"), files=3, n=96):
    for ci, label in enumerate(classes):
        for i in range(files):
            path = root / "classes" / label / f"r{i}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            x = np.sin(np.arange(n) * (0.2 + 0.3 * ci) + i)[:, None] * [1.0, 0.5]
            np.savetxt(path, x, delimiter=",", header="ax,ay", comments="", fmt="%.5f")
    return root


def prep(data, tmp_path, **kw):
    return prepare_dataset(
        data, tmp_path / "out", "classification", data_config={"frame_size": 16}, plots=False, **kw
    )


# -- YAML ------------------------------------------------------------------------------------------
def test_duplicate_keys_name_both_lines(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("training:\n  model_name: CLS_1k\n  epochs: 3\n  model_name: CLS_4k\n")
    with pytest.raises(
        ConfigError, match=r"c\.yaml: line 4: duplicate key 'model_name' \(first given at line 2\)"
    ):
        load_yaml_file(path)
    path.write_text("training:\n  a: 1\ndataset:\n  b: 2\ntraining:\n  c: 3\n")
    with pytest.raises(
        ConfigError, match=r"line 5: duplicate key 'training' \(first given at line 1\).*merge"
    ):
        load_yaml_file(path)
    path.write_text("base: &b {x: 1, y: 2}\nd:\n  <<: *b\n  x: 3\n")  # a merge key is meant to be overridden
    assert load_yaml_file(path)["d"] == {"x": 3, "y": 2}


def test_nesting_aliases_size_encoding_and_devices_are_bounded(tmp_path, monkeypatch):
    path = tmp_path / "c.yaml"
    path.write_text("a: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError, match=r"c\.yaml: line 1: values are nested more than 100 deep"):
        load_yaml_file(path)
    bomb = "".join(
        f"a{i}: &a{i} [" + ", ".join(["x"] * 10 if i == 0 else [f"*a{i - 1}"] * 10) + "]\n" for i in range(9)
    )
    path.write_text(bomb)  # 10**9 values once expanded
    with pytest.raises(ConfigError, match=r"aliases \(\*name\) expand to more than 1000000 values"):
        load_yaml_file(path)
    path.write_bytes(b"common:\n  task: caf\xe9\n")
    with pytest.raises(ConfigError, match=r"c\.yaml: line 2, column 12: byte 0xe9 is not UTF-8"):
        load_yaml_file(path)
    path.write_text("a: '" + "x" * (2 << 20) + "'\n")
    with pytest.raises(ConfigError, match=rf"2\.1 MB is above the 1\.0 MB limit.*{SIZE_ENV}"):
        load_yaml_file(path)
    monkeypatch.setenv(SIZE_ENV, "3")
    assert len(load_yaml_file(path)["a"]) == 2 << 20
    with pytest.raises(ConfigError, match="/dev/zero: is a device, pipe or socket, not a regular file"):
        load_yaml_file("/dev/zero")


def test_every_user_yaml_goes_through_the_bounded_loader(tmp_path):
    """model_config, spec and augmentation files get the same errors as the project YAML."""
    path = tmp_path / "m.yaml"
    path.write_text("variables: 2\nvariables: 3\n")
    with pytest.raises(ModelError, match=r"model_config file .*m\.yaml: line 2: duplicate key 'variables'"):
        read_model_config(path)
    path.write_text("model_spec:\n  conv: {type: ConvLayer}\n  conv: {type: ReLULayer}\n")
    with pytest.raises(ModelError, match=r"spec file .*m\.yaml: line 3: duplicate key 'conv'"):
        read_spec_file(path)
    path.write_text("AddNoise: " + "{a: " * 200 + "1" + "}" * 200 + "\n")
    with pytest.raises(ConfigError, match=r"augmentation file .*m\.yaml: line 1: values are nested"):
        read_augmentation_config(str(path))


# -- zip files -------------------------------------------------------------------------------------
def zip_folder(path, folder, extra=()):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(folder.rglob("*.csv")):
            zf.write(p, p.relative_to(folder.parent).as_posix())
        for name, data in extra:
            zf.writestr(name, data)
    return path


def test_zip_bomb_is_refused_from_the_directory(tmp_path):
    data = write_recordings(tmp_path / "data")
    bomb = zip_folder(tmp_path / "bomb.zip", data, extra=[("data/classes/a/huge.csv", b"0" * (64 << 20))])
    with pytest.raises(
        DataError,
        match=r"bomb\.zip: member .*huge\.csv.*ratio \d+ above the limit 200.*dataset\.max_compression_ratio",
    ):
        safe_extract(bomb, tmp_path / "x")
    assert not (tmp_path / "x").exists() and not (tmp_path / "x.tmp").exists()  # nothing was written
    with pytest.raises(DataError, match=r"more than 10\.0 MB \(limit dataset\.max_extract_mb\)"):
        safe_extract(bomb, tmp_path / "x", max_extract_mb=10, max_compression_ratio=1e6)
    out = safe_extract(
        bomb, tmp_path / "x", max_compression_ratio=1e6
    )  # a genuine archive: the keys raise it
    assert (out / "data" / "classes" / "a" / "huge.csv").stat().st_size == 64 << 20


def test_zip_member_bigger_than_its_header_is_refused(tmp_path):
    data = write_recordings(tmp_path / "data")
    body = b"1,2\n" * (1 << 20)
    path = zip_folder(tmp_path / "liar.zip", data, extra=[("data/classes/a/big.csv", body)])
    raw = bytearray(path.read_bytes())
    true_size = len(body).to_bytes(4, "little")
    for sig, offset, name_at in ((b"PK\x03\x04", 22, 30), (b"PK\x01\x02", 24, 46)):  # local header, directory
        start = 0
        while (i := raw.find(sig, start)) >= 0:
            start = i + 4
            if raw[i + name_at : i + name_at + 22] == b"data/classes/a/big.csv":
                assert raw[i + offset : i + offset + 4] == true_size
                raw[i + offset : i + offset + 4] = (1000).to_bytes(4, "little")  # claims 1000 bytes
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"liar\.zip: cannot extract it .*big\.csv.*damaged"):
        prep(path, tmp_path)
    assert not (tmp_path / "out" / "extracted").exists() and not (tmp_path / "out" / "extracted.tmp").exists()


# -- data folders ----------------------------------------------------------------------------------
def test_link_out_of_the_data_folder_is_refused_before_reading(tmp_path):
    data = write_recordings(tmp_path / "data")
    (tmp_path / "secret.csv").write_text("SECRET-line,1\nSECRET-2,2\n")
    os.symlink(tmp_path / "secret.csv", data / "classes" / "a" / "stolen.csv")
    with pytest.raises(
        DataError, match=r"stolen\.csv: a symbolic link that leads out of the data folder"
    ) as err:
        prep(data, tmp_path)
    assert "SECRET" not in str(err.value) and "dataset.allow_outside_links" in str(err.value)
    (data / "classes" / "a" / "stolen.csv").unlink()
    os.symlink(data / "classes" / "b" / "r0.csv", data / "classes" / "a" / "inside.csv")  # inside: fine
    assert "a/inside.csv" in sum(prep(data, tmp_path).splits.values(), [])


def test_a_link_out_is_followed_when_allowed(tmp_path):
    data = write_recordings(tmp_path / "data")
    write_recordings(tmp_path / "shared", classes=("c",))
    os.symlink(tmp_path / "shared" / "classes" / "c", data / "classes" / "c")
    with pytest.raises(DataError, match="leads out of the data folder"):
        prep(data, tmp_path)
    info = prep(data, tmp_path, limits=InputLimits(allow_outside_links=True))
    assert info.class_names == ["a", "b", "c"]


def test_device_pipe_case_and_line_break_names(tmp_path):
    with pytest.raises(DataError, match="'/dev/zero' is a device, pipe or socket"):
        prep("/dev/zero", tmp_path)
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(DataError, match="fifo' is a device, pipe or socket"):
        prep(tmp_path / "fifo", tmp_path)
    data = write_recordings(tmp_path / "d1", classes=("Normal", "normal", "fault"))
    with pytest.raises(DataError, match="class folders 'Normal' and 'normal' differ only in case"):
        prep(data, tmp_path)
    data = write_recordings(tmp_path / "d2", classes=("new\nline", "other"))
    with pytest.raises(DataError, match=r"'new\\nline/r0\.csv' holds a line break"):
        prep(data, tmp_path)
    data = write_recordings(tmp_path / "d3", classes=("back\\slash", "other"))  # a legal name on Linux
    assert prep(data, tmp_path).class_names == ["back\\slash", "other"]


# -- generated C -----------------------------------------------------------------------------------
HOSTILE_NAMES = ["new\nline", 'quote"s', "back\\slash", "tri??=graph", "names", "1st-class", "ünï", "tab\there",
                 "中文", "???", "a", "A", "a_1", "*/ /*", "%s%n", "bad\udcff"]  # fmt: skip


def test_class_names_are_escaped_for_c_completely(tmp_path):
    (tmp_path / "model_aux.h").write_text(model_aux_header(HOSTILE_NAMES, task="classification"))
    macros = class_macros(HOSTILE_NAMES)
    (tmp_path / "main.c").write_text(
        '#include <stdio.h>\n#include "model_aux.h"\n'
        "static const char *const names[TINYML_MODEL_NUM_CLASSES] = TINYML_MODEL_CLASS_NAMES;\n"
        "static const int index_of[] = {" + ", ".join(f"TINYML_MODEL_CLASS_{m}" for m in macros) + "};\n"
        'int main(void) { int i; for (i = 0; i < TINYML_MODEL_NUM_CLASSES; i++) printf("%d:%s|", index_of[i], '
        "names[i]); return 0; }\n"
    )
    for cc in ("gcc", "clang"):
        build = subprocess.run(
            [cc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-Wtrigraphs", "main.c", "-o", "main"],
            cwd=tmp_path, capture_output=True, text=True,
        )  # fmt: skip
        assert build.returncode == 0, build.stderr
        out = subprocess.run([str(tmp_path / "main")], capture_output=True).stdout
        want = b"".join(
            f"{i}:".encode() + n.encode("utf-8", "surrogateescape") + b"|"
            for i, n in enumerate(HOSTILE_NAMES)
        )
        assert out == want
    assert len(set(macros)) == len(macros) and "NAMES" not in macros  # TINYML_MODEL_CLASS_NAMES is taken
    assert all(m.replace("_", "").isalnum() and m.isascii() for m in macros)


# -- models that cannot fit ------------------------------------------------------------------------
def onnx_of(model, shape, path):
    torch.onnx.export(model.eval(), (torch.randn(1, *shape),), str(path), dynamo=False, opset_version=13)
    return path


def huge_onnx(path, input_shape, weights_out=None):
    """Flatten -> Gemm (``weights_out`` columns) or GlobalAveragePool -> Flatten -> Gemm, built directly."""
    from onnx import TensorProto, helper

    feat = int(np.prod(input_shape[1:])) if weights_out else input_shape[1]
    out = weights_out or 2
    w = helper.make_tensor(
        "W", TensorProto.FLOAT, [feat, out], np.zeros(feat * out, np.float32).tobytes(), raw=True
    )
    nodes = [] if weights_out else [helper.make_node("GlobalAveragePool", ["x"], ["p"])]
    nodes += [
        helper.make_node("Flatten", ["x" if weights_out else "p"], ["f"]),
        helper.make_node("Gemm", ["f", "W"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, input_shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, out])], [w],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    path.write_bytes(model.SerializeToString())
    return path


@pytest.mark.parametrize(
    "shape, weights_out, what",
    [([1, 1, 64, 1], 100_000, r"flash: its 6,400,000 weights need at least 25600000 bytes"),
     ([1, 3, 100_000, 1000], None, r"RAM: .* need at least 1200000020 bytes"),
     ([1, 1, 2**31, 1], None, r"RAM: .* need at least 8589934604 bytes")],
    ids=["25MB-weights", "input-1x3x100000x1000", "dim-2^31"],
)  # fmt: skip
def test_model_far_too_large_is_refused_before_test_vectors_or_c(tmp_path, shape, weights_out, what):
    path = huge_onnx(tmp_path / "big.onnx", shape, weights_out)
    with pytest.raises(
        CompilationError, match=rf"big\.onnx does not fit CORTEX_M4F; refused before .*{what}"
    ):
        compile_model(path, tmp_path / "out", target_device="CORTEX_M4F")
    assert not (tmp_path / "out").exists()  # no test vectors, no C, nothing written


class TwoBranches(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Conv2d(2, 8, (3, 1), padding=(1, 0)), nn.Conv2d(2, 8, (1, 1))
        self.bn, self.fc = nn.BatchNorm2d(8), nn.Linear(8 * 16, 3)

    def forward(self, x):
        h = torch.relu(self.bn(self.a(x))) + self.b(x)
        return self.fc(nn.functional.max_pool2d(h, (2, 1)).flatten(1))


@pytest.mark.parametrize("quantized", [False, True], ids=["float", "int8"])
def test_early_estimate_is_a_lower_bound_of_the_measured_memory(tmp_path, quantized):
    """The early check may only refuse what the build would refuse: its figures never exceed the report's."""
    path = onnx_of(TwoBranches(), (2, 32, 1), tmp_path / "m.onnx")
    calib = np.random.default_rng(0).standard_normal((16, 2, 32, 1)).astype(np.float32) if quantized else None
    report = compile_model(path, tmp_path / "out", target_device="CORTEX_M7", calib_x=calib)
    import onnx

    est = estimate_model_memory(onnx.load(path), int8=quantized)
    memory = report.memory
    assert est.precision == report.precision
    assert 0 < est.weights_bytes <= memory["flash"]["weights_bytes"]
    assert 0 < est.ram_bytes <= memory["ram"]["total_bytes"]
    assert est.largest_tensor_bytes <= memory["ram"]["arena_bytes"]
    assert check_model_fits(path, "CORTEX_M7", calibrated=quantized) == est


# -- checkpoints -----------------------------------------------------------------------------------
def test_damaged_checkpoint_is_named_with_what_is_wrong(tmp_path):
    path = tmp_path / "checkpoint.pt"
    buf = io.BytesIO()
    torch.save({"model": {"w": torch.zeros(1000)}, "epoch": 3}, buf)
    for content, why in [
        (buf.getvalue()[: len(buf.getvalue()) // 2], "truncated or damaged"),
        (np.random.default_rng(0).bytes(5000), "not a checkpoint of this toolchain"),
        (b"", r"empty \(0 bytes\)"),
    ]:
        path.write_bytes(content)
        with pytest.raises(
            ConfigError, match=rf"cannot read checkpoint .*checkpoint\.pt: it is {why}.*delete it"
        ):
            checkpoint.load(path)
    path.write_bytes(buf.getvalue())
    assert checkpoint.load(path)["epoch"] == 3


# -- generated data --------------------------------------------------------------------------------
def test_two_processes_generate_the_same_data_at_once(tmp_path):
    out = tmp_path / "generated"
    code = (
        "import sys; from tinyml_tinyverse.common.datasets.generators import generate_dataset; "
        "generate_dataset('motor_fault', sys.argv[1], files_per_class=6, length=4096)"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(out)], stderr=subprocess.PIPE) for _ in range(2)
    ]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()
    assert (out / COMPLETE_MARKER).is_file()
    assert len(list(out.rglob("*.csv"))) == 24 and not list(out.rglob("*.tmp"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["generated"]  # no temporary folder left


def test_an_unfinished_generated_folder_is_replaced(tmp_path):
    out = tmp_path / "generated"
    (out / "classes" / "normal").mkdir(parents=True)
    (out / "classes" / "normal" / "half.csv.tmp").write_text("1,2\n")  # an interrupted older generation
    generate_dataset("anomaly", out, files_per_class=3, length=2048)
    assert (out / COMPLETE_MARKER).is_file() and not list(out.rglob("*.tmp"))
