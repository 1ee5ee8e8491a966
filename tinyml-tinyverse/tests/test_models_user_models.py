"""Models the way users write them: gen_model_spec's dict(model_spec=...), the task from the name's prefix,
models imported from a user's file / folder / module, and a registry's entry-point plugins."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch
from tinyml_tinyverse.common.errors import ConfigError, ModelError
from tinyml_tinyverse.common.models import MODEL_REGISTRY, get_model, import_model_module, model_task
from tinyml_tinyverse.common.models.generic_model_spec import GenericModelWithSpec
from tinyml_tinyverse.common.utils.py_utils import DictPlus

MODEL_FILE = textwrap.dedent("""
    from tinyml_tinyverse.common.models.generic_model_spec import GenericModelWithSpec
    from tinyml_tinyverse.common.utils import py_utils


    class {name}(GenericModelWithSpec):
        def __init__(self, config, input_features=64, variables=1, num_classes=2):
            super().__init__(config, input_features=input_features, variables=variables, num_classes=num_classes)
            self.model_spec = self.gen_model_spec()
            self._init_model_from_spec(self.model_spec)

        def gen_model_spec(self):
            layers = py_utils.DictPlus()
            layers += {{"conv": dict(type="ConvBNReLULayer", out_channels=4, kernel_size=(3, 1))}}
            layers += {{"gap": dict(type="GlobalAvgPoolLayer")}}
            layers += {{"flat": dict(type="ReshapeLayer", ndim=2)}}
            layers += {{"fc": dict(type="LinearLayer", out_features=self.num_classes)}}
            return dict(model_spec=layers)


    class _Helper:  # private: never registered
        pass
""")


@pytest.fixture
def registry_snapshot():
    before = set(dict.keys(MODEL_REGISTRY))
    modules, path = set(sys.modules), list(sys.path)
    yield
    sys.path[:] = path
    for name in set(dict.keys(MODEL_REGISTRY)) - before:
        dict.pop(MODEL_REGISTRY, name)
    for name in set(sys.modules) - modules:
        sys.modules.pop(name)


class Plain(GenericModelWithSpec):
    def __init__(self, config=None, input_features=32, variables=1, num_classes=3):
        super().__init__(config, input_features=input_features, variables=variables, num_classes=num_classes)
        self.model_spec = self.gen_model_spec()
        self._init_model_from_spec(self.model_spec)

    def gen_model_spec(self):
        layers = DictPlus()
        layers += {"flat": dict(type="ReshapeLayer", ndim=2)}
        layers += {"fc": dict(type="LinearLayer", out_features=self.num_classes)}
        return dict(model_spec=layers)


def test_init_from_what_gen_model_spec_returns():
    model = Plain({})
    assert list(model.model_spec) == ["flat", "fc"]  # the layers, unwrapped
    assert model(torch.randn(2, 1, 32, 1)).shape == (2, 3)
    # a spec whose only layer is named model_spec is still a layer
    one = GenericModelWithSpec({}, input_features=4)
    one._init_model_from_spec({"model_spec": dict(type="IdentityLayer")})
    assert list(one.model_spec) == ["model_spec"]


@pytest.mark.parametrize(
    "name, task",
    [("CLS_MINE", "classification"), ("REGR_MINE", "regression"), ("AD_MINE", "anomalydetection"),
     ("FCST_MINE", "forecasting")],
)  # fmt: skip
def test_task_from_the_name_prefix(name, task, registry_snapshot):
    MODEL_REGISTRY.register(name, Plain)
    assert model_task(name) == task


def test_no_prefix_and_no_task_keeps_the_error(registry_snapshot):
    MODEL_REGISTRY.register("MyModel", Plain)
    with pytest.raises(
        ModelError, match=r"has task=None.*CLS_ \(classification\).*give its class an attribute task"
    ):
        model_task("MyModel")


def test_import_a_file_a_folder_and_a_module_name(tmp_path, monkeypatch, registry_snapshot):
    (tmp_path / "my_models.py").write_text(MODEL_FILE.format(name="CLS_FROM_FILE"))
    module, names = import_model_module("my_models.py", base_dir=tmp_path)
    assert names == ["CLS_FROM_FILE"] and MODEL_REGISTRY["CLS_FROM_FILE"] is module.CLS_FROM_FILE
    assert import_model_module(str(tmp_path / "my_models.py"))[0] is module  # imported once
    assert get_model("CLS_FROM_FILE", num_classes=5)(torch.randn(1, 1, 64, 1)).shape == (1, 5)

    pkg = tmp_path / "pkg_models"
    pkg.mkdir()
    (pkg / "nets.py").write_text(MODEL_FILE.format(name="CLS_FROM_PKG"))
    (pkg / "__init__.py").write_text("from .nets import CLS_FROM_PKG\n")
    assert import_model_module("pkg_models", base_dir=tmp_path)[1] == ["CLS_FROM_PKG"]

    (tmp_path / "installed_models.py").write_text(
        MODEL_FILE.format(name="FCST_SELF") + "\nfrom tinyml_tinyverse.common.models import MODEL_REGISTRY\n"
        "MODEL_REGISTRY.register('FCST_SELF_REGISTERED', FCST_SELF)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert import_model_module("installed_models")[1] == ["FCST_SELF_REGISTERED"]  # what it registered itself


def test_a_module_name_that_shadows_an_installed_one_gets_a_name_of_its_own(tmp_path, registry_snapshot):
    (tmp_path / "yaml.py").write_text(MODEL_FILE.format(name="CLS_SHADOW"))
    module, _ = import_model_module(str(tmp_path / "yaml.py"))
    assert module.__name__.startswith("yaml_") and sys.modules["yaml"].__name__ == "yaml"


@pytest.mark.parametrize(
    "source, error, message",
    [
        ("x = 1\ndef broken(:\n", ModelError, "bad.py:2: SyntaxError"),
        ("import os\nos.nothing()\n", ModelError, "bad.py:2: AttributeError: module 'os' has no attribute 'nothing'"),
        ("x = 1\n", ModelError, "defines no model"),
    ],
)  # fmt: skip
def test_a_file_that_fails_to_import_names_the_file_and_line(
    tmp_path, registry_snapshot, source, error, message
):
    (tmp_path / "bad.py").write_text(source)
    with pytest.raises(error, match="my key: ") as info:
        import_model_module(str(tmp_path / "bad.py"), where="my key")
    assert message in str(info.value)
    assert "bad" not in sys.modules


def test_missing_file_and_unknown_module(tmp_path):
    with pytest.raises(ConfigError, match=r"'nothing\.py': no such file or folder \(relative paths start at"):
        import_model_module("nothing.py", base_dir=tmp_path)
    with pytest.raises(ConfigError, match="no module named 'no_such_pkg_xyz'"):
        import_model_module("no_such_pkg_xyz")


def test_entry_points_offer_a_class_a_mapping_or_a_module(tmp_path):
    """Three entry points of an installed (dist-info on the path) package, each form once."""
    site = tmp_path / "site"
    (site / "plug").mkdir(parents=True)
    (site / "plug" / "__init__.py").write_text(
        MODEL_FILE.format(name="CLS_PLUG_A") + "\nMODELS = {'CLS_PLUG_B': CLS_PLUG_A}\n"
    )
    (site / "plug" / "more.py").write_text(MODEL_FILE.format(name="CLS_PLUG_C"))
    dist = site / "plug-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: plug\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[tinyml_tinyverse.models]\nCLS_PLUG_A = plug:CLS_PLUG_A\nmapping = plug:MODELS\nmodule = plug.more\n"
    )
    code = textwrap.dedent("""
        from tinyml_tinyverse.common.models import MODEL_REGISTRY, model_task
        print(sorted(n for n in MODEL_REGISTRY if n.startswith("CLS_PLUG")), model_task("CLS_PLUG_C"))
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "['CLS_PLUG_A', 'CLS_PLUG_B', 'CLS_PLUG_C'] classification"
