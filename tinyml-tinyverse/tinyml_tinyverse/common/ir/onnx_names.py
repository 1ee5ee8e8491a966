"""What the ONNX checks, the importer and constant folding share in their messages: how a node is
named and the largest tensor any of them accepts."""

from __future__ import annotations

from typing import Any

MAX_TENSOR_ELEMENTS = 1 << 24  # 64 MiB of float: far beyond the RAM of any target


def describe_node(node: Any) -> str:
    """``node 'name' (op Type)`` of an ONNX ``NodeProto``."""
    return f"node {node.name or '(unnamed)'!r} (op {node.op_type})"
