"""Static activation arena: offsets for every intermediate tensor, planned from tensor lifetimes.

A tensor lives from the step that writes it to the last step that reads it (graph outputs live to
the end). Tensors are placed largest first at the lowest offset that does not overlap any placed
tensor whose lifetime intersects, so a node's output never shares memory with its own inputs.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TensorLife:
    """One tensor to place: ``size`` in bytes, alive in steps ``first..last`` (inclusive)."""

    name: str
    size: int
    first: int
    last: int


def lifetimes(
    steps: list[tuple[list[str], str]], outputs: list[str], sizes: dict[str, int], external: set[str]
) -> list[TensorLife]:
    """Lifetimes of the tensors written by ``steps`` (``(inputs, output)`` per step), minus ``external`` ones."""
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for i, (ins, out) in enumerate(steps):
        first.setdefault(out, i)
        last[out] = max(last.get(out, i), i)
        for t in ins:
            if t in first:
                last[t] = max(last.get(t, i), i)
    end = len(steps)
    for t in outputs:
        if t in first:
            last[t] = end
    return [TensorLife(t, sizes[t], first[t], last[t]) for t in first if t not in external]


def plan_arena(tensors: list[TensorLife], align: int = 4) -> tuple[dict[str, int], int]:
    """Greedy best-offset placement; returns ``({name: byte offset}, arena bytes)``."""
    placed: list[tuple[int, int, TensorLife]] = []  # (offset, end, tensor)
    offsets: dict[str, int] = {}
    for t in sorted(tensors, key=lambda t: (-t.size, t.first, t.name)):
        busy = sorted((o, e) for o, e, p in placed if not (p.last < t.first or t.last < p.first))
        offset = 0
        for o, e in busy:
            if offset + t.size <= o:
                break
            offset = max(offset, -(-e // align) * align)
        offsets[t.name] = offset
        placed.append((offset, offset + t.size, t))
    total = max((e for _, e, _ in placed), default=0)
    return offsets, -(-total // align) * align
