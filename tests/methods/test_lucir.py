"""LUCIR: cosine heads, herding exemplars, its loss terms, the six variants and resume."""
import math
from types import SimpleNamespace

import pytest
import torch
from helpers import QUICK, Stepper, Stop, stop_after_task

from labkit import RunConfig, RunDir, run
from labkit.data.types import Scenario, Task
from labkit.losses import LOSSES, bce_onehot
from labkit.methods import METHODS, TaskContext
from labkit.methods.exemplars import ExemplarMemory, herding_selection
from labkit.methods.lucir import LUCIR_REMEDIES, less_forget, margin_ranking
from labkit.models import CosineLinear, TaskHeads
from labkit.protocols.presets import PRESETS
from labkit.errors import ConfigError

NAMES = ["lucir", "lucir-s", "lucir-sr", "lucir-br", "lucir-br2", "lucir-bsr"]
FAST = QUICK.replace(epochs=1, batch_size=64)



def test_cosine_logits_are_bounded_by_sigma_and_scale_invariant():
    g = torch.Generator().manual_seed(0)
    heads = TaskHeads(6, kind="cosine")
    heads.add_head(3)
    heads.add_head(2)
    with torch.no_grad():
        heads.scale.fill_(7.0)
    f = torch.randn(10, 6, generator=g)
    z = heads.concat(f)
    assert z.shape == (10, 5) and z.abs().max() <= 7.0 + 1e-6
    assert torch.allclose(heads.concat(3.5 * f), z, atol=1e-6)
    with torch.no_grad():
        heads.heads[0].weight.mul_(0.1)
    assert torch.allclose(heads.concat(f), z, atol=1e-6)
    # one sigma shared by all heads; cosine heads keep a weight and have no bias
    assert [n for n, _ in heads.named_parameters()] == ["scale", "heads.0.weight", "heads.1.weight"]
    assert CosineLinear(6, 3)(f).abs().max() <= 1.0 + 1e-6


def test_herding_picks_the_sample_nearest_the_mean_first_and_beats_random():
    g = torch.Generator().manual_seed(0)
    features = torch.randn(200, 8, generator=g) + torch.linspace(0, 2, 8)
    phi = torch.nn.functional.normalize(features.double(), dim=1)
    mu = phi.mean(0)
    chosen = herding_selection(features, 10)
    assert chosen[0] == (phi - mu).norm(dim=1).argmin() and len(set(chosen.tolist())) == 10
    herd_error = (phi[chosen].mean(0) - mu).norm()
    random_errors = [(phi[torch.randperm(200, generator=g)[:10]].mean(0) - mu).norm() for _ in range(20)]
    assert herd_error < min(random_errors)


def test_memory_budget_is_respected_and_balanced_and_shrinks_in_herding_order():
    g = torch.Generator().manual_seed(0)
    memory = ExemplarMemory(total=30)
    x, feats = torch.randn(100, 1, 2, 2, generator=g), torch.randn(100, 4, generator=g)
    memory.update(x, torch.arange(100) % 5, feats)
    first = memory.store[0][0]
    assert len(memory) == 30 and all(len(cy) == 6 for _, cy in memory.store.values())
    memory.update(x, torch.arange(100) % 5 + 5, feats)  # five new classes: 3 each
    assert len(memory) == 30 and all(len(cy) == 3 for _, cy in memory.store.values())
    assert torch.equal(memory.store[0][0], first[:3])
    fixed = ExemplarMemory(per_class=4)
    fixed.update(x, torch.arange(100) % 5, feats)
    fixed.update(x, torch.arange(100) % 5 + 5, feats)
    assert len(fixed) == 40


def test_memory_through_training_matches_the_budget():
    s = Stepper(FAST.replace(method="lucir", tasks=2, method_params={"memory": 50}))
    for t in range(2):
        s.learn()
        counts = torch.bincount(s.method.exemplars.tensors("cpu")[1]).tolist()
        assert sum(counts) <= 50 and len(counts) == 5 * (t + 1) and max(counts) == min(counts)


def test_less_forget_is_zero_when_student_equals_teacher():
    f = torch.randn(4, 5)
    assert less_forget(f, f.clone()).item() == pytest.approx(0.0, abs=1e-6)
    assert less_forget(f, -f).item() == pytest.approx(2.0, abs=1e-6)
    assert less_forget(f, 3 * f).item() == pytest.approx(0.0, abs=1e-6)


def test_margin_ranking_hand_made_scores():
    # classes 0, 1 old; 2, 3, 4 new; K = 2, m = 0.5
    cos = torch.tensor([[0.9, 0.0, 0.1, 0.2, 0.3],     # old sample, margins hold: 0
                        [0.0, 0.4, 0.2, 0.5, 0.1],     # old, top-2 new 0.5, 0.2: 0.6 + 0.3
                        [0.0, 0.0, 0.0, 0.0, 0.9]])    # new sample: ignored
    y = torch.tensor([0, 1, 4])
    assert margin_ranking(cos[:1], y[:1], 2, 0.5, 2).item() == 0.0
    assert margin_ranking(cos, y, 2, 0.5, 2).item() == pytest.approx((0 + 0 + 0.6 + 0.3) / 4)
    assert margin_ranking(cos[2:], y[2:], 2, 0.5, 2).item() == 0.0  # no old sample


def two_heads_context(kind: str) -> TaskContext:
    """Task 1 of two 2-class tasks; the features are the inputs; sigma = 2; head 0's class
    vectors are e_1, e_2 and head 1's -e_1, -e_2, so a unit input's cosines are its coordinates."""
    empty = torch.empty(0)
    tasks = [Task(u, [2 * u, 2 * u + 1], *[empty] * 6) for u in range(2)]
    heads = TaskHeads(2, kind="cosine")
    for sign in (1.0, -1.0):
        heads.add_head(2)
        with torch.no_grad():
            heads.heads[-1].weight.copy_(sign * torch.eye(2))
    with torch.no_grad():
        heads.scale.fill_(2.0)
    model = SimpleNamespace(features=lambda x: x, heads=heads)
    scenario = Scenario(kind, tasks, [0, 1, 2, 3], 4, (1, 1, 2))
    return TaskContext(model, scenario, 1, LOSSES.get("ce"), torch.device("cpu"))


# x_A = (0.6, 0.8), y_A = 1 (head 0): logits sigma cos = (1.2, 1.6 | -1.2, -1.6)
# x_B = (1, 0),     y_B = 2 (head 1): logits sigma cos = (2, 0 | -2, 0)
X, Y = torch.tensor([[0.6, 0.8], [1.0, 0.0]]), torch.tensor([1, 2])
ALL_HEADS_CE = ((math.log(math.exp(1.2) + math.exp(1.6) + math.exp(-1.2) + math.exp(-1.6)) - 1.6)
                + (math.log(math.exp(2) + 2 + math.exp(-2)) + 2)) / 2                        # 2.41295
OWN_HEAD_CE = ((math.log(math.exp(1.2) + math.exp(1.6)) - 1.6)          # head 0, local label 1
               + (math.log(math.exp(-2) + 1) + 2)) / 2                  # head 1 (-2, 0), local label 0: 1.31997


def test_cross_entropy_is_over_all_heads_concatenated_in_task_il_by_default():
    """The released code's CE (lucir.py, Eq. 1): one softmax over every head's scaled cosines,
    in the task-IL protocol of the rethinking presets too; the method has no teacher yet, so its
    loss is the CE alone."""
    loss = METHODS.get("lucir")().training_loss(two_heads_context("task-il"), X, Y)
    assert loss.item() == pytest.approx(ALL_HEADS_CE, rel=1e-6)
    assert ALL_HEADS_CE == pytest.approx(2.41295, abs=1e-5)


def test_own_head_option_scores_each_sample_within_its_own_head():
    method = METHODS.get("lucir")(ce_over="own-head")
    assert method.training_loss(two_heads_context("task-il"), X, Y).item() == pytest.approx(OWN_HEAD_CE, rel=1e-6)
    assert OWN_HEAD_CE == pytest.approx(1.31997, abs=1e-5)
    # class-IL's task loss has only the all-heads reading: there the two options agree
    assert method.training_loss(two_heads_context("class-il"), X, Y).item() == pytest.approx(ALL_HEADS_CE, rel=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_every_variant_takes_the_released_cross_entropy_by_default(name):
    method = METHODS.get(name)()
    ctx = two_heads_context("task-il")
    assert method.ce_over == "all-heads" and PRESETS.get("rethinking-digits").scenario == "task-il"
    logits = torch.cat([ctx.model.heads.scale * c for c in ctx.model.heads.cosines(X)], 1)
    prediction = method.remedy.prediction * bce_onehot(logits, Y)  # -br2's term beside the CE
    assert (method.training_loss(ctx, X, Y) - prediction).item() == pytest.approx(ALL_HEADS_CE, rel=1e-6)
    with pytest.raises(ConfigError, match="method_params.ce_over"):
        RunConfig(method=name, method_params={"ce_over": "task"}).validate()


def test_every_variant_is_registered_with_cosine_heads():
    assert all(METHODS.get(n).head_kind == "cosine" for n in NAMES)
    assert METHODS.get("lucir-bsr").remedy == LUCIR_REMEDIES["bsr"] and METHODS.get("lucir-s").remedy.less_forget == 0


@pytest.mark.parametrize("name", NAMES)
def test_variant_runs_two_tasks_with_finite_loss_and_frozen_old_heads(name):
    s = Stepper(FAST.replace(method=name))
    s.learn()
    ctx = s.begin()
    x, y = s.method.training_data(ctx)
    assert len(y) == len(ctx.task.train_y) + 5 * 20  # task data + 20 exemplars of each old class
    s.model.zero_grad()
    idx = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))[:64]
    loss = s.method.training_loss(ctx, x[idx], y[idx])
    loss.backward()
    assert torch.isfinite(loss)
    assert s.model.heads.heads[0].weight.grad is None and s.model.heads.scale.grad is not None
    taw, tag = s.finish(ctx)
    assert all(math.isfinite(a) for a in tag) and len(taw) == 2


def test_task_il_runs_and_the_adaptive_weight_follows_the_class_ratio():
    s = Stepper(FAST.replace(method="lucir-sr", scenario="task-il"))
    s.learn()
    ctx = s.begin()
    assert s.method.adaptive_weight(ctx) == pytest.approx(5.0 * math.sqrt(5 / 5))
    s.finish(ctx)


def test_resume_restores_the_exemplar_memory(tmp_path):
    config = FAST.replace(method="lucir-bsr", tasks=3)
    reference = run(config)
    run_dir = RunDir.create(config.to_dict(), tmp_path)

    with pytest.raises(Stop):
        run(config, stop_after_task(1), run_dir=run_dir)
    state = torch.load(run_dir.path / "checkpoint.pt", weights_only=True)
    assert torch.bincount(state["method"]["exemplars"]["y"]).tolist() == [20] * 7  # tasks of 4 + 3 classes
    resumed = run(RunConfig.from_dict(run_dir.config()), run_dir=run_dir)
    assert resumed.acc_tag == reference.acc_tag and resumed.acc_taw == reference.acc_taw
    assert resumed.head_stats[-1]["bias_mean"] == [0.0, 0.0, 0.0]
