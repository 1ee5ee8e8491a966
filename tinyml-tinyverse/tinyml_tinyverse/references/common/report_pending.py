"""The part of the training report that :func:`report.finish_run` leaves for after the training
process inside ``report.deferred_report()``: the plots (matplotlib) and the onnxruntime check of the
ONNX export against the torch outputs it saved. :func:`finish_pending` runs in a process without
torch; nothing here imports it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from tinyml_tinyverse.common import run_files
from tinyml_tinyverse.common.safe_yaml import load_yaml_file

from . import onnx_export, plots
from .artifacts import atomic_path, write_yaml

PLOTS_PENDING = "report_plots_pending.npz"
PARITY_PENDING = "report_onnx_check_pending.npz"


def save_pending(out_dir: Path, plot_calls: list, check_x: np.ndarray, check_ref: np.ndarray) -> None:
    """Leave the recorded plot calls and the ONNX check's inputs and torch outputs in ``out_dir``."""
    plots.save_calls(out_dir / PLOTS_PENDING, plot_calls)
    with atomic_path(out_dir / PARITY_PENDING) as tmp, open(tmp, "wb") as f:
        np.savez(f, x=check_x, ref=check_ref)


def finish_pending(out_dir: str | os.PathLike) -> dict[str, Any] | None:
    """Draw the pending plots and check the ONNX export (raising ``ModelError`` when onnxruntime and torch
    disagree); the check's figure goes into ``summary.yaml``. Returns ``{"max_rel_diff_vs_torch": ...}``,
    or None when nothing was pending."""
    out_dir = Path(out_dir)
    plots_file, parity_file = out_dir / PLOTS_PENDING, out_dir / PARITY_PENDING
    if not parity_file.is_file():
        return None
    with np.load(parity_file, allow_pickle=False) as z:
        x, ref = z["x"], z["ref"]
    diff = onnx_export.parity(out_dir / run_files.MODEL_ONNX, x, ref)
    summary_path = out_dir / run_files.SUMMARY
    summary = load_yaml_file(summary_path) or {}
    summary.setdefault("onnx", {})["max_rel_diff_vs_torch"] = diff
    write_yaml(summary_path, summary)
    if plots_file.is_file():
        plots.draw_saved(plots_file)
        plots_file.unlink()
    parity_file.unlink()
    return {"max_rel_diff_vs_torch": diff}
