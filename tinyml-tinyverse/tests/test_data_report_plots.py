"""Dataset plots from thinned data, drawn at once or later from what the dataset stage kept."""

from __future__ import annotations

import numpy as np
from tinyml_tinyverse.common.datasets import prepare_dataset, report
from tinyml_tinyverse.common.datasets.generators import generate_motor_fault

CFG = {"feature_extraction_name": "Generic_256Input_FFTBIN_16Feature_8Frame", "variables": 3}


def test_thinned_trace_keeps_every_peak_and_the_envelope():
    x = np.random.default_rng(0).normal(size=(2000, 3)).astype(np.float32)
    x[1234, 1] = 50.0  # one spike, as a bearing impact gives
    x[77, 0] = -40.0
    index, values = report.thin_trace(x)
    assert len(values) <= report.MAX_TRACE_POINTS and values.shape[1] == 3
    assert values[:, 1].max() == 50.0 and values[:, 0].min() == -40.0
    assert index[0] == 0 and index[-1] < 2000 and np.all(np.diff(index) >= 0)
    short = x[:100]
    index, values = report.thin_trace(short)
    np.testing.assert_array_equal(values, short)


def test_plots_later_are_drawn_from_the_kept_data(tmp_path):
    data = generate_motor_fault(tmp_path / "d", files_per_class=4, length=3000)
    out = tmp_path / "o"
    prepare_dataset(data, out, "classification", data_config=CFG, plots="later")
    assert (out / report.PENDING_PLOTS).is_file() and not list(out.glob("*.png"))
    (data / "classes" / "normal" / "normal_000.csv").unlink()  # drawing needs no recording any more
    drawn = report.draw_pending_plots(out)
    assert sorted(p.name for p in drawn) == sorted(report.PLOT_FILES)
    assert all(p.stat().st_size > 10_000 for p in drawn)
    assert not (out / report.PENDING_PLOTS).exists() and report.draw_pending_plots(out) == []


def test_a_new_preparation_drops_plots_left_pending(tmp_path):
    data = generate_motor_fault(tmp_path / "d", files_per_class=3, length=3000)
    out = tmp_path / "o"
    prepare_dataset(data, out, "classification", data_config=CFG, plots="later")
    prepare_dataset(data, out, "classification", data_config=CFG, plots=True)
    assert not (out / report.PENDING_PLOTS).exists() and len(list(out.glob("*.png"))) == 3
