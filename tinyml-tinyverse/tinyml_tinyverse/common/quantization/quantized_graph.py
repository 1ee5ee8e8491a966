"""``QuantizedGraph``: an int8 model the integer reference runs and the C generator compiles.

Saved as one ``.npz`` (arrays) holding a JSON description (no pickle anywhere).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import CompilationError
from ..ir.graph import QNode
from ..ir.rounding import round_half_away
from .reference import run_int

FORMAT_VERSION = 1


@dataclass
class QuantizedGraph:
    """An int8 graph: tensors with per-tensor ``scale`` / ``zero_point``, nodes in execution order.

    ``tensors[name] = dict(shape=[1, ...], scale=float, zero_point=int)``; the batch dimension is 1
    in the shapes, but every method takes any batch. ``constants`` are int8 operands of Add / Sub /
    Mul. ``mode`` is 1 (int8) or 2 (power-of-two scales); ``source_onnx`` the float model's bytes.
    """

    nodes: list[QNode]
    input_name: str
    output_names: list[str]
    tensors: dict[str, dict]
    constants: dict[str, np.ndarray] = field(default_factory=dict)
    mode: int = 1
    weight_bitwidth: int = 8
    name: str = "model"
    source_onnx: bytes | None = None

    # -- quantization parameters
    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.tensors[self.input_name]["shape"])

    @property
    def layer_bits(self) -> dict[str, int]:
        """Weight bit width of each conv / dense layer (mixed precision: not all the same)."""
        return {n.name: int(n.attrs["weight_bits"]) for n in self.nodes if "weight_bits" in n.attrs}

    @property
    def output_shapes(self) -> list[tuple[int, ...]]:
        return [tuple(self.tensors[n]["shape"]) for n in self.output_names]

    @property
    def input_scale(self) -> float:
        return float(self.tensors[self.input_name]["scale"])

    @property
    def input_zero_point(self) -> int:
        return int(self.tensors[self.input_name]["zero_point"])

    @property
    def output_scales(self) -> list[float]:
        return [float(self.tensors[n]["scale"]) for n in self.output_names]

    @property
    def output_zero_points(self) -> list[int]:
        return [int(self.tensors[n]["zero_point"]) for n in self.output_names]

    # -- running
    def quantize_input(self, x_float: np.ndarray) -> np.ndarray:
        """float -> int8 exactly as ``tinyml_model_run_float`` in C: ``x * (1/scale)`` in float32,
        rounded half away from zero, plus the zero point, saturated."""
        inv = np.float32(1.0 / self.input_scale)
        q = round_half_away(np.asarray(x_float, dtype=np.float32) * inv) + self.input_zero_point
        return np.clip(q, -128, 127).astype(np.int8)

    def dequantize_outputs(self, outs: list[np.ndarray]) -> list[np.ndarray]:
        """int8 outputs -> float32 ``(q - zero_point) * scale``."""
        return [
            ((o.astype(np.int32) - zp).astype(np.float32) * np.float32(s))
            for o, s, zp in zip(outs, self.output_scales, self.output_zero_points)
        ]

    def run_int(self, x_int8: np.ndarray) -> list[np.ndarray]:
        """Integer-only reference run of an int8 batch; one int8 array per output."""
        x = np.asarray(x_int8)
        self._check_input(x)
        values = run_int(self, x)
        return [values[n] for n in self.output_names]

    def run_dequantized(self, x_float: np.ndarray) -> list[np.ndarray]:
        """Quantize the input, run the integer graph, dequantize: the quantized model's float outputs."""
        x = np.asarray(x_float, dtype=np.float32)
        self._check_input(x)
        return self.dequantize_outputs(self.run_int(self.quantize_input(x)))

    def _check_input(self, x: np.ndarray) -> None:
        if tuple(x.shape[1:]) != self.input_shape[1:]:
            raise CompilationError(
                f"input batch of shape {x.shape} does not match the model input {self.name}:"
                f"{self.input_name} of shape (N, {', '.join(str(d) for d in self.input_shape[1:])})"
            )

    # -- storage
    def save(self, path: str | Path) -> Path:
        """Write ``path`` (``.npz``: JSON header + arrays, no pickle); atomic."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {}
        nodes = []
        for i, n in enumerate(self.nodes):
            for k, v in n.arrays.items():
                arrays[f"node{i}/{k}"] = np.asarray(v)
            nodes.append(
                dict(
                    op=n.op,
                    name=n.name,
                    inputs=n.inputs,
                    outputs=n.outputs,
                    attrs=n.attrs,
                    arrays=list(n.arrays),
                )
            )
        for k, v in self.constants.items():
            arrays[f"const/{k}"] = v
        header = dict(
            format_version=FORMAT_VERSION, name=self.name, mode=self.mode, weight_bitwidth=self.weight_bitwidth,
            input_name=self.input_name, output_names=self.output_names, tensors=self.tensors,
            constants=list(self.constants), nodes=nodes,
        )  # fmt: skip
        arrays["header"] = np.frombuffer(json.dumps(header, default=_json_default).encode(), dtype=np.uint8)
        if self.source_onnx is not None:
            arrays["source_onnx"] = np.frombuffer(self.source_onnx, dtype=np.uint8)
        tmp = path.with_name(path.stem + ".tmp.npz")  # np.savez adds .npz to other names
        np.savez_compressed(tmp, **arrays)
        os.replace(tmp, path)
        return path

    def save_qdq_onnx(self, path: str | Path) -> Path:
        """Write a QDQ ONNX model that onnxruntime runs (see ``qdq_export``)."""
        from .qdq_export import export_qdq_onnx

        return export_qdq_onnx(self, path)

    def summary(self) -> dict:
        counts: dict[str, int] = {}
        for n in self.nodes:
            counts[n.op] = counts.get(n.op, 0) + 1
        return dict(name=self.name, mode=self.mode, weight_bitwidth=self.weight_bitwidth, ops=counts,
                    input_scale=self.input_scale, input_zero_point=self.input_zero_point,
                    output_scales=self.output_scales, output_zero_points=self.output_zero_points)  # fmt: skip


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, (tuple, np.ndarray)):
        return list(o)
    raise TypeError(f"not JSON serialisable: {type(o)}")


def load_quantized_graph(path: str | Path) -> QuantizedGraph:
    """Read a graph written by :meth:`QuantizedGraph.save`."""
    path = Path(path)
    if not path.is_file():
        raise CompilationError(f"quantized model not found: {path}")
    try:
        data = np.load(path, allow_pickle=False)
        header = json.loads(bytes(data["header"]).decode())
    except Exception as exc:  # noqa: BLE001
        raise CompilationError(
            f"{path} is not a quantized model written by QuantizedGraph.save: {exc}"
        ) from exc
    if header.get("format_version") != FORMAT_VERSION:
        raise CompilationError(f"{path}: unsupported format version {header.get('format_version')}")
    nodes = [
        QNode(
            n["op"],
            n["name"],
            n["inputs"],
            n["outputs"],
            n["attrs"],
            {k: data[f"node{i}/{k}"] for k in n["arrays"]},
        )
        for i, n in enumerate(header["nodes"])
    ]
    return QuantizedGraph(
        nodes=nodes, input_name=header["input_name"], output_names=header["output_names"], tensors=header["tensors"],
        constants={k: data[f"const/{k}"] for k in header["constants"]}, mode=header["mode"],
        weight_bitwidth=header["weight_bitwidth"], name=header["name"],
        source_onnx=bytes(data["source_onnx"]) if "source_onnx" in data else None,
    )  # fmt: skip
