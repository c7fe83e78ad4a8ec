"""One rule for which runs count (labkit.analysis.counted): only a finished run enters a mean or a pair. A
failed run (here after 2 of 5 tasks), a stopped and a diverged one are left out of seed_table,
effect_rows, paired_runs, reproduce's pairs and `compare`'s final table, and each is named beside
the count. Every left-out run here scores 1.0, so one that slipped into a mean would show."""
from __future__ import annotations

import argparse
import statistics

import pytest

from labkit.analysis import counted, effects
from labkit.analysis.paired import paired_runs, seed_pairs
from labkit.analysis.tables import markdown_table, seed_table
from labkit.cli import sweep_commands
from labkit.config import RunConfig
from labkit.experiment.result import RunResult
from labkit.sweep.execute import CellOutcome
from labkit.sweep.grid import Cell
from labkit.teaching import reproduce
from labkit.teaching.paper_claims import CLAIMS

TASKS = 5
FINISHED = {0: 0.5, 1: 0.7}  # seed -> accuracy in every cell of its matrix
LEFT_OUT = {2: "failed", 3: "stopped", 4: "diverged"}  # seed -> status; 2 of 5 tasks done, accuracy 1.0
SEEDS = [*FINISHED, *LEFT_OUT]
MEAN = (0.6, statistics.stdev(FINISHED.values()))  # over the finished runs alone
NAMED = "2 of 5 (1 diverged, 1 failed, 1 stopped)"


def made(seed: int, value: float | None = None, config: dict | None = None) -> RunResult:
    """Seed `seed`'s run as FINISHED and LEFT_OUT say (`value`: finished, at that accuracy)."""
    status = "finished" if value is not None else LEFT_OUT.get(seed, "finished")
    value = value if value is not None else FINISHED.get(seed, 1.0)
    done = TASKS if status == "finished" else 2
    rows = [[value] * (t + 1) for t in range(done)]
    config = config or {"seed": seed, "dataset": "digits", "scenario": "class-il", "tasks": TASKS}
    return RunResult(config=config, acc_taw=rows, acc_tag=rows, knn_acc=[value] * done, status=status,
                     failure=None if status in ("finished", "stopped") else {"message": f"{status} in task 3"})


def outcome(key: dict, result: RunResult | None, error: str | None = None) -> CellOutcome:
    return CellOutcome(Cell(key, RunConfig(seed=key["seed"], tasks=TASKS)), f"run-{key}", result, error)


def test_a_run_counts_only_when_it_finished_and_the_others_are_named():
    runs = [made(s) for s in SEEDS]
    assert [r.config["seed"] for r in counted.counted(runs)] == [0, 1]
    assert counted.runs_text(runs) == NAMED
    assert counted.runs_text(runs[:2]) == "2"
    assert counted.runs_text([made(0), RunResult(config={}, status="running")]) == "1 of 2 (1 unfinished)"
    assert counted.left_out_text(runs[:2]) == ""
    no_result = outcome({"seed": 5}, None, "ValueError: boom")
    assert counted.run_of(no_result).status == "failed" and counted.runs_text([no_result]) == "0 of 1 (1 failed)"


def test_seed_table_means_only_finished_runs():
    (row,) = seed_table({"lwf": [made(s) for s in SEEDS]})
    assert row["taw_total_average_accuracy"] == pytest.approx(MEAN) and row["tag_total_average_accuracy"] == pytest.approx(MEAN)
    assert (row["seeds"], row["counted"], row["diverged"], row["runs"]) == (5, 2, 1, NAMED)
    table = markdown_table(seed_table({"lwf": [made(s) for s in SEEDS], "none": [made(2), made(3)]}))
    assert f"| lwf | 60.0 ± 14.1 | 0.0 ± 0.0 | 60.0 ± 14.1 | 0.0 ± 0.0 | {NAMED} |" in table
    assert "| none | - | - | - | - | 0 of 2 (1 failed, 1 stopped) |" in table


def test_effect_rows_mean_and_pair_only_finished_runs():
    outcomes = ([outcome({"method": "finetune", "seed": s}, made(s, 0.4)) for s in [*SEEDS, 5]]
                + [outcome({"method": "lwf", "seed": s}, made(s)) for s in SEEDS]
                + [outcome({"method": "lwf", "seed": 5}, None, "ValueError: boom")])  # nothing could be read
    base, lwf = effects.effect_rows(outcomes, {"method": "finetune"})
    assert base["runs"] == "6" and lwf["runs"] == "2 of 6 (1 diverged, 2 failed, 1 stopped)"
    assert lwf["seeds"] == [0, 1] and lwf["mean"]["taw_total_average_accuracy"] == pytest.approx(MEAN)
    d = lwf["vs"]["tag_total_average_accuracy"]
    assert d.n == 2 and d.mean == pytest.approx(0.2)
    assert "2 of 6 (1 diverged, 2 failed, 1 stopped)" in effects.markdown([base, lwf])


@pytest.mark.parametrize("order", ["a-b", "b-a"])
def test_paired_runs_pair_only_seeds_where_both_runs_finished(order):
    a, b = [made(s) for s in SEEDS], [made(s, 0.4) for s in reversed(SEEDS)]
    if order == "b-a":
        a, b = b, a
    assert sorted(x.config["seed"] for x, _ in seed_pairs(a, b)) == [0, 1]
    d = paired_runs(a, b, lambda r: r.summary("taw")["final_average_accuracy"])
    assert d.n == 2 and d.mean == pytest.approx(0.2 if order == "a-b" else -0.2)
    assert paired_runs([made(2), made(3), made(4)], b, lambda r: 0.0) is None


def test_reproduce_pairs_only_finished_runs_and_names_the_others():
    claim = CLAIMS.get("lwf-bsr-taw")
    treatment, baseline = claim.labels
    outcomes = {claim.cpu.name: [outcome({"arm": treatment, "seed": s}, made(s)) for s in SEEDS]
                + [outcome({"arm": baseline, "seed": s}, made(s, 0.4)) for s in SEEDS]}
    result = reproduce.run_claim(claim, "cpu", outcomes)
    assert result.difference.n == 2 and result.difference.mean == pytest.approx(0.2)
    assert result.runs == "2 of 5 seeds (1 diverged, 1 failed, 1 stopped)" and result.row()["seeds"] == result.runs
    outcomes[claim.cpu.name][0] = outcome({"arm": treatment, "seed": 0}, None, "ValueError: boom")
    assert reproduce.run_claim(claim, "cpu", outcomes).runs == "1 of 5 seeds (1 diverged, 2 failed, 1 stopped)"


def test_compare_averages_only_finished_runs_and_names_the_others(monkeypatch, capsys, tmp_path):
    def execute(name, cells, args):
        return [outcome(c.key, None, "ValueError: boom") if (c.key["row"], c.key["seed"]) == ("joint", 0)
                else CellOutcome(c, f"run-{i}", made(c.key["seed"], config=c.config.to_dict()))
                for i, c in enumerate(cells)]

    monkeypatch.setattr(sweep_commands, "_execute", execute)
    args = argparse.Namespace(name="dlcft-digits-class-il", seeds=",".join(map(str, SEEDS)), epochs=None, device=None,
                              data_root=None, runs_dir=tmp_path)
    assert sweep_commands.cmd_compare(args) == 1  # a failed run
    table = {line.split(" | ")[0].strip("| "): line for line in capsys.readouterr().out.splitlines()}
    assert table["finetune"] == f"| finetune | 60.0 ± 14.1 | 0.0 ± 0.0 | 60.0 ± 14.1 | {NAMED} |"
    assert table["joint"] == "| joint | 70.0 ± 0.0 | 0.0 ± 0.0 | 70.0 ± 0.0 | 1 of 5 (1 diverged, 2 failed, 1 stopped) |"


def test_notebook_helpers_average_only_finished_runs():
    from labkit.teaching import dlcft_comparison, forgetting

    runs = {"lwf": [made(s) for s in SEEDS]}
    frame = forgetting.final_frame(runs)
    assert frame.loc["lwf", ("task-aware", "accuracy (chance 50)")] == "60.0 ± 14.1"
    assert frame.loc["lwf", ("", "runs")] == NAMED
    table = dlcft_comparison.scenario_table(runs, "class-il")
    assert table.loc["lwf", "accuracy"] == pytest.approx(60.0) and table.loc["lwf", "runs"] == NAMED
    assert dlcft_comparison.final_by_seed(runs["lwf"], "class-il") == pytest.approx({0: 0.5, 1: 0.7})
    assert list(dlcft_comparison.accuracy_after_each_task(runs)["lwf"]) == pytest.approx([60.0] * TASKS)
