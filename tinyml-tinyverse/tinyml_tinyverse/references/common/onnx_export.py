"""Export a trained model to ONNX and check it against torch with onnxruntime.

torch is imported where a function needs it: :func:`parity` and :func:`run_onnx` serve a process
without torch (the training report finished after the training process, ``report_pending``)."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tinyml_tinyverse.common.errors import DataError, ModelError

from .artifacts import atomic_path

DEFAULT_OPSET = 17
PARITY_TOLERANCE = 1e-4

if TYPE_CHECKING:
    import torch


def export_onnx(
    model: torch.nn.Module, input_shape: Sequence[int], path: str | os.PathLike, opset: int = DEFAULT_OPSET
) -> Path:
    """Export ``model`` (eval mode, CPU) with a static ``(1, *input_shape)`` input named ``input``.

    Uses the classic exporter (``dynamo=False``): a flat graph with static shapes, which the
    compiler takes as it is.
    """
    import torch

    path = Path(path)
    model = model.cpu().eval()
    dummy = torch.zeros(1, *input_shape)
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter announces its deprecation
        try:
            torch.onnx.export(
                model, (dummy,), str(tmp), dynamo=False, opset_version=opset,
                input_names=["input"], output_names=["output"], do_constant_folding=True,
            )  # fmt: skip
        except Exception as exc:
            raise ModelError(f"cannot export {type(model).__name__} to ONNX (opset {opset}): {exc}") from exc
    return path


def onnx_session(path: str | os.PathLike):
    """An onnxruntime CPU session with one intra-op thread (small models, busy machines)."""
    import onnxruntime as ort

    if not Path(path).is_file():
        raise DataError(f"ONNX model {path} does not exist; check --model-path")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run_onnx(path_or_session, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Run an ONNX model on ``x`` ``(N, ...)``: in batches when its batch axis is dynamic, else one by one."""
    session = (
        onnx_session(path_or_session) if isinstance(path_or_session, str | os.PathLike) else path_or_session
    )
    inp = session.get_inputs()[0]
    expected = [d if isinstance(d, int) else None for d in inp.shape]
    if len(expected) != x.ndim or any(e is not None and e != s for e, s in zip(expected[1:], x.shape[1:])):
        raise DataError(f"the ONNX model expects input {inp.shape} but the data gives windows of shape {list(x.shape[1:])}; "
                        "use the data config the model was trained with")  # fmt: skip
    step = 1 if expected[0] is not None else batch_size
    x = np.ascontiguousarray(x, dtype=np.float32)
    outs = [session.run(None, {inp.name: x[i : i + step]})[0] for i in range(0, len(x), step)]
    return np.concatenate(outs) if outs else np.zeros((0,), np.float32)


def check_parity(
    path: str | os.PathLike, model: torch.nn.Module, x: np.ndarray, tol: float = PARITY_TOLERANCE
) -> float:
    """Max abs difference of ONNX and torch outputs on ``x``, relative to max(1, |output|); raises above ``tol``."""
    return parity(path, x, torch_outputs(model, x), tol)


def torch_outputs(model: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    """``model``'s outputs on ``x`` (CPU, eval mode): the reference :func:`parity` compares ONNX with."""
    import torch

    model = model.cpu().eval()
    with torch.no_grad():
        return model(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))).numpy()


def parity(path: str | os.PathLike, x: np.ndarray, ref: np.ndarray, tol: float = PARITY_TOLERANCE) -> float:
    """:func:`check_parity` against the torch outputs ``ref`` on ``x`` computed before (no torch here)."""
    got = run_onnx(path, x).reshape(ref.shape)
    diff = float(np.max(np.abs(got - ref)) / max(1.0, float(np.max(np.abs(ref))))) if ref.size else 0.0
    if not diff <= tol:
        raise ModelError(
            f"{path}: onnxruntime and torch disagree by {diff:.3g} (> {tol}); an op of the model exports wrongly"
        )
    return diff
