"""What a search leaves: ``search/trials.csv`` (every candidate: trained, pruned, failed or rejected),
``search/pareto.png`` (validation score against flash and against latency) and the winner.

The winner is the finished trial with the best validation score; among equal scores the one with the
least flash, then the lowest latency, then the fewest parameters.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import Any

from .space import Budget, Candidate

COLUMNS = ("trial", "state", "model", "preset", "bits", "params", "flash_bytes", "ram_bytes", "latency_us", "macs",
           "val_score", "val_score_float", "epochs", "seconds", "seed", "worker", "note")  # fmt: skip


def trial_rows(study: Any, figures: dict[str, dict], budget: Budget) -> list[dict]:
    """One row per candidate (model, preset, bits): rejected by the budget, or as far as its trials got."""
    from .study import trial_key

    rows = []
    for key, fig in figures.items():
        problems = [fig["error"]] if fig.get("error") else budget.problems(fig)
        if problems:
            rows.append(_row(None, "rejected", key, fig, note="; ".join(problems)))
    settings = study.user_attrs["settings"]
    factor, metric = settings["reduction_factor"], settings["metric"]
    by_key: dict[str, list] = {}
    for t in study.get_trials(deepcopy=False):
        if not t.user_attrs.get("duplicate_of") and trial_key(t) is not None:
            by_key.setdefault(trial_key(t), []).append(t)
    for g in settings["candidates"]:
        trials = sorted(by_key.get(g["key"], []), key=lambda t: t.number)
        last = trials[-1] if trials else None
        a = last.user_attrs if last is not None else {}
        scores = {r["bits"]: r for r in a.get("variants", [])}
        seconds = round(sum(t.user_attrs.get("seconds", 0) for t in trials), 1)
        for v in g["variants"]:
            full = f"{g['key']}|{v['bits']}"
            value, value_float, note = None, None, ""
            if last is None:
                state, note = "not run", ""
            elif not last.state.is_finished():
                state, note = last.state.name.lower(), "not finished"
            elif last.state.name == "COMPLETE" and a.get("final") and v["bits"] in scores:
                state, note = "complete", a.get("stop_reason", "")
                value, value_float = scores[v["bits"]]["score"], scores[v["bits"]]["float"]
            elif last.state.name == "COMPLETE":  # a rung of successive halving it did not get past
                state, value = "pruned", last.value
                quantized = a.get("rung_quantized") or {}
                if str(v["bits"]) in quantized:  # the cut into the last rung: ranked quantized
                    value, value_float = quantized[str(v["bits"])], a.get("val_float")
                    ranked = f"val {metric} {last.value:.4f} at its best bit width, quantized"
                else:
                    ranked = f"val {metric} {value:.4f}"
                note = f"stopped after epoch {a.get('epochs')}: not among the best 1/{factor} ({ranked})"
            elif last.state.name == "PRUNED":
                steps = last.intermediate_values
                state, note = "pruned", a.get("note", "pruned")
                value = steps[max(steps)] if steps else None
            else:
                state, note = "failed", a.get("error", "interrupted")
            attrs = {**a, "seconds": seconds}
            rows.append(
                _row(
                    last.number if last else None,
                    state,
                    full,
                    figures.get(full, v),
                    value,
                    attrs,
                    note,
                    value_float,
                )
            )
    return rows


def _row(number, state, key, fig, value=None, attrs=None, note="", value_float=None) -> dict:
    c = Candidate.from_key(key)
    attrs = attrs or {}
    return {
        "trial": "" if number is None else number, "state": state, "model": c.model, "preset": c.preset or "",
        "bits": c.bits, "params": fig.get("params"), "flash_bytes": fig.get("flash_bytes"),
        "ram_bytes": fig.get("ram_bytes"), "latency_us": fig.get("latency_us"), "macs": fig.get("macs"),
        "val_score": value, "val_score_float": value_float, "epochs": attrs.get("epochs"),
        "seconds": attrs.get("seconds"), "seed": attrs.get("seed"), "worker": attrs.get("worker"), "note": note,
    }  # fmt: skip


def write_trials_csv(rows: list[dict], path: Path, metric: str) -> None:
    """``trials.csv`` (``val_score`` is headed ``val_<metric>``), atomically."""
    header = [c.replace("val_score", f"val_{metric}") for c in COLUMNS]
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for r in sorted(rows, key=lambda r: (r["trial"] == "", r["trial"] if r["trial"] != "" else 0)):
            writer.writerow(["" if r[c] is None else r[c] for c in COLUMNS])
    os.replace(tmp, path)


def _better(a: float, b: float, maximize: bool) -> bool:
    return a > b if maximize else a < b


def choose_winner(rows: list[dict], maximize: bool) -> dict | None:
    """The best complete trial (see the module doc), or None when no trial finished."""
    done = [
        r
        for r in rows
        if r["state"] == "complete" and r["val_score"] is not None and math.isfinite(r["val_score"])
    ]
    if not done:
        return None

    def order(r: dict) -> tuple:
        score = -r["val_score"] if maximize else r["val_score"]
        latency = r["latency_us"] if r["latency_us"] is not None else math.inf
        return (score, r["flash_bytes"] or 0, latency, r["params"] or 0, r["trial"])

    return min(done, key=order)


def pareto_front(points: list[tuple[float, float]], maximize: bool) -> list[tuple[float, float]]:
    """The points no other point beats on both cost (x, lower is better) and score (y)."""
    front, best = [], None
    for x, y in sorted(points, key=lambda p: (p[0], -p[1] if maximize else p[1])):
        if best is None or _better(y, best, maximize):
            front.append((x, y))
            best = y
    return front


def plot_pareto(
    rows: list[dict], path: Path, metric: str, maximize: bool, budget: Budget, winner: dict | None
) -> None:
    """Validation score against flash (KiB) and, where measured, latency (us); the front and the winner marked."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    axes_spec = [("flash_bytes", "flash (KiB)", 1 / 1024, budget.flash_bytes)]
    if any(r["latency_us"] is not None for r in rows if r["state"] == "complete"):
        axes_spec.append(("latency_us", "latency per inference (us, estimate)", 1.0, budget.latency_us))
    fig = Figure(figsize=(6 * len(axes_spec), 4.5))
    for i, (key, label, scale, limit) in enumerate(axes_spec):
        ax = fig.add_subplot(1, len(axes_spec), i + 1)
        done = [
            r for r in rows if r["state"] == "complete" and r[key] is not None and r["val_score"] is not None
        ]
        pruned = [
            r for r in rows if r["state"] == "pruned" and r[key] is not None and r["val_score"] is not None
        ]
        if pruned:
            ax.scatter([r[key] * scale for r in pruned], [r["val_score"] for r in pruned], marker="x", color="grey",
                       label="pruned (score when stopped)")  # fmt: skip
        if done:
            ax.scatter(
                [r[key] * scale for r in done],
                [r["val_score"] for r in done],
                color="tab:blue",
                label="trained",
            )
            for r in done:
                ax.annotate(r["model"] + ("" if r["bits"] in (8, 32) else f" {r['bits']}b"), (r[key] * scale, r["val_score"]),
                            fontsize=7, xytext=(3, 3), textcoords="offset points")  # fmt: skip
            front = pareto_front([(r[key] * scale, r["val_score"]) for r in done], maximize)
            ax.step(
                [p[0] for p in front],
                [p[1] for p in front],
                where="post",
                color="tab:green",
                label="Pareto front",
            )
        if winner is not None and winner[key] is not None:
            ax.scatter(
                [winner[key] * scale],
                [winner["val_score"]],
                marker="*",
                s=200,
                color="tab:red",
                label="winner",
            )
        if limit is not None:
            ax.axvline(limit * scale, color="tab:red", linestyle="--", alpha=0.5, label="budget")
        ax.set_xlabel(label)
        ax.set_ylabel(f"val {metric}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    FigureCanvasAgg(fig)
    fig.tight_layout()
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, format="png", dpi=100)
    os.replace(tmp, path)


def results_lines(rows: list[dict], winner: dict | None, metric: str, limit: int = 8) -> list[str]:
    """A short table of the best finished trials for the console."""
    done = sorted((r for r in rows if r["state"] == "complete"), key=lambda r: -(r["val_score"] or 0))
    counts = {
        s: sum(1 for r in rows if r["state"] == s) for s in ("complete", "pruned", "failed", "rejected")
    }
    lines = [f"search: {counts['complete']} trained, {counts['pruned']} pruned, {counts['failed']} failed, "
             f"{counts['rejected']} rejected before training"]  # fmt: skip
    if done:
        lines.append(
            "  "
            + "model".ljust(34)
            + f"val {metric}".rjust(14)
            + "flash B".rjust(10)
            + "RAM B".rjust(9)
            + "us".rjust(9)
        )
        for r in done[:limit]:
            name = Candidate(r["model"], r["preset"] or None, r["bits"]).label()
            mark = "  <- winner" if winner is not None and r["trial"] == winner["trial"] else ""
            latency = "-" if r["latency_us"] is None else f"{r['latency_us']:.0f}"
            lines.append(
                f"  {name[:34].ljust(34)}{r['val_score']:14.4f}{r['flash_bytes']:10d}{r['ram_bytes']:9d}{latency:>9}{mark}"
            )
    return lines
