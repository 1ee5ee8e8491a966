"""Static activation arena: offsets for every buffer of the schedule, planned from their lifetimes.

A buffer lives from the step that writes it to the last step that reads it (graph outputs live to
the end). No plan can use less than the liveness bound, the largest total of (aligned) buffers
alive at one step. Several greedy orders each place every buffer at the lowest aligned offset that
does not overlap a placed buffer whose lifetime intersects; the smallest plan wins, so a step's
output never shares memory with its own inputs unless the schedule made them one buffer.
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


def _aligned(n: int, align: int) -> int:
    return -(-n // align) * align


def liveness_bound(tensors: list[TensorLife], align: int = 4) -> int:
    """The largest total of buffers (each rounded up to ``align``) alive at one step."""
    steps = {s for t in tensors for s in (t.first, t.last)}
    return max(
        (sum(_aligned(t.size, align) for t in tensors if t.first <= s <= t.last) for s in steps), default=0
    )


def _place(order: list[TensorLife], align: int) -> tuple[dict[str, int], int]:
    placed: list[tuple[int, int, TensorLife]] = []  # (offset, end, tensor)
    offsets: dict[str, int] = {}
    for t in order:
        busy = sorted((o, e) for o, e, p in placed if not (p.last < t.first or t.last < p.first))
        offset = 0
        for o, e in busy:
            if offset + t.size <= o:
                break
            offset = max(offset, _aligned(e, align))
        offsets[t.name] = offset
        placed.append((offset, offset + t.size, t))
    return offsets, _aligned(max((e for _, e, _ in placed), default=0), align)


def plan_arena(tensors: list[TensorLife], align: int = 4) -> tuple[dict[str, int], int]:
    """Offsets of the buffers; returns ``({name: byte offset}, arena bytes)``, the smallest of several orders."""
    orders = [
        sorted(tensors, key=lambda t: (-t.size, t.first, t.name)),
        sorted(tensors, key=lambda t: (t.first, -t.size, t.name)),
        sorted(tensors, key=lambda t: (-(t.last - t.first), -t.size, t.name)),
        sorted(tensors, key=lambda t: (-t.size * (t.last - t.first + 1), t.first, t.name)),
    ]
    bound = liveness_bound(tensors, align)
    best: tuple[dict[str, int], int] | None = None
    for order in orders:
        plan = _place(order, align)
        if best is None or plan[1] < best[1]:
            best = plan
        if best[1] <= bound:
            break
    return best
