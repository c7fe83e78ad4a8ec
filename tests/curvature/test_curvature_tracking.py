"""Curvature tracking after each task (labkit.curvature.tracking): its figures against a dense
float64 Fisher built independently, a model left untouched, and the runner's hook (one entry per
task, training unchanged, kept across a resume, stored and drawn)."""
import json
import math

import pytest
import torch
from helpers import QUICK, Stop, stop_after_task
from torch import nn
from torch.func import functional_call, jacrev, vmap

from labkit import RunConfig, RunDir, run
from labkit.app.panels import curvature_reading
from labkit.cli.main import main
from labkit.curvature import curvature_after_task
from labkit.curvature.tracking import curvature_series, task_images
from labkit.data import load_dataset, make_scenario
from labkit.data.types import ArrayDataset
from labkit.experiment.result import RunResult
from labkit.experiment.runner import build_run_model, grow_heads
from labkit.methods import METHODS
from labkit.models import IncrementalNet
from labkit.errors import ConfigError
from labkit.views.plots import curvature_figure

TRACKED = QUICK.replace(epochs=1, knn_k=0, track_curvature=True)


class Tiny(nn.Module):
    """64 -> 6 -> 5 features: a few hundred parameters, so the dense Fisher fits in a test."""

    out_dim = 5

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, 6), nn.Tanh(), nn.Linear(6, 5))

    def forward(self, x):
        return self.net(x)


def tiny_setup(kind: str, images: int = 120):
    """A float64 scenario of `images` digits cut into 2 tasks, and a Tiny net with both heads."""
    full = load_dataset("digits")
    small = ArrayDataset("digits", full.train_x[:images].double(), full.train_y[:images],
                         full.test_x[:40].double(), full.test_y[:40], full.num_classes)
    scenario = make_scenario(small, kind, 2, seed=0)
    torch.manual_seed(0)
    model = IncrementalNet(Tiny())
    for t in range(2):
        grow_heads(model, scenario, t)
    return scenario, model.double()


def own_columns(scenario, label: int) -> slice:
    """The columns the loss reads for a sample of this label, worked out from the tasks' classes."""
    if scenario.kind != "task-il":
        return slice(0, None)
    task = next(task for task in scenario.tasks if label in task.classes)
    return slice(task.offset, task.offset + task.num_classes)


def dense_reference(model, scenario, x, y, likelihood: str, onehot_scale: float) -> tuple[float, float]:
    """lambda_max of F = 1/N sum_n J_n^T H_n J_n (eigvalsh) and sum_i 1/N sum_n (J_n^T r_n)_i^2 with
    r_n = p_n - e_argmax (categorical) or z_n - scale * e_argmax (Gaussian): per-sample Jacobians
    of the logits, float64."""
    params = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}

    def logits(p, xi):
        return functional_call(model, p, (xi[None],))[0]

    jac = vmap(jacrev(logits), in_dims=(None, 0))(params, x)
    jac = torch.cat([jac[n].flatten(2) for n in params], dim=2)  # (N, K, P)
    with torch.no_grad():
        z_all = model(x)
    fisher, diagonal = torch.zeros(jac.shape[2], jac.shape[2], dtype=torch.float64), 0.0
    for n in range(len(x)):
        cols = own_columns(scenario, int(y[n]))
        z, j = z_all[n, cols], jac[n, cols]
        e = torch.zeros_like(z)
        e[z.argmax()] = 1.0
        if likelihood == "categorical":
            p = torch.softmax(z, 0)
            h, r = torch.diag(p) - torch.outer(p, p), p - e
        else:
            h, r = torch.eye(len(z), dtype=z.dtype), z - onehot_scale * e
        fisher += j.T @ h @ j
        diagonal += float(((j.T @ r) ** 2).sum())
    return float(torch.linalg.eigvalsh(fisher / len(x))[-1]), diagonal / len(x)


@pytest.mark.parametrize("kind", ["task-il", "class-il", "data-il"])
@pytest.mark.parametrize("loss, likelihood, scale", [("ce", "categorical", 1.0), ("mse", "gaussian", 15.0)])
def test_figures_match_the_dense_fisher(kind, loss, likelihood, scale):
    """On all tasks seen (both), and on the task just learned (task 2 alone)."""
    scenario, model = tiny_setup(kind)
    seen = sum(len(task.train_y) for task in scenario.tasks)
    out = curvature_after_task(model, scenario, 1, loss, samples=10_000, iterations=300,
                               generator=torch.Generator().manual_seed(0))
    assert out["likelihood"] == likelihood
    x = torch.cat([task.train_x for task in scenario.tasks])
    y = torch.cat([task.train_y for task in scenario.tasks])
    newest = scenario.tasks[1]
    for prefix, (images, labels) in (("", (x, y)), ("newest_", (newest.train_x, newest.train_y))):
        eigenvalue, diagonal = dense_reference(model.eval(), scenario, images, labels, likelihood, scale)
        assert out[prefix + "images"] == len(labels)
        assert out[prefix + "max_eigenvalue"] == pytest.approx(eigenvalue, rel=1e-3)
        assert out[prefix + "diagonal_total"] == pytest.approx(diagonal, rel=1e-9)
    assert out["images"] == seen > out["newest_images"]


def test_after_the_first_task_the_task_just_learned_is_every_task_seen():
    scenario, model = tiny_setup("class-il")
    out = curvature_after_task(model, scenario, 0, "ce", generator=torch.Generator().manual_seed(0))
    assert [out[k] for k in ("max_eigenvalue", "diagonal_total", "images")] == \
        [out["newest_" + k] for k in ("max_eigenvalue", "diagonal_total", "images")]


def test_a_loss_that_is_no_likelihood_is_measured_with_the_softmax_likelihood():
    scenario, model = tiny_setup("class-il")
    ce, sparsemax = (curvature_after_task(model, scenario, 1, loss, generator=torch.Generator().manual_seed(3))
                     for loss in ("ce", "sparsemax"))
    assert sparsemax["likelihood"] == "categorical"
    assert (sparsemax["max_eigenvalue"], sparsemax["diagonal_total"]) == (ce["max_eigenvalue"], ce["diagonal_total"])


def test_the_subsample_is_seeded_and_drawn_from_the_tasks_asked_for():
    scenario, _ = tiny_setup("class-il", images=300)

    def draw(t, seed):
        return task_images(scenario, range(t + 1), 50, torch.Generator().manual_seed(seed))

    (x, y), (x_again, _), (x_other, _) = draw(1, 7), draw(1, 7), draw(1, 8)
    assert len(x) == 50 and torch.equal(x, x_again) and not torch.equal(x, x_other)
    pool = torch.cat([task.train_x for task in scenario.tasks]).flatten(1)
    matches = (x.flatten(1)[:, None] == pool[None]).all(-1)
    assert (matches.sum(1) >= 1).all() and len(torch.unique(matches.int().argmax(1))) == 50  # distinct images
    x0, y0 = draw(0, 7)
    assert set(y0.tolist()) <= set(scenario.tasks[0].classes) and set(y.tolist()) & set(scenario.tasks[1].classes)
    few = task_images(scenario, range(1), 10_000, torch.Generator().manual_seed(0))[0]
    assert len(few) == len(scenario.tasks[0].train_y)
    _, newest = task_images(scenario, range(1, 2), 10_000, torch.Generator().manual_seed(0))
    assert sorted(newest.tolist()) == sorted(scenario.tasks[1].train_y.tolist())  # task 2 alone, all of it


def test_the_model_and_the_global_rng_are_left_as_they_were():
    scenario, model = tiny_setup("task-il")
    model.train()
    model.heads.eval()  # a mixed state, which a blanket model.train() afterwards would lose
    model.backbone.net[1].weight.grad = torch.ones_like(model.backbone.net[1].weight)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    modes = [m.training for m in model.modules()]
    rng = torch.get_rng_state()
    curvature_after_task(model, scenario, 1, "ce", generator=torch.Generator().manual_seed(0))
    assert torch.equal(torch.get_rng_state(), rng)
    assert [m.training for m in model.modules()] == modes
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())
    assert torch.equal(model.backbone.net[1].weight.grad, torch.ones_like(model.backbone.net[1].weight))
    assert all(p.grad is None for n, p in model.named_parameters() if n != "backbone.net.1.weight")


def test_a_linearised_dlcft_model_is_measured_and_its_base_stays_in_eval_mode():
    config = RunConfig(dataset="digits", scenario="task-il", tasks=2, method="dlcft", loss="mse",
                       backbone="mlp-leaky", device="cpu")
    scenario = make_scenario(load_dataset("digits"), "task-il", 2, seed=0)
    model = build_run_model(config, scenario, METHODS.get("dlcft")(), None)
    grow_heads(model, scenario, 0)
    model.train()
    out = curvature_after_task(model, scenario, 0, "mse", samples=64, generator=torch.Generator().manual_seed(0))
    assert out["images"] == 64 and out["likelihood"] == "gaussian"
    assert out["max_eigenvalue"] > 0 and out["diagonal_total"] > 0
    assert model.training and not model.backbone.base.training


@pytest.mark.parametrize("field, changes", [("samples", {"samples": 0}), ("iterations", {"iterations": 1.5}),
                                            ("t", {"t": 2}), ("loss", {"loss_name": "nope"})])
def test_bad_arguments_are_refused_by_name(field, changes):
    scenario, model = tiny_setup("class-il")
    args = {"t": 1, "loss_name": "ce", **changes}
    with pytest.raises(ConfigError) as error:
        curvature_after_task(model, scenario, args.pop("t"), args.pop("loss_name"),
                             generator=torch.Generator(), **args)
    assert error.value.field == field


def test_tracking_records_one_entry_per_task_and_changes_no_training():
    tracked, plain = run(TRACKED), run(TRACKED.replace(track_curvature=False))
    assert len(tracked.curvature) == TRACKED.tasks and plain.curvature == []
    assert tracked.acc_taw == plain.acc_taw and tracked.acc_tag == plain.acc_tag
    assert tracked.epoch_losses == plain.epoch_losses
    for entry in tracked.curvature:  # each task has more than 256 training images
        assert entry["images"] == entry["newest_images"] == 256
        assert entry["seconds"] > 0 and entry["likelihood"] == "categorical"


@pytest.mark.parametrize("loss", ["ce", "mse"])
def test_ce_and_mse_runs_give_finite_positive_figures(loss):
    result = run(TRACKED.replace(loss=loss))
    for entry in result.curvature:
        for key in ("max_eigenvalue", "diagonal_total", "newest_max_eigenvalue", "newest_diagonal_total"):
            assert math.isfinite(entry[key]) and entry[key] >= 0
        assert entry["max_eigenvalue"] > 0


def test_a_resumed_run_keeps_the_earlier_tasks_entries(tmp_path):
    config = TRACKED.replace(tasks=3)
    reference = run(config)
    run_dir = RunDir.create(config.to_dict(), tmp_path)
    with pytest.raises(Stop):
        run(config, stop_after_task(0), run_dir=run_dir)
    assert len(run_dir.result().curvature) == 1
    resumed = run(RunConfig.from_dict(run_dir.config()), run_dir=run_dir)
    figures = [[e[k] for e in r.curvature for k in ("max_eigenvalue", "diagonal_total", "images",
                                                    "newest_max_eigenvalue", "newest_diagonal_total")]
               for r in (resumed, reference)]
    assert figures[0] == pytest.approx(figures[1], rel=1e-6)
    assert run_dir.result().curvature == resumed.curvature


def test_the_command_line_flag_stores_the_entries(tmp_path):
    assert main(["--runs-dir", str(tmp_path), "run", "--dataset", "digits", "--tasks", "2", "--epochs", "1",
                 "--knn-k", "0", "--device", "cpu", "--track-curvature", "true"]) == 0
    (stored,) = tmp_path.glob("*/result.json")
    assert len(json.loads(stored.read_text())["curvature"]) == 2
    with pytest.raises(ConfigError) as error:
        RunConfig(track_curvature="yes").validate()
    assert error.value.field == "track_curvature"


def test_a_result_stored_before_tracking_loads_with_no_entries():
    old = RunResult(config=QUICK.to_dict(), acc_taw=[[0.9]], acc_tag=[[0.9]]).to_dict()
    del old["curvature"]
    assert RunResult.from_dict(old).curvature == []
    entry = {"max_eigenvalue": 2.0, "diagonal_total": 3.0, "images": 8, "seconds": 0.1, "likelihood": "gaussian"}
    kept = RunResult.from_dict(json.loads(json.dumps({**old, "curvature": [entry]})))
    assert kept.curvature == [entry]  # stored before the task just learned was measured
    assert curvature_series(kept.curvature, "max_eigenvalue") == {"newest": [None], "seen": [2.0]}


def test_the_figure_draws_both_figures_on_both_sets_of_images_per_task_on_log_axes():
    entries = [{"max_eigenvalue": 4.0, "diagonal_total": 40.0, "newest_max_eigenvalue": 4.0,
                "newest_diagonal_total": 40.0, "likelihood": "categorical"},
               {"max_eigenvalue": 0.5, "diagonal_total": 0.0, "newest_max_eigenvalue": 0.1,
                "newest_diagonal_total": 2.0, "likelihood": "categorical"}]
    fig = curvature_figure(RunResult(config={}, curvature=entries))
    eigen_newest, eigen_seen, diagonal_newest, diagonal_seen = fig.data
    assert list(eigen_seen.x) == [1, 2] and list(eigen_seen.y) == [4.0, 0.5]
    assert list(eigen_newest.y) == [4.0, 0.1] and list(diagonal_newest.y) == [40.0, 2.0]
    assert list(diagonal_seen.y) == [40.0, None]  # 0 has no place on a log axis: a gap
    assert eigen_newest.name == "the task just learned" and eigen_seen.name == "all tasks seen so far"
    assert eigen_newest.line.dash != eigen_seen.line.dash
    assert fig.layout.yaxis.type == "log" and fig.layout.yaxis2.type == "log"
    assert "task just learned" in fig.layout.title.text and "all tasks seen" in fig.layout.title.text
    assert all(len(trace.x) == 0 for trace in curvature_figure(RunResult(config={})).data)
    old = [{k: v for k, v in e.items() if not k.startswith("newest_")} for e in entries]  # stored before
    eigen_newest, eigen_seen, *_ = curvature_figure({"a": RunResult(config={}, curvature=old)}).data
    assert list(eigen_newest.y) == [None, None] and list(eigen_seen.y) == [4.0, 0.5]
    assert eigen_seen.name == "a: all tasks seen so far"


def entry(seen: float, newest: float | None, likelihood: str = "categorical") -> dict:
    out = {"max_eigenvalue": seen, "diagonal_total": 10 * seen, "images": 8, "seconds": 0.1, "likelihood": likelihood}
    return out if newest is None else {**out, "newest_max_eigenvalue": newest, "newest_diagonal_total": 10 * newest}


def reading(entries: list[dict], method: str = "finetune") -> str:
    return curvature_reading({"": RunResult(config={"loss": "ce", "method": method}, curvature=entries)})


def test_the_reading_says_which_way_each_figure_went_and_whether_dlcft_shows():
    text = reading([entry(4.0, 4.0), entry(6.0, 0.3), entry(15.0, 1.5)])  # CE: the task just learned keeps 0.05, 0.1
    assert text.startswith("**ce** (categorical likelihood), from task 1 to task 3: the largest Fisher eigenvalue "
                           "on the task just learned fell from 4 to 1.5 (×0.38), on all tasks seen so far rose from "
                           "4 to 15 (×3.8); the diagonal Fisher total on the task just learned fell from 40 to 15")
    assert "0.05 to 0.1 times the largest eigenvalue of all tasks seen" in text and "median 0.075: at most 0.5" in text
    assert "That is what DLCFT describes: under softmax CE" in text and "does not show" not in text
    kept = reading([entry(4.0, 4.0), entry(6.0, 5.0), entry(2.0, 3.0)])  # CE keeping its curvature: not DLCFT's
    assert "fell from 4 to 3" in kept and "fell from 4 to 2" in kept
    assert "DLCFT's claim does not show in these numbers; it says that under softmax CE" in kept
    gaussian = [entry(600.0, 600.0, "gaussian"), entry(300.0, 330.0, "gaussian")]
    assert "(gaussian likelihood)" in reading(gaussian) and "That is what DLCFT describes: under MSE" in reading(gaussian)
    vanishing = [entry(600.0, 600.0, "gaussian"), entry(300.0, 3.0, "gaussian")]
    assert "After task 2 the task just learned had 0.01 times" in reading(vanishing)
    assert "DLCFT's claim does not show in these numbers; it says that under MSE" in reading(vanishing)


def test_the_reading_of_one_task_an_old_run_and_the_advice():
    assert "From task 2 on, the task just learned is compared" in reading([entry(4.0, 4.0)])
    old = reading([entry(4.0, None), entry(2.0, None)])  # stored before the task just learned was measured
    assert "on all tasks seen so far fell from 4 to 2" in old and "task just learned fell" not in old
    assert "stored before the task just learned was measured" in old and "DLCFT describes" not in old
    assert "race `ce` against `mse`" in old
    assert "race `ce`" not in reading([entry(4.0, 4.0)], method="lwf")  # lwf trains with ce only
    both = curvature_reading({"ce": RunResult(config={"method": "finetune"}, curvature=[entry(4.0, 4.0)]),
                              "mse": RunResult(config={"method": "finetune"},
                                               curvature=[entry(600.0, 600.0, "gaussian")])})
    assert both.startswith("**ce** (categorical") and "\n\n**mse** (gaussian" in both and "race `ce`" not in both
