"""Plain-text tables of results for the command line."""
from __future__ import annotations

import math

from labkit.experiment.result import RunResult


def _pct(value: float | None) -> str:
    return "  -  " if value is None or math.isnan(value) else f"{100 * value:5.1f}"


def matrix_table(result: RunResult, kind: str) -> str:
    """The accuracy matrix in percent: row t = after learning task t, column u = task u."""
    acc = result.matrix(kind)
    n = len(acc)
    lines = ["after task | " + " ".join(f"T{u + 1:<4}" for u in range(n))]
    for t in range(n):
        lines.append(f"{t + 1:>10} | " + " ".join(_pct(acc[t, u]) for u in range(t + 1)))
    return "\n".join(lines)


def summary_line(result: RunResult, kind: str) -> str:
    s = result.summary(kind)
    return (f"average accuracy {_pct(s['final_average_accuracy'])} %   "
            f"average forgetting {_pct(s['final_average_forgetting'])} %   "
            f"(totals: {_pct(s['total_average_accuracy'])} / {_pct(s['total_average_forgetting'])})")


def comparison_table(results: dict[str, RunResult], kind: str) -> str:
    """One row per named run: final average accuracy and forgetting, totals, BWT, seconds."""
    head = f"{'method':<10} {'avg acc':>8} {'forget':>8} {'tot acc':>8} {'tot fgt':>8} {'BWT':>7} {'sec':>6}"
    rows = [head, "-" * len(head)]
    for name, r in results.items():
        s = r.summary(kind)
        name = name if r.status == "finished" else f"{name} ({r.status})"  # a failure never reads as a result
        bwt = s["backward_transfer"]
        rows.append(f"{name:<10} {_pct(s['final_average_accuracy']):>8} {_pct(s['final_average_forgetting']):>8} "
                    f"{_pct(s['total_average_accuracy']):>8} {_pct(s['total_average_forgetting']):>8} "
                    f"{'-' if bwt is None else f'{100 * bwt:+.1f}':>7} {sum(r.task_seconds):6.1f}")
    return "\n".join(rows)
