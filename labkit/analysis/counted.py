"""Which runs count: the one rule behind every mean, table, effect size and paired comparison.

A run counts only when its status is "finished" (every task learned). A diverged, failed, stopped
or unfinished run is left out of every mean and every pair: its numbers are those of the tasks it
got through, not of a trained model. It is not dropped in silence either: every table says how
many runs its numbers are over and names the ones left out, "3", "2 of 3 (1 diverged)",
"2 of 5 (1 failed, 2 stopped)" (runs_text).

A run is anything with a `status` (labkit.experiment.outcome.STATUSES): a RunResult, or a sweep's CellOutcome
(whose status is "failed" when nothing could be read and "pending" before it started).
"""
from __future__ import annotations

import collections
from typing import Iterable

from labkit.experiment.result import RunResult

COUNTS = "finished"
# how a left-out status reads beside a count; any other reads as itself
NAMES = {"running": "unfinished", "pending": "unfinished"}


def counts(run) -> bool:
    """The rule: a run counts only when its status is "finished"."""
    return run.status == COUNTS


def counted(runs: Iterable) -> list:
    """The runs that count, in their order."""
    return [r for r in runs if counts(r)]


def left_out(runs: Iterable) -> dict[str, int]:
    """How many runs are left out, by how they ended ({"diverged": 1, "failed": 2}; alphabetical)."""
    tally = collections.Counter(NAMES.get(r.status, r.status) for r in runs if not counts(r))
    return dict(sorted(tally.items()))


def left_out_text(runs: Iterable) -> str:
    """The left-out runs named: '1 diverged, 2 stopped'; '' when every run counts."""
    return ", ".join(f"{n} {status}" for status, n in left_out(runs).items())


def runs_text(runs: Iterable) -> str:
    """How many runs a mean is over: '3' when all count, else '2 of 3 (1 diverged)'."""
    runs = list(runs)
    kept, why = len(counted(runs)), left_out_text(runs)
    return f"{kept} of {len(runs)} ({why})" if why else str(kept)


def run_of(outcome) -> RunResult:
    """A sweep cell's result (labkit.sweep.execute.CellOutcome), or where none could be read a
    stand-in with the cell's config, "failed" (or "running" for a cell not started: it reads
    "unfinished"), so that it is left out and named with the others, never silently missing."""
    if outcome.result is not None:
        return outcome.result
    return RunResult(config=outcome.cell.config.to_dict(), run_id=outcome.run_id,
                     status="failed" if outcome.status == "failed" else "running",
                     failure={"kind": "error", "message": outcome.error} if outcome.error else None)
