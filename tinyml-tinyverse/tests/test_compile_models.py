"""compile_model end to end: generated C built with gcc, run over test vectors, bit-exact vs the reference."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from tinyml_tinyverse.common.compilation import CompileReport, compile_model, toolchain
from tinyml_tinyverse.common.errors import CompilationError
from tinyml_tinyverse.common.quantization import QuantizedGraph, quantize_onnx


class NpuClassifier(nn.Module):
    """Follows the NPU rules: 1 input channel first, channels in multiples of 4, >= 16 linear inputs."""

    def __init__(self, classes=3):
        super().__init__()
        self.c1 = nn.Conv2d(1, 4, (5, 1), padding=(2, 0))
        self.bn = nn.BatchNorm2d(4)
        self.c2 = nn.Conv2d(4, 8, (3, 1), stride=(2, 1), padding=(1, 0))
        self.fc = nn.Linear(8 * 8, classes)

    def forward(self, x):
        x = F.relu(self.bn(self.c1(x)))
        x = F.max_pool2d(F.relu(self.c2(x)), (2, 1))
        return self.fc(x.flatten(1))


class Regressor(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(3, 8, (3, 1), padding=(1, 0))
        self.fc = nn.Linear(8, 2)

    def forward(self, x):
        h = F.avg_pool2d(F.relu(self.c(x)), (2, 1))
        return self.fc(F.adaptive_avg_pool2d(h, 1).flatten(1))


class AutoEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Conv2d(3, 8, (3, 1), stride=(2, 1), padding=(1, 0))
        self.dw = nn.Conv2d(8, 8, (3, 1), padding=(1, 0), groups=8)
        self.dec = nn.ConvTranspose2d(8, 4, (2, 1), stride=(2, 1))
        self.out = nn.Conv2d(4, 3, (1, 1))

    def forward(self, x):
        h = torch.tanh(self.dw(F.relu(self.enc(x))))
        h = F.interpolate(F.max_pool2d(h, (2, 1)), scale_factor=(2, 1), mode="nearest")
        return torch.sigmoid(self.out(F.relu(self.dec(h)))) * 2.0 - 1.0


class Forecaster(nn.Module):
    def __init__(self, horizon=4, variables=2):
        super().__init__()
        self.h, self.v = horizon, variables
        self.c = nn.Conv2d(variables, 4, (3, 1), padding=(1, 0))
        self.fc = nn.Linear(4 * 16, horizon * variables)
        self.mix = nn.Linear(variables, variables)

    def forward(self, x):
        h = self.fc(F.relu(self.c(x)).flatten(1)).view(-1, self.h, self.v)
        return self.mix(h)


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(2, 8, (3, 1), padding=(1, 0))
        self.b = nn.Conv2d(8, 8, (3, 1), padding=(1, 0))
        self.fc = nn.Linear(16, 4)

    def forward(self, x):
        h = F.relu(self.a(x))
        h = F.relu(self.b(h) + h)
        g = torch.cat([h, torch.sigmoid(h) - 0.5], 1).mean(dim=(2, 3))
        return torch.softmax(self.fc(g), -1)


def export(model: nn.Module, shape, path, dynamo=False, opset=13) -> str:
    torch.manual_seed(0)
    model.eval()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    kwargs = {} if dynamo else dict(opset_version=opset)
    torch.onnx.export(model, (torch.randn((1, *shape)),), str(path), dynamo=dynamo, **kwargs)
    return str(path)


def data(shape, n=96, seed=0):
    return np.random.default_rng(seed).standard_normal((n, *shape)).astype(np.float32)


@pytest.fixture(scope="module")
def npu_model(tmp_path_factory):
    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("npu")
    return export(NpuClassifier(), (1, 32, 1), d / "npu_cls.onnx", dynamo=True)


def test_npu_classifier_int8_on_f28p55(npu_model, tmp_path):
    x = data((1, 32, 1))
    y = np.arange(len(x)) % 3
    raw = x[:, 0, :, 0] * 10.0
    report = compile_model(
        npu_model, tmp_path, target_device="F28P55", calib_x=x, test_vectors=dict(raw=raw, x=x, y=y),
        class_names=["normal", "fault a", "fault b"], data_config=dict(variables=1, frame_size=32),
    )  # fmt: skip
    assert isinstance(report, CompileReport)
    assert report.passed and report.precision == "int8" and report.max_abs_diff == 0
    assert report.npu_check == "passed"
    assert report.num_vectors == 12  # four per class
    art = tmp_path / "artifacts"
    assert report.artifacts_dir == art and not (tmp_path / "artifacts.partial").exists()
    for name in (
        "tinyml_model.h",
        "tinyml_model.c",
        "test_vector.c",
        "main.c",
        "model_aux.h",
        "user_input_config.h",
    ):
        assert (art / name).is_file(), name
    header = (art / "tinyml_model.h").read_text()
    assert "int tinyml_model_run(const int8_t *in, int8_t *out);" in header
    assert "int tinyml_model_run_float(const float *in, float *out);" in header
    assert "#define TINYML_MODEL_INPUT_SHAPE {1, 1, 32, 1}" in header
    assert "#define TINYML_MODEL_OUTPUT0_SHAPE {1, 3}" in header
    source = (art / "tinyml_model.c").read_text()
    assert "float" not in source.split("int tinyml_model_run_float")[0]  # no float in the int8 path
    assert "malloc" not in source
    aux = (art / "model_aux.h").read_text()
    assert '#define TINYML_MODEL_CLASS_NAMES {"normal", "fault a", "fault b"}' in aux
    assert "tinyml_test_raw" in (art / "test_vector.c").read_text()

    # the harness is a real program: run it again and read its verdict
    proc = toolchain.run_binary(tmp_path / "build" / "tinyml_harness")
    assert proc.returncode == 0 and "TINYML_TEST PASS: 12 of 12 vectors bit-exact" in proc.stdout

    mem = json.loads((tmp_path / "memory_report.json").read_text())
    assert mem == json.loads(json.dumps(report.memory))
    assert mem["ram"]["arena_bytes"] >= mem["ram"]["arena_lower_bound_bytes"] > 0
    assert mem["host_size"]["bss"] >= mem["ram"]["arena_bytes"] + mem["ram"]["scratch_bytes"]
    assert mem["flash"]["weights_bytes"] <= mem["host_size"]["text"] + mem["host_size"]["data"]
    assert mem["macs"]["total"] == sum(layer["macs"] for layer in mem["macs"]["per_layer"])
    assert mem["macs"]["total"] == 4 * 32 * 5 + 8 * 16 * 4 * 3 + 64 * 3
    assert mem["ram"]["io_bytes"] == dict(input=32, output=3)
    assert mem["device_size"] is None and "C28x" in mem["device_size_note"]  # C2000: no arm build


def test_float_compile_and_cortex_m_sizes(npu_model, tmp_path):
    report = compile_model(
        npu_model, tmp_path, target_device="CORTEX_M4F", test_vectors=dict(x=data((1, 32, 1)))
    )
    assert report.passed and report.precision == "float"
    assert report.max_rel_diff <= 1e-5
    assert "#define TINYML_MODEL_IS_INT8 0" in (tmp_path / "artifacts" / "tinyml_model.h").read_text()
    if toolchain.device_build_unavailable_reason("CORTEX_M4F") is None:
        dev = report.memory["device_size"]
        assert dev["bss"] >= report.memory["ram"]["arena_bytes"] and "-mcpu=cortex-m4" in dev["flags"]
        assert report.memory["flash"]["measured_on"] == "device"
    else:
        assert report.memory["device_size"] is None and report.memory["device_size_note"]


@pytest.mark.parametrize(
    "name, model, shape, mode, bits, preset",
    [
        ("regressor", Regressor, (3, 16, 1), 1, 8, "default_preset"),
        ("autoencoder", AutoEncoder, (3, 16, 1), 1, 8, "default_preset"),
        ("autoencoder_pow2_4bit", AutoEncoder, (3, 16, 1), 2, 4, "compress_npu_layer_data"),
        ("forecaster", Forecaster, (2, 16, 1), 1, 8, "default_preset"),
        ("residual", Residual, (2, 16, 1), 1, 8, "default_preset"),
        ("residual_pow2_2bit", Residual, (2, 16, 1), 2, 2, "compress_npu_layer_data"),
    ],
)
def test_task_models_bit_exact(name, model, shape, mode, bits, preset, tmp_path):
    torch.manual_seed(1)
    path = export(model(), shape, tmp_path / f"{name}.onnx")
    x = data(shape)
    q = quantize_onnx(path, x, mode=mode, weight_bitwidth=bits)
    report = compile_model(
        q, tmp_path / "out", target_device="CORTEX_M7", test_vectors=dict(x=x), preset_name=preset
    )
    assert report.passed and report.max_abs_diff == 0 and report.num_vectors == 16
    header = (tmp_path / "out" / "artifacts" / "tinyml_model.h").read_text()
    out_shape = list(q.output_shapes[0])
    assert f"#define TINYML_MODEL_OUTPUT0_SHAPE {{{', '.join(map(str, out_shape))}}}" in header
    if name.startswith("autoencoder"):
        assert out_shape == [1, *shape]  # output shaped like the input
    if name == "forecaster":
        assert out_shape == [1, 4, 2]
    if preset == "compress_npu_layer_data":
        assert "tm_wget" in (tmp_path / "out" / "artifacts" / "tinyml_model.c").read_text()  # packed weights


def test_packed_weights_are_smaller(tmp_path):
    path = export(Residual(), (2, 16, 1), tmp_path / "r.onnx")
    q = quantize_onnx(path, data((2, 16, 1)), mode=2, weight_bitwidth=4)
    plain = compile_model(q, tmp_path / "a", target_device="CORTEX_M7", preset_name="default_preset")
    packed = compile_model(
        q, tmp_path / "b", target_device="CORTEX_M7", preset_name="compress_npu_layer_data"
    )
    assert plain.passed and packed.passed
    assert packed.memory["flash"]["weights_bytes"] < plain.memory["flash"]["weights_bytes"]


def test_plain_pytorch_onnx_classic_exporter(tmp_path):
    """A user ONNX straight from torch.onnx.export(dynamo=False, opset 11): float without data, int8 with."""
    path = export(Regressor(), (3, 16, 1), tmp_path / "user.onnx", opset=11)
    float_report = compile_model(path, tmp_path / "float", target_device="CORTEX_M7")
    assert float_report.passed and float_report.precision == "float"
    int_report = compile_model(path, tmp_path / "int8", target_device="CORTEX_M7", calib_x=data((3, 16, 1)))
    assert int_report.passed and int_report.precision == "int8"


def test_qdq_model_is_compiled_as_is(tmp_path):
    path = export(Forecaster(), (2, 16, 1), tmp_path / "f.onnx")
    q = quantize_onnx(path, data((2, 16, 1)))
    qdq = q.save_qdq_onnx(tmp_path / "f_qdq.onnx")
    report = compile_model(qdq, tmp_path / "out", target_device="CORTEX_M7")
    assert report.passed and report.precision == "int8"
    header = (tmp_path / "out" / "artifacts" / "tinyml_model.h").read_text()
    assert f"#define TINYML_MODEL_INPUT_ZERO_POINT {q.input_zero_point}" in header


def test_model_too_large_names_both_figures(tmp_path):
    big = nn.Sequential(nn.Flatten(), nn.Linear(1024, 64), nn.ReLU(), nn.Linear(64, 2))
    path = export(big, (1, 1024, 1), tmp_path / "big.onnx")
    with pytest.raises(CompilationError) as err:
        compile_model(path, tmp_path / "out", target_device="MSPM0L1306")
    msg = str(err.value)
    assert "does not fit MSPM0L1306" in msg
    assert "flash" in msg and f"has {64 * 1024} bytes" in msg
    assert "RAM" in msg and f"has {4 * 1024} bytes" in msg
    assert "training.quantization: 1 or 2" in msg  # a float model: quantizing is the first remedy
    assert not (tmp_path / "out" / "artifacts").exists()  # nothing looks finished


def test_npu_rule_violations_are_named(tmp_path):
    path = export(Regressor(), (3, 16, 1), tmp_path / "r.onnx")
    with pytest.raises(CompilationError, match="NPU rule") as err:
        compile_model(path, tmp_path / "out", target_device="F28P55", calib_x=data((3, 16, 1)))
    assert "first_conv_in_channels" in str(err.value)


def test_unsupported_op_is_named(tmp_path):
    class Odd(nn.Module):
        def forward(self, x):
            return torch.cumsum(x, dim=2) * 0.5

    path = export(Odd(), (1, 8, 1), tmp_path / "odd.onnx")
    with pytest.raises(CompilationError, match=r"\(op CumSum\) is not supported"):
        compile_model(path, tmp_path / "out", target_device="CORTEX_M7")


def test_mismatch_against_reference_fails_the_compile(tmp_path, monkeypatch):
    path = export(Regressor(), (3, 16, 1), tmp_path / "r.onnx")
    q = quantize_onnx(path, data((3, 16, 1)))
    honest = QuantizedGraph.run_int

    def off_by_one(self, x):
        return [np.clip(o.astype(np.int16) + 1, -128, 127).astype(np.int8) for o in honest(self, x)]

    monkeypatch.setattr(QuantizedGraph, "run_int", off_by_one)
    with pytest.raises(CompilationError, match="does not match the Python reference bit-exact"):
        compile_model(q, tmp_path / "out", target_device="CORTEX_M7")
    assert (tmp_path / "out" / "artifacts.partial" / "tinyml_model.c").is_file()
    assert not (tmp_path / "out" / "artifacts").exists()


class Activations(nn.Module):
    """Conv1d (N x C x L tensors) and element-wise activations that become int8 lookup tables."""

    def __init__(self):
        super().__init__()
        self.c = nn.Conv1d(2, 8, 3, padding=1)
        self.fc = nn.Linear(8 * 16, 4)

    def forward(self, x):
        h = F.leaky_relu(self.c(x), 0.1)
        h = (
            F.hardswish(h)
            + F.elu(h)
            + F.gelu(h)
            + torch.abs(h) * F.hardsigmoid(h)
            - F.gelu(h, approximate="tanh")
        )
        return self.fc(h.flatten(1))


def test_conv1d_and_lookup_table_activations(tmp_path):
    import onnxruntime as ort

    path = export(Activations(), (2, 16), tmp_path / "act.onnx", opset=14)
    x = data((2, 16))
    assert (
        compile_model(path, tmp_path / "float", target_device="CORTEX_M7", quantization=0).max_rel_diff
        <= 1e-5
    )
    q = quantize_onnx(path, x)
    assert sum(n.op == "lut" for n in q.nodes) == 7
    assert (
        compile_model(q, tmp_path / "int8", target_device="CORTEX_M7", test_vectors=dict(x=x)).max_abs_diff
        == 0
    )
    session = ort.InferenceSession(
        str(q.save_qdq_onnx(tmp_path / "act_qdq.onnx")), providers=["CPUExecutionProvider"]
    )
    y_ort = session.run(None, {session.get_inputs()[0].name: x})[0]
    assert np.abs(y_ort - q.run_dequantized(x)[0]).max() <= q.output_scales[0] * 1.001


def test_bad_arguments_get_clear_errors(tmp_path):
    from tinyml_tinyverse.common.errors import ConfigError, DataError, UnknownNameError

    path = export(Regressor(), (3, 16, 1), tmp_path / "r.onnx")
    x = data((3, 16, 1), n=4)
    with pytest.raises(UnknownNameError, match="did you mean 'F28P65'"):
        compile_model(path, tmp_path / "o", target_device="F28P66")
    with pytest.raises(ConfigError, match="preset_name"):
        compile_model(path, tmp_path / "o", preset_name="fast")
    with pytest.raises(ConfigError, match="needs calibration data"):
        compile_model(path, tmp_path / "o", target_device="CORTEX_M7", quantization=1)
    with pytest.raises(DataError, match=r"the model input is \(N, 3, 16, 1\)"):
        compile_model(path, tmp_path / "o", target_device="CORTEX_M7", test_vectors=dict(x=x[:, :2]))
    with pytest.raises(DataError, match="'raw'.* holds 3 samples"):
        compile_model(path, tmp_path / "o", target_device="CORTEX_M7", test_vectors=dict(x=x, raw=x[:3]))
    assert not (tmp_path / "o" / "artifacts").exists()


class TwoD(nn.Module):
    """2-D features (W > 1): strides, dilation, groups, ceil-mode pooling, padded averages, resize."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(2, 8, 3, stride=(1, 2), padding=1)
        self.b = nn.Conv2d(8, 8, (3, 2), dilation=(2, 1), padding=(2, 1), groups=2)
        self.t = nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1, groups=4)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        h = F.relu(self.a(x))
        h = F.max_pool2d(F.relu(self.b(h)), 3, stride=2, padding=1, ceil_mode=True)
        h = F.avg_pool2d(h, 2, stride=1, padding=1, count_include_pad=True)
        h = torch.tanh(self.t(F.interpolate(h, size=(7, 5), mode="nearest")))
        return self.fc(h.mean(dim=(2, 3)))


def test_two_d_model_matches_onnxruntime_and_compiles(tmp_path):
    import onnxruntime as ort
    from tinyml_tinyverse.common.quantization.graph_ir import run_float
    from tinyml_tinyverse.common.quantization.onnx_import import import_onnx

    path = export(TwoD(), (2, 12, 10), tmp_path / "twod.onnx")
    x = data((2, 12, 10), n=64)
    graph = import_onnx(path)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    expected = np.concatenate(
        [session.run(None, {session.get_inputs()[0].name: x[i : i + 1]})[0] for i in range(4)]
    )
    np.testing.assert_allclose(run_float(graph, x[:4])[graph.output_names[0]], expected, atol=1e-5)
    report = compile_model(
        path, tmp_path / "out", target_device="CORTEX_M7", calib_x=x, test_vectors=dict(x=x[:6])
    )
    assert report.passed and report.max_abs_diff == 0


class PadSlice(nn.Module):
    """Causal padding (folded into the conv), a standalone Pad with a value, strided Slices."""

    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(2, 4, (3, 1))
        self.fc = nn.Linear(4 * 9 - 4 + 3, 3)

    def forward(self, x):
        h = F.relu(self.c(F.pad(x, (0, 0, 2, 0))))
        h = F.pad(h, (0, 0, 1, 1), value=0.5)[:, :, 1::2]
        return self.fc(torch.cat([h.flatten(1)[:, 4:], x[:, 0, 3:12:3, 0]], 1))


def test_pad_and_slice(tmp_path):
    import onnxruntime as ort
    from tinyml_tinyverse.common.quantization.graph_ir import run_float
    from tinyml_tinyverse.common.quantization.onnx_import import import_onnx

    path = export(PadSlice(), (2, 16, 1), tmp_path / "ps.onnx")
    graph = import_onnx(path)
    assert [n.op for n in graph.nodes].count("pad") == 1  # the zero pad became the conv's padding
    x = data((2, 16, 1), n=64)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    expected = session.run(None, {session.get_inputs()[0].name: x[:1]})[0]
    np.testing.assert_allclose(run_float(graph, x[:1])[graph.output_names[0]], expected, atol=1e-5)
    for quantization in (0, 1):
        report = compile_model(
            path,
            tmp_path / f"q{quantization}",
            target_device="CORTEX_M7",
            calib_x=x,
            quantization=quantization,
        )
        assert report.passed and report.max_rel_diff <= 1e-5


@pytest.mark.parametrize(
    "quantization, remedy",
    [
        (None, "training.quantization: 1 or 2"),
        (dict(mode=2, weight_bitwidth=8), "quantization_weight_bitwidth: 4"),
        (dict(mode=1, weight_bitwidth=8), None),
        (dict(mode=2, weight_bitwidth=4), None),
    ],
)
def test_misfit_hint_suggests_only_what_is_left(quantization, remedy):
    from tinyml_tinyverse.common.compilation.devices import get_device
    from tinyml_tinyverse.common.compilation.memory_report import check_fit

    report = {
        "flash": {"total_bytes": 10**7, "weights_bytes": 9 * 10**6, "code_bytes": 10**6},
        "ram": {
            "total_bytes": 100,
            "arena_bytes": 100,
            "scratch_bytes": 0,
            "io_bytes": {"input": 0, "output": 0},
        },
    }
    if quantization:
        report["quantization"] = quantization
    with pytest.raises(CompilationError) as err:
        check_fit(report, get_device("MSPM0L1306"))
    msg = str(err.value)
    assert "smaller model or a larger target_device" in msg
    assert ("quantiz" in msg.split("target_device", 1)[1]) == (remedy is not None)
    if remedy:
        assert remedy in msg


def test_vectors_per_class_beyond_the_default_four(npu_model, tmp_path):
    x = data((1, 32, 1))
    y = np.arange(len(x)) % 3
    report = compile_model(
        npu_model, tmp_path / "out", target_device="F28P55", calib_x=x,
        test_vectors=dict(x=x, y=y), vectors_per_class=12,
    )  # fmt: skip
    assert report.passed and report.num_vectors == 36  # 12 of each of 3 classes, checked bit for bit
    default = compile_model(
        npu_model, tmp_path / "out2", target_device="F28P55", calib_x=x, test_vectors=dict(x=x, y=y)
    )
    assert default.num_vectors == 12  # up to 4 per class


class TwoBranches(nn.Module):
    """Passes the early fit check (one 2 KiB tensor at a time) but not the measured one: the Add needs
    both branches' 2 KiB outputs at once, above MSPM0L1306's 4 KiB of RAM."""

    def __init__(self):
        super().__init__()
        self.a, self.b, self.fc = nn.Conv2d(1, 4, 1), nn.Conv2d(1, 4, 1), nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(torch.mean(self.a(x) + self.b(x), dim=(2, 3)))


def test_failed_recompile_leaves_no_stale_artifacts(npu_model, tmp_path):
    out = tmp_path / "out"
    assert compile_model(npu_model, out, target_device="F28P55", calib_x=data((1, 32, 1))).passed
    with pytest.raises(CompilationError, match="does not fit"):
        compile_model(
            export(TwoBranches(), (1, 128, 1), tmp_path / "big.onnx"), out, target_device="MSPM0L1306"
        )
    # the reports describe the failed compile; the last good C is set aside, not left as the result
    assert not (out / "artifacts").exists()
    assert (out / "artifacts.previous" / "tinyml_model.c").is_file()
    assert (out / "artifacts.partial" / "tinyml_model.c").is_file()
