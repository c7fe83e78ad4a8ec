"""labkit.teaching.linearization: the second-order model of task 1 with and without its gradient
term, and the exact minimisers of the continual objectives (notebook 03, sections 4 and 5)."""
import pytest
import torch

from labkit.teaching import linearization as study

F64 = torch.float64


def test_quadratic_minimum_of_a_singular_least_squares():
    gen = torch.Generator().manual_seed(0)
    A = torch.randn(30, 8, generator=gen, dtype=F64) @ torch.randn(8, 12, generator=gen, dtype=F64)  # rank 8 < 12
    b = torch.randn(30, generator=gen, dtype=F64)
    loss = lambda v: ((A @ v - b) ** 2).mean()
    v = study.quadratic_minimum(loss, torch.randn(12, generator=gen, dtype=F64))
    assert torch.func.grad(loss)(v).norm() < 1e-10
    assert loss(v).item() == pytest.approx(((A @ torch.linalg.lstsq(A, b).solution - b) ** 2).mean().item())


@pytest.fixture(scope="module")
def tasks():
    return study.blobs(20, seed=0), study.blobs(20, rotation=1.0, seed=1)


def test_penalty_only_misses_the_gradient_term(tasks):
    path = study.penalty_vs_loss(study.tiny_mlp(hidden=6), *tasks, steps=30, fractions=(0.0, 1.0))
    start = path[path.fraction == 0.0]
    assert (start.quadratic == start.penalty_only).all() and (start.task1_loss == start.quadratic).all()
    lin = path[(path.model == "linearized") & (path.loss == "mse")]
    assert lin.relative_error.max() < 1e-12  # exact although task 1 is not at a minimum
    assert (lin.gradient_norm > 1e-3).all() and (lin.penalty_only != lin.quadratic).iloc[-1]


def test_penalty_optima(tasks):
    optima = study.penalty_optima(study.tiny_mlp(hidden=6), *tasks, steps=30)
    joint = optima.loc["joint", "total"]
    assert list(optima.index) == ["joint", "with gradient", "penalty only", "penalty, fitted"]
    assert optima.loc[["with gradient", "penalty, fitted"], "excess"].abs().max() < 1e-6 * optima.task1_at_anchor.max()
    assert optima.loc["penalty only", "excess"] > 1e-3 * joint  # task 1 stopped short of its minimum
    stopped = optima.loc["penalty only", "anchor_gradient"]  # |g1| where Adam stopped
    assert stopped > 1e-3 and optima.loc["penalty, fitted", "anchor_gradient"] < 1e-4 * stopped
    assert (optima.gradient_at_minimum < 1e-6 * optima.anchor_gradient.max()).all()
