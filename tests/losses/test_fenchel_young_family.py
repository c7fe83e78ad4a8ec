"""Each classification loss of labkit is the Fenchel-Young loss of its own regulariser and domain
(labkit.losses.fenchel_young_family), and the spherical and Taylor softmax losses are not."""
import pytest
import torch
import torch.nn.functional as F

from labkit.losses import (cross_entropy, entmax15_loss, mse_onehot, ova_bce_loss, sparsemax_loss,
                           spherical_softmax_loss, taylor_softmax_loss)
from labkit.losses.fenchel_young_family import REGULARISERS, fenchel_young_loss
from labkit.losses.softmax_alternatives import spherical_scores, taylor_scores

F64 = torch.float64
N = 6


def batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return 2 * torch.randn(10, N, generator=g, dtype=F64), torch.randint(0, N, (10,), generator=g)


# name -> labkit's loss, the target t for label y, and c with labkit's loss = c * mean_b L(z_b; t_b)
CASES = {
    "softmax CE": (cross_entropy, lambda e: e, 1.0),
    "sparsemax": (sparsemax_loss, lambda e: e, 1.0),
    "1.5-entmax": (entmax15_loss, lambda e: e, 1.0),
    "squared error": (mse_onehot, lambda e: 15 * e, 2 / N),  # mse_onehot is the mean over the N classes
    "OvA BCE": (ova_bce_loss, lambda e: e, 1.0),
}


@pytest.mark.parametrize("name", CASES)
def test_each_loss_is_the_fenchel_young_loss_of_its_regulariser(name):
    loss, target_of, scale = CASES[name]
    z, y = batch()
    z.requires_grad_(True)
    target = target_of(F.one_hot(y, N).to(F64))
    regulariser = REGULARISERS[name]
    fy = fenchel_young_loss(regulariser, z, target)
    assert torch.allclose(scale * fy.mean(), loss(z, y), atol=1e-12)
    assert (fy >= -1e-12).all()
    (grad,) = torch.autograd.grad(loss(z, y), z)
    assert torch.allclose(grad, scale * (regulariser.predict(z) - target) / len(y), atol=1e-12)


def test_the_loss_is_zero_exactly_at_its_target():
    # squared error: zero at z = t, wherever t lies in R^N; sparsemax: zero once the margin 1 is met
    t = torch.tensor([[0.0, 15.0, 0.0]], dtype=F64)
    assert fenchel_young_loss(REGULARISERS["squared error"], t.clone(), t).item() == pytest.approx(0, abs=1e-12)
    z = torch.tensor([[0.0, 1.0, -3.0]], dtype=F64)
    e = torch.tensor([[0.0, 1.0, 0.0]], dtype=F64)
    assert fenchel_young_loss(REGULARISERS["sparsemax"], z, e).item() == pytest.approx(0, abs=1e-12)
    assert fenchel_young_loss(REGULARISERS["softmax CE"], z, e).item() > 0


def test_domains_are_named():
    assert {r.domain for r in REGULARISERS.values()} == {"simplex", "R^N", "[0, 1]^N"}


@pytest.mark.parametrize("loss, scores", [(spherical_softmax_loss, spherical_scores), (taylor_softmax_loss, taylor_scores)])
def test_spherical_and_taylor_gradients_are_not_their_map_minus_the_target(loss, scores):
    z, y = batch(1)
    z.requires_grad_(True)
    (grad,) = torch.autograd.grad(loss(z, y), z)
    s = scores(z.detach())
    p = s / s.sum(-1, keepdim=True)
    assert (grad - (p - F.one_hot(y, N).to(F64)) / len(y)).abs().max() > 1e-2
