"""What a sweep shows: per group of cells (the same key but the seed), mean ± sample sd over the
seeds whose run counts (labkit.analysis.spread), and against a baseline group the paired-by-seed difference with its
95% interval (labkit.analysis.paired): same seed = same class order and initial weights, so the seed's
own effect cancels and differences far inside the spread of either mean can still be separated.

Which runs count is labkit.analysis.counted's rule: only finished ones. A diverged, failed, stopped or
unfinished run is left out of means and pairs and named in `runs` ('2 of 3 (1 failed)').
"""
from __future__ import annotations

import collections
import csv
import io
from pathlib import Path

from labkit.analysis.counted import counted, runs_text
from labkit.analysis.paired import PairedDifference, paired_difference
from labkit.analysis.spread import mean_sd, mean_sd_text
from labkit.experiment.metrics import KIND_ABBREVIATIONS
from labkit.experiment.result import RunResult
from labkit.sweep.execute import CellOutcome

# "<kind>_<summary field>": kind taw (task-aware) or tag (task-agnostic)
TOTAL_METRICS = ("taw_total_average_accuracy", "tag_total_average_accuracy",
          "taw_total_average_forgetting", "tag_total_average_forgetting")
FINAL_METRICS = ("taw_final_average_accuracy", "tag_final_average_accuracy",
          "taw_final_average_forgetting", "tag_final_average_forgetting")
SHORT = {"total_average_accuracy": "acc", "total_average_forgetting": "forg",
         "final_average_accuracy": "final acc", "final_average_forgetting": "final forg"}


def run_metric(result: RunResult, name: str) -> float:
    """The metric `name` of a run: "<kind>_<summary field>", e.g. tag_final_average_accuracy."""
    kind, field = name.split("_", 1)
    return result.summary(kind)[field]


def metric(outcome: CellOutcome, name: str) -> float:
    return run_metric(outcome.result, name)


def _group_key(outcome: CellOutcome) -> tuple:
    return tuple((k, v) for k, v in outcome.cell.key.items() if k != "seed")


def effect_rows(outcomes: list[CellOutcome], baseline: dict | None = None,
                metrics: tuple[str, ...] = TOTAL_METRICS) -> list[dict]:
    """One row per group, in the sweep's order: label, runs, {metric: (mean, sd)} (spread.mean_sd)
    and, where a baseline is given ({"method": "lwf"}: the group with those values and the rest of
    its key the same), {metric: PairedDifference} over the seeds where both runs count (None for the
    baseline itself or when no seed is shared). Only runs that count (labkit.analysis.counted) enter."""
    groups: dict[tuple, list[CellOutcome]] = collections.defaultdict(list)
    for outcome in outcomes:
        groups[_group_key(outcome)].append(outcome)
    rows = []
    for key, members in groups.items():
        kept = {o.cell.config.seed: o for o in counted(members)}
        row = {"group": members[0].cell.label, "key": dict(key), "runs": runs_text(members), "seeds": sorted(kept),
               "mean": {m: mean_sd([metric(o, m) for o in kept.values()]) for m in metrics}, "vs": {}}
        base_key = tuple({**dict(key), **baseline}.items()) if baseline else None
        row["is_baseline"] = base_key == key
        if base_key is not None and base_key != key and base_key in groups:
            base = {o.cell.config.seed: o for o in counted(groups[base_key])}
            shared = sorted(set(kept) & set(base))
            row["baseline"] = groups[base_key][0].cell.label
            row["vs"] = {m: paired_difference([metric(kept[s], m) for s in shared],
                                              [metric(base[s], m) for s in shared]) if shared else None
                         for m in metrics}
        rows.append(row)
    return rows


def _diff(d: PairedDifference | None) -> str:
    if d is None:
        return ""
    if d.n < 2:
        return f"{100 * d.mean:+.1f} (1 seed)"
    return f"{100 * d.mean:+.1f} [{100 * d.low:+.1f}, {100 * d.high:+.1f}] {d.positive}/{d.n}" + \
        ("" if d.separated else " n.s.")


def markdown(rows: list[dict], metrics: tuple[str, ...] = TOTAL_METRICS) -> str:
    """Percent: mean ± sd per metric, and per metric the paired difference against the baseline
    '[95% interval] seeds positive/seeds' ('n.s.': the interval holds 0, not separated)."""
    compared = any(r["vs"] for r in rows)
    names = [f"{KIND_ABBREVIATIONS[m.split('_', 1)[0]]} {SHORT[m.split('_', 1)[1]]}" for m in metrics]
    head = ["group"] + names + ([f"Δ {n}" for n in names] if compared else []) + ["runs"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["group"]] + [mean_sd_text(*r["mean"][m]) for m in metrics]
        if compared:
            cells += [_diff(r["vs"].get(m)) if r["vs"] else ("baseline" if r["is_baseline"] else "")
                      for m in metrics]
        lines.append("| " + " | ".join(cells + [r["runs"]]) + " |")
    return "\n".join(lines)


def to_csv(rows: list[dict], metrics: tuple[str, ...] = TOTAL_METRICS, path: Path | None = None) -> str:
    """One line per group and metric (fractions): mean, std, seeds, and the paired difference."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["group", "metric", "mean", "std", "runs", "baseline", "diff", "low", "high", "positive", "paired"])
    for r in rows:
        for m in metrics:
            d = r["vs"].get(m)
            writer.writerow([r["group"], m, *r["mean"][m], r["runs"], r.get("baseline", ""),
                             *((d.mean, d.low, d.high, d.positive, d.n) if d else ("",) * 5)])
    if path is not None:
        Path(path).write_text(out.getvalue())
    return out.getvalue()
