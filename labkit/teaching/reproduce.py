"""`python -m labkit reproduce`: every claim of labkit.teaching.paper_claims run by the kit itself, paired by
seed, with the paper's own figure beside it and a verdict.

For a claim of two arms, each protocol's cells (every arm of every claim on it, once per seed) run
as one stored sweep (labkit.sweep.execute), so a second call reads them back and prints at once;
a study claim stores its per-seed values in RUNS_DIR/reproduce/<scale>/<claim>.json. Per claim:

    d_s = metric(treatment, s) - metric(baseline, s)     over the seeds where both arms' runs count
    verdict: "shown"         the 95% interval of mean d excludes 0 on the paper's side
             "opposite"      it excludes 0 on the other side
             "not separated" it holds 0 (or fewer than 2 seeds count)

A run counts only when it finished (labkit.analysis.counted); a diverged, failed, stopped or unfinished run
drops its seed and is named beside the count: '8 of 10 seeds (1 diverged, 1 failed)'.

Quick mode (tests): every protocol at 1 epoch on 2 seeds, so only that the loop works is shown.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from labkit.analysis.counted import left_out_text, run_of
from labkit.analysis.effects import run_metric
from labkit.analysis.paired import PairedDifference, paired_difference, paired_runs, seed_pairs
from labkit.experiment.result import RunResult
from labkit.errors import ConfigError
from labkit.sweep.execute import CellOutcome, check_resources, run_sweep, stored_outcomes
from labkit.sweep.grid import Cell, typed_params
from labkit.sweep.record import auto_name, list_sweeps
from labkit.teaching.paper_claims import CLAIMS, PAPERS, PaperClaim, Protocol, fields_of

SCALES = ("cpu", "gpu")
QUICK = dict(epochs=1)
QUICK_SEEDS = (0, 1)
VERDICTS = {1: "shown", -1: "opposite", 0: "not separated"}


@dataclass(frozen=True)
class ClaimResult:
    claim: PaperClaim
    protocol: Protocol
    difference: PairedDifference | None  # None: no seed where both arms' runs count
    runs: str  # '10 of 10 seeds' or '8 of 10 seeds (2 diverged)' (pairs_text)

    @property
    def verdict(self) -> str:
        d = self.difference
        if d is None or not d.separated:
            return VERDICTS[0]
        return VERDICTS[1] if (d.mean > 0) == (self.claim.direction > 0) else VERDICTS[-1]

    def row(self) -> dict[str, str]:
        c, d = self.claim, self.difference
        a, b = c.labels
        return {"claim": c.key, "paper": c.paper, "sentence": c.sentence,
                "comparison": f"{c.metric}: {a} - {b} (paper: {'higher' if c.direction > 0 else 'lower'})",
                "protocol": self.protocol.text, "seeds": self.runs,
                "labkit": "no finished pair" if d is None else d.text(*((100, " points", 1) if c.in_points else (1, "", 3))),
                "paper's figure": c.paper_figure(), "verdict": self.verdict,
                "to test it at the paper's scale": "" if self.verdict == "shown" or c.gpu is None
                else f"--scale gpu ({c.gpu.text})"}


def select(papers: list[str]) -> list[PaperClaim]:
    """The claims of these papers (keys of paper_claims.PAPERS; all when empty)."""
    for name in papers:
        if name not in PAPERS:
            raise ConfigError("paper", name, f"one of {', '.join(PAPERS)}")
    wanted = {PAPERS[name] for name in papers} or set(PAPERS.values())
    return [CLAIMS.get(key) for key in CLAIMS if CLAIMS.get(key).paper in wanted]


def protocol_of(claim: PaperClaim, scale: str) -> Protocol:
    if scale not in SCALES:
        raise ConfigError("scale", scale, f"one of {', '.join(SCALES)}")
    if scale == "gpu" and claim.gpu is None:
        return claim.cpu
    return claim.gpu if scale == "gpu" else claim.cpu


def protocol_cells(protocol: Protocol, quick: bool) -> list[Cell]:
    """One cell per arm of every claim on `protocol` (each arm once) and seed (the union of its
    claims' seeds); key {arm, seed}."""
    arms: dict[str, tuple[dict, set[int]]] = {}
    for claim in (CLAIMS.get(k) for k in CLAIMS):
        if protocol in (claim.cpu, claim.gpu) and not claim.study:
            for arm_, label in zip((claim.treatment, claim.baseline), claim.labels):
                arms.setdefault(label, (arm_, set()))[1].update(QUICK_SEEDS if quick else claim.seeds_on(protocol))
    return [Cell({"arm": label, "seed": seed},
                 typed_params(protocol.config(fields_of(arm_)).replace(seed=seed, **(QUICK if quick else {})).validate()))
            for label, (arm_, seeds) in arms.items() for seed in sorted(seeds)]


def check(claims: list[PaperClaim], scale: str, quick: bool) -> dict[str, list[Cell]]:
    """Every protocol's cells, built and validated before anything runs (ConfigError names the
    bad field); study claims need no cells."""
    protocols = {protocol_of(c, scale).name: protocol_of(c, scale) for c in claims if not c.study}
    return {name: protocol_cells(p, quick) for name, p in protocols.items()}


def pairs_text(a: list[RunResult], b: list[RunResult]) -> str:
    """How many seeds a paired difference is over, of the seeds either arm ran, and the runs left
    out: '3 of 4 seeds (1 diverged)' (labkit.analysis.counted)."""
    seeds = {r.config["seed"] for r in a + b}
    why = left_out_text(a + b)
    return f"{len(seed_pairs(a, b))} of {len(seeds)} seeds" + (f" ({why})" if why else "")


def judge(claim: PaperClaim, protocol: Protocol, a: list[RunResult], b: list[RunResult]) -> ClaimResult:
    """The claim on these runs of its treatment (a) and baseline (b): d_s over the seeds where
    both runs count (labkit.analysis.paired.paired_runs), and the seeds it is over (pairs_text)."""
    difference = paired_runs(a, b, lambda r: run_metric(r, claim.metric))
    return ClaimResult(claim, protocol, difference, pairs_text(a, b))


def run_claim(claim: PaperClaim, scale: str, outcomes: dict[str, list[CellOutcome]], quick: bool = False) -> ClaimResult:
    protocol = protocol_of(claim, scale)
    by_arm: dict[str, list[RunResult]] = {}
    for o in outcomes[protocol.name]:
        by_arm.setdefault(o.cell.key["arm"], []).append(run_of(o))
    seeds = set(QUICK_SEEDS if quick else claim.seeds_on(protocol))
    a, b = ([r for r in by_arm.get(label, []) if r.config["seed"] in seeds] for label in claim.labels)
    return judge(claim, protocol, a, b)


def study_path(claim: PaperClaim, scale: str, runs_dir: Path, quick: bool) -> Path:
    return Path(runs_dir) / "reproduce" / (scale + ("-quick" if quick else "")) / f"{claim.key}.json"


def sweep_name(protocol_name: str, cells: list[Cell], quick: bool) -> str:
    return auto_name(f"reproduce-{protocol_name}" + ("-quick" if quick else ""), cells)


def read_study(path: Path) -> dict[str, list[float]]:
    """A study's stored values, seed (as text) -> [treatment, baseline]; {} when there is no file.
    A file that is not such a record is refused naming it (ConfigError), never overwritten."""
    if not path.exists():
        return {}
    try:
        stored = json.loads(path.read_text())
        ok = isinstance(stored, dict) and all(
            isinstance(v, list) and len(v) == 2 and all(type(x) in (int, float) for x in v) for v in stored.values())
    except (OSError, ValueError) as error:
        raise ConfigError("study record", str(path), f"a readable JSON file ({error}); delete it to compute again") from None
    if not ok:
        raise ConfigError("study record", str(path), "an object of seed -> [treatment, baseline] numbers; delete it "
                                                     "to compute again")
    return stored


def run_study(claim: PaperClaim, scale: str, runs_dir: Path, quick: bool, compute: bool = True) -> ClaimResult:
    """A study claim: STUDIES[claim.study](seed, quick) -> (treatment value, baseline value) per
    seed, stored in runs_dir/reproduce/<scale>[-quick]/<claim>.json and read back from there
    (compute=False: only the seeds stored there, nothing run)."""
    protocol = protocol_of(claim, scale)
    seeds = list(QUICK_SEEDS if quick else claim.seeds_on(protocol))
    path = study_path(claim, scale, runs_dir, quick)
    stored = read_study(path)
    if not compute:
        seeds = [s for s in seeds if str(s) in stored]
    for seed in seeds:
        if str(seed) not in stored:
            stored[str(seed)] = list(STUDIES[claim.study](seed, quick))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(stored, indent=1))
    pairs = [stored[str(s)] for s in seeds]
    difference = paired_difference([p[0] for p in pairs], [p[1] for p in pairs]) if pairs else None
    wanted = QUICK_SEEDS if quick else claim.seeds_on(protocol)
    return ClaimResult(claim, protocol, difference, f"{len(seeds)} of {len(wanted)} seeds")


def reproduce(papers: list[str], scale: str = "cpu", runs_dir: Path = Path("data/runs"), *, quick: bool = False,
              workers: int | None = None, progress: bool = True, **execution) -> list[ClaimResult]:
    """Run (or read back) every selected claim; one ClaimResult each, in the registry's order.
    `execution`: run_sweep's address, cpus_per_run, gpus_per_run."""
    claims = select(papers)
    cells = check(claims, scale, quick)
    check_resources(execution.get("cpus_per_run", 1), execution.get("gpus_per_run"))
    outcomes = {name: run_sweep(sweep_name(name, protocol_cells_, quick), protocol_cells_, runs_dir, workers=workers,
                                progress=progress, **execution)
                for name, protocol_cells_ in cells.items()}
    return [run_study(c, scale, runs_dir, quick) if c.study else run_claim(c, scale, outcomes, quick) for c in claims]


def stored_results(papers: list[str], scale: str = "cpu", runs_dir: Path = Path("data/runs"), *,
                   quick: bool = False) -> list[tuple[PaperClaim, ClaimResult | None]]:
    """What an earlier `reproduce` stored, running nothing (the app): per claim its result over the
    runs that count so far, or None where nothing of it is stored."""
    claims, stored = select(papers), set(list_sweeps(runs_dir))
    outcomes = {name: stored_outcomes(sweep_name(name, cells, quick), runs_dir)
                for name, cells in check(claims, scale, quick).items() if sweep_name(name, cells, quick) in stored}
    results: list[tuple[PaperClaim, ClaimResult | None]] = []
    for c in claims:
        if c.study:
            done = study_path(c, scale, runs_dir, quick).is_file()
            results.append((c, run_study(c, scale, runs_dir, quick, compute=False) if done else None))
        else:
            results.append((c, run_claim(c, scale, outcomes, quick) if protocol_of(c, scale).name in outcomes else None))
    return results


COLUMNS = ("claim", "comparison", "protocol", "seeds", "labkit", "paper's figure", "verdict",
           "to test it at the paper's scale")


def markdown(results: list[ClaimResult]) -> str:
    """One row per claim, nothing cut: the paired difference in points, [95% interval]."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in results:
        row = r.row()
        lines.append("| " + " | ".join(row[c].replace("|", "/") for c in COLUMNS) + " |")
    return "\n".join(lines)


def write_csv(results: list[ClaimResult], path: Path) -> None:
    rows = [r.row() for r in results]
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]) if rows else ["claim"])
        writer.writeheader()
        writer.writerows(rows)


def curvature_study(seed: int, quick: bool) -> tuple[float, float]:
    """(CE's, MSE's) lambda_max kept at the end of training (vanishing_fisher.curvature_kept)."""
    from labkit.teaching.vanishing_fisher import curvature_kept

    settings = (dict(steps=100, every=50, fisher_samples=64, power_iters=5) if quick
                else dict(steps=1000, every=50, fisher_samples=256, power_iters=20))
    return curvature_kept("ce", seed=seed, **settings), curvature_kept("mse", seed=seed, **settings)


def correction_study(seed: int, quick: bool) -> tuple[float, float]:
    """(corrected, uncorrected) relative gradient bias (sampled_gradients.correction_bias)."""
    from labkit.teaching.sampled_gradients import correction_bias

    return correction_bias(seed, repeats=10 if quick else 100)


STUDIES: dict[str, Callable[[int, bool], tuple[float, float]]] = {
    "vanishing-curvature": curvature_study, "sampled-softmax-correction": correction_study}
