"""labkit.analysis.model_probes, labkit.teaching.forgetting and labkit.teaching.non_identifiability: the
computations behind notebooks 00 and 01."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from labkit import ConfigError, RunConfig, run
from labkit.analysis.model_probes import head_scores, head_splits, inspected_run, winner_agreement
from labkit.analysis.paired import paired_runs
from labkit.data import load_dataset, make_scenario
from labkit.experiment.result import RunResult
from labkit.losses import bce_kd, joint_kd, per_task_kd
from labkit.teaching.forgetting import final_frame, split_frame
from labkit.teaching.non_identifiability import bias_sums_under_sgd, task_masses, within_task_kd


class FixedHeads(torch.nn.Module):
    """A 'model' whose heads give fixed logits, one row per input index (x holds the indices)."""

    def __init__(self, heads):
        super().__init__()
        self.heads = heads

    def head_logits(self, x):
        return [h[x.long()] for h in self.heads]


def scenario_of(test_y_per_task, offsets):
    tasks, start = [], 0
    for y, offset in zip(test_y_per_task, offsets):
        n = len(y)
        tasks.append(SimpleNamespace(test_x=torch.arange(start, start + n), test_y=torch.tensor(y), offset=offset))
        start += n
    return SimpleNamespace(tasks=tasks, multi_head=True)


def test_head_scores_the_winner_is_the_head_with_the_largest_logit_not_the_largest_mean():
    # head 1 has the higher mean logit on every input, head 2 the single largest logit
    head_1 = torch.tensor([[1.0, 1.0], [1.0, 1.0]])
    head_2 = torch.tensor([[3.0, -3.0], [-3.0, 3.0]])
    scores = head_scores(FixedHeads([head_1, head_2]), scenario_of([[0], [2]], [0, 2]), t=1)
    assert scores["logit_mean"] == pytest.approx([1.0, 0.0])
    assert scores["wins"] == pytest.approx([0.0, 1.0])
    assert sum(scores["mass"]) == pytest.approx(1.0)
    assert scores["mass"][1] > scores["mass"][0]
    lse = torch.logsumexp(head_2, dim=1).mean().item()
    assert scores["lse_mean"][1] == pytest.approx(lse)


def test_head_scores_batches_give_the_same_numbers():
    gen = torch.Generator().manual_seed(0)
    heads = [torch.randn(50, 2, generator=gen), torch.randn(50, 3, generator=gen)]
    scenario = scenario_of([[0] * 20, [2] * 30], [0, 2])
    whole = head_scores(FixedHeads(heads), scenario, t=1)
    batched = head_scores(FixedHeads(heads), scenario, t=1, batch_size=7)
    for key in whole:
        assert batched[key] == pytest.approx(whole[key])


def test_winner_agreement_counts_which_score_picks_the_winning_head():
    # image 0: head 2 is confident (one high, one very low logit) and wins with the lower mean;
    # image 1: head 1 has the higher mean and wins, head 2 the larger spread
    head_1 = torch.tensor([[1.0, 1.0], [2.0, 2.0]])
    head_2 = torch.tensor([[3.0, -3.0], [1.5, -3.0]])
    agreement = winner_agreement(FixedHeads([head_1, head_2]), scenario_of([[0], [2]], [0, 2]), t=1)
    assert agreement == pytest.approx({"mass": 1.0, "offset": 0.5, "confidence": 0.5})


def test_winner_agreement_batches_give_the_same_shares():
    gen = torch.Generator().manual_seed(2)
    heads = [torch.randn(40, 2, generator=gen) * 3, torch.randn(40, 2, generator=gen) * 3 + 1]
    scenario = scenario_of([[0] * 25, [2] * 15], [0, 2])
    whole = winner_agreement(FixedHeads(heads), scenario, t=1)
    assert winner_agreement(FixedHeads(heads), scenario, t=1, batch_size=6) == pytest.approx(whole)
    assert 0.0 <= whole["offset"] <= 1.0 and whole["mass"] >= 0.5


def test_head_splits_rows_and_the_accuracy_identity():
    # task 0: class 0 images called (0, 0, 1), class 1 images called (0, 0, 0): accuracy 2/6, below chance
    head = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    y = [0, 0, 0, 1, 1, 1]
    splits = head_splits(FixedHeads([head]), scenario_of([y], [0]), t=0)
    assert splits[0] == [pytest.approx([2 / 3, 1 / 3]), pytest.approx([1.0, 0.0])]
    accuracy = (splits[0][0][0] + 1 - splits[0][1][0]) / 2
    assert accuracy == pytest.approx(2 / 6)
    assert splits[0][1][0] > splits[0][0][0]  # below chance: b's images called a more often than a's


def test_inspected_run_is_the_ordinary_run_and_probes_the_model_after_each_task():
    config = RunConfig(dataset="digits", scenario="class-il", tasks=2, epochs=1, knn_k=0, seed=3)
    result, probed = inspected_run(config, head_splits)
    plain = run(config)
    assert result.acc_taw == plain.acc_taw and result.acc_tag == plain.acc_tag
    assert len(probed) == 2 and len(probed[1]) == 2  # after task t: one split per task seen
    # the rebuilt model is the run's: the task-aware accuracy it implies is the run's
    scenario = make_scenario(load_dataset("digits", "data"), "class-il", 2, 3)
    for u, split in enumerate(probed[1]):
        counts = torch.bincount(scenario.tasks[u].test_y - scenario.tasks[u].offset).double()
        hits = sum(counts[a].item() * split[a][a] for a in range(len(split)))
        assert hits / counts.sum().item() == pytest.approx(result.acc_taw[1][u])


def test_inspected_run_refuses_a_pretrained_backbone():
    with pytest.raises(ConfigError, match="pretrained"):
        inspected_run(RunConfig(pretrained="auto", tasks=2, epochs=1), head_scores)


def test_task_masses_sum_to_one_and_see_only_relative_shifts():
    gen = torch.Generator().manual_seed(0)
    heads = [torch.randn(4, 3, generator=gen), torch.randn(4, 2, generator=gen)]
    masses = task_masses(heads, T=2.0)
    assert masses.sum(1) == pytest.approx(torch.ones(4))
    assert task_masses([h + 5.0 for h in heads], T=2.0) == pytest.approx(masses)
    assert not torch.allclose(task_masses([heads[0] + 5.0, heads[1]], T=2.0), masses)


def test_within_task_kd_is_per_task_kd_per_sample():
    gen = torch.Generator().manual_seed(1)
    student = [torch.randn(5, 3, generator=gen, dtype=torch.float64) for _ in range(2)]
    teacher = [torch.randn(5, 3, generator=gen, dtype=torch.float64) for _ in range(2)]
    per_sample = within_task_kd(student, teacher, T=2.0)
    assert per_sample.shape == (5, 2)
    assert per_sample.sum(1).mean().item() == pytest.approx(per_task_kd(student, teacher, T=2.0, eps=0.0).item())


@pytest.mark.parametrize("name, head_fixed, total_fixed", [
    ("joint", False, True), ("per_task", True, True), ("bce", False, False)])
def test_bias_sums_which_sums_each_loss_leaves_alone(name, head_fixed, total_fixed):
    loss = {"joint": lambda s, t: joint_kd(torch.cat(s, 1), torch.cat(t, 1)),
            "per_task": lambda s, t: per_task_kd(s, t), "bce": bce_kd}[name]
    sums = bias_sums_under_sgd(loss, teacher_offsets=[0.0, -2.0, 1.0], steps=50)
    assert sums.shape == (51, 3) and np.all(sums[0] == 0)
    head_drift = np.abs(sums - sums[0]).max()
    total_drift = np.abs(sums.sum(1)).max()
    assert (head_drift < 1e-9) == head_fixed
    assert (total_drift < 1e-9) == total_fixed


def result_of(seed, taw_rows, tag_rows, dataset="digits", tasks=2, scenario="class-il"):
    return RunResult(config={"seed": seed, "dataset": dataset, "tasks": tasks, "scenario": scenario},
                     acc_taw=taw_rows, acc_tag=tag_rows, status="finished")


def test_final_frame_gives_chance_in_the_headers_and_mean_sd_cells():
    runs = [result_of(0, [[1.0], [0.5, 0.9]], [[1.0], [0.0, 0.9]]),
            result_of(1, [[1.0], [0.7, 0.9]], [[1.0], [0.0, 0.8]])]
    table = final_frame({"finetune": runs})
    # digits in 2 tasks of 5 classes: task-aware chance 1/5, task-agnostic 1/10 after the last task
    assert ("task-aware", "accuracy (chance 20)") in table.columns
    assert ("task-agnostic", "accuracy (chance 10)") in table.columns
    assert table.loc["finetune", ("task-aware", "accuracy (chance 20)")] == "75.0 ± 7.1"
    assert table.loc["finetune", ("task-aware", "forgetting")] == "40.0 ± 14.1"


def test_split_frame_one_row_per_cell():
    result = result_of(0, [[1.0], [0.25, 0.9]], [[1.0], [0.0, 0.9]])
    splits = [[[[1.0, 0.0], [0.0, 1.0]]], [[[0.25, 0.75], [0.75, 0.25]], [[0.9, 0.1], [0.1, 0.9]]]]
    frame = split_frame(result, splits, [(1, 0)])
    assert frame.loc[(2, 1)].tolist() == [25.0, 25.0, 75.0]


def test_paired_runs_drop_a_seed_missing_on_one_side():
    a = [result_of(s, [[1.0], [0.6 + s / 10, 0.9]], [[1.0], [0.0, 0.9]]) for s in (0, 1, 2)]
    b = [result_of(s, [[1.0], [0.5, 0.9]], [[1.0], [0.0, 0.9]]) for s in (0, 2)]
    difference = paired_runs(a, b, lambda r: r.acc_taw[-1][0])
    assert difference.n == 2
    assert difference.mean == pytest.approx((0.1 + 0.3) / 2)
