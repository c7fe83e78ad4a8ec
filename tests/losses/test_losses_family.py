"""The softmax family: sparse maps on hand-worked vectors, Fenchel-Young gradients against autograd
in float64, the softmax alternatives, and the sampled estimators against the full softmax."""
import math

import pytest
import torch
import torch.nn.functional as F

from labkit.losses import (LOSSES, cross_entropy, entmax15, entmax15_loss, entmax_bisect, frequency_proposal,
                           in_batch_negatives_loss, linear_class_logits, model_proposal, nce_loss,
                           negative_sampling_loss, ova_bce_loss, sampled_softmax_loss, sparsemax, sparsemax_loss,
                           spherical_softmax_loss, taylor_softmax_loss, uniform_proposal)
from labkit.methods import METHODS

F64 = torch.float64


def random_scores(b: int = 40, n: int = 7, scale: float = 3.0, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return scale * torch.randn(b, n, generator=g, dtype=F64)


def onehot(y: torch.Tensor, n: int) -> torch.Tensor:
    return F.one_hot(y, n).to(F64)


# ---- sparse maps ---------------------------------------------------------------------------

def test_sparsemax_hand_worked():
    # z = (1, .5, -1): k = 2 (1 + 2 * .5 > 1.5, 1 + 3 * -1 < .5), tau = (1.5 - 1) / 2 = .25
    # z = (.1, 0, -.1): all three in the support, tau = (0 - 1) / 3
    z = torch.tensor([[1.0, 0.5, -1.0], [0.1, 0.0, -0.1]], dtype=F64)
    p = sparsemax(z)
    assert torch.allclose(p, torch.tensor([[0.75, 0.25, 0.0], [13 / 30, 10 / 30, 7 / 30]], dtype=F64))
    assert p[0, 2].item() == 0.0  # an exact zero, not a small number
    assert torch.allclose(p.sum(-1), torch.ones(2, dtype=F64))


def test_entmax15_hand_worked():
    # z = (1, 0, -1), s = z/2 = (.5, 0, -.5). Top 2: mean .25, S = .125, tau = .25 - sqrt(.875/2)
    # = .25 - sqrt(7)/4 <= 0 (top 3 fails: tau(3) = -sqrt(1/6) > -.5), so
    # p = ((1 + sqrt 7)/4)^2, ((sqrt 7 - 1)/4)^2, 0) = ((4 + sqrt 7)/8, (4 - sqrt 7)/8, 0)
    p = entmax15(torch.tensor([[1.0, 0.0, -1.0]], dtype=F64))
    r7 = math.sqrt(7)
    assert torch.allclose(p, torch.tensor([[(4 + r7) / 8, (4 - r7) / 8, 0.0]], dtype=F64), atol=1e-12)
    assert p[0, 2].item() == 0.0


def test_sparse_maps_sum_to_one_with_exact_zeros():
    z = random_scores()
    for p in (sparsemax(z), entmax15(z)):
        assert torch.allclose(p.sum(-1), torch.ones(len(z), dtype=F64), atol=1e-12)
        assert (p >= 0).all() and (p == 0).any()


def test_entmax_bisect_is_sparsemax_at_2_entmax15_at_1_5_and_softmax_as_alpha_goes_to_1():
    z = random_scores()
    assert torch.allclose(entmax_bisect(z, 2.0), sparsemax(z), atol=1e-12)
    assert torch.allclose(entmax_bisect(z, 1.5), entmax15(z), atol=1e-12)
    gaps = [(entmax_bisect(z, a) - torch.softmax(z, -1)).abs().max().item() for a in (1.1, 1.01, 1.001)]
    assert gaps[0] > gaps[1] > gaps[2] and gaps[2] < 2e-3
    with pytest.raises(ValueError, match="alpha"):
        entmax_bisect(z, 1.0)


@pytest.mark.parametrize("fn", [sparsemax, entmax15, lambda z: entmax_bisect(z, 1.3)],
                         ids=["sparsemax", "entmax15", "entmax_bisect"])
def test_sparse_map_jacobians_match_finite_differences(fn):
    z = random_scores(b=6, n=5).requires_grad_(True)
    assert torch.autograd.gradcheck(fn, (z,))


# ---- Fenchel-Young losses ------------------------------------------------------------------

@pytest.mark.parametrize("loss, predict", [(cross_entropy, lambda z: torch.softmax(z, -1)),
                                           (sparsemax_loss, sparsemax), (entmax15_loss, entmax15)],
                         ids=["softmax", "sparsemax", "entmax15"])
def test_fenchel_young_gradient_is_prediction_minus_onehot(loss, predict):
    z = random_scores().requires_grad_(True)
    y = torch.arange(len(z)) % z.shape[1]
    (grad,) = torch.autograd.grad(loss(z, y), z)
    expected = (predict(z.detach()) - onehot(y, z.shape[1])) / len(z)  # mean over the batch
    assert torch.allclose(grad, expected, atol=1e-14)
    assert loss(z, y).item() >= 0


def test_sparsemax_loss_hand_worked():
    # p* = (.75, .25, 0): <z, p*> = .875, .5 ||p*||^2 = .3125, so Omega*(z) = .5625 and
    # L = .5625 - z_y + .5: y = 1 -> .5625, y = 0 -> .0625
    z = torch.tensor([[1.0, 0.5, -1.0]], dtype=F64)
    assert sparsemax_loss(z, torch.tensor([1])).item() == pytest.approx(0.5625, abs=1e-14)
    assert sparsemax_loss(z, torch.tensor([0])).item() == pytest.approx(0.0625, abs=1e-14)


def test_sparse_losses_are_exactly_zero_past_the_margin_and_softmax_never_is():
    y = torch.tensor([0])
    for margin, sparse_zero, entmax_zero in [(0.9, False, False), (1.0, True, False), (1.9, True, False),
                                             (2.0, True, True), (10.0, True, True)]:
        z = torch.tensor([[margin, 0.0, -0.5]], dtype=F64)
        assert (sparsemax_loss(z, y).item() == 0.0) == sparse_zero, margin
        assert (entmax15_loss(z, y).item() == 0.0) == entmax_zero, margin
        assert sparsemax_loss(z, y).item() >= 0 and entmax15_loss(z, y).item() >= 0
    for margin in (1.0, 10.0, 30.0):
        assert cross_entropy(torch.tensor([[margin, 0.0, -0.5]], dtype=F64), y).item() > 0


def test_classes_below_the_threshold_get_exactly_zero_gradient():
    z = torch.tensor([[2.0, 1.5, -1.0, -3.0]], dtype=F64, requires_grad=True)
    for loss in (sparsemax_loss, entmax15_loss):
        (grad,) = torch.autograd.grad(loss(z, torch.tensor([1])), z)
        assert grad[0, 2].item() == 0.0 and grad[0, 3].item() == 0.0
        assert grad[0, 0].item() > 0 > grad[0, 1].item()


# ---- softmax alternatives ------------------------------------------------------------------

def test_spherical_and_taylor_hand_worked_and_not_order_preserving():
    # spherical, eps = .01: z = (-2, 1) -> (4.01, 1.01) / 5.02: class 0 has the lower score and
    # the higher probability. Taylor: z = (-3, -1) -> (1 - 3 + 4.5, 1 - 1 + .5) = (2.5, .5), p = (5/6, 1/6)
    y = torch.tensor([0])
    assert spherical_softmax_loss(torch.tensor([[-2.0, 1.0]], dtype=F64), y).item() == pytest.approx(
        -math.log(4.01 / 5.02), rel=1e-12)
    assert taylor_softmax_loss(torch.tensor([[-3.0, -1.0]], dtype=F64), y).item() == pytest.approx(
        -math.log(5 / 6), rel=1e-12)
    # the lower-scored class is the more likely one: -log p_0 < -log p_1
    assert spherical_softmax_loss(torch.tensor([[-2.0, 1.0]]), y) < spherical_softmax_loss(
        torch.tensor([[-2.0, 1.0]]), torch.tensor([1]))
    assert taylor_softmax_loss(torch.tensor([[-3.0, -1.0]]), y) < taylor_softmax_loss(
        torch.tensor([[-3.0, -1.0]]), torch.tensor([1]))


def test_ova_bce_is_summed_over_classes_with_sigmoid_minus_onehot_gradient():
    # z = 0 everywhere: every class contributes log 2, so N log 2 per example
    assert ova_bce_loss(torch.zeros(2, 3, dtype=F64), torch.tensor([0, 2])).item() == pytest.approx(3 * math.log(2))
    z = random_scores().requires_grad_(True)
    y = torch.arange(len(z)) % z.shape[1]
    (grad,) = torch.autograd.grad(ova_bce_loss(z, y), z)
    assert torch.allclose(grad, (torch.sigmoid(z.detach()) - onehot(y, z.shape[1])) / len(z), atol=1e-14)


# ---- the registry --------------------------------------------------------------------------

def test_new_losses_are_registered_without_a_likelihood():
    for name in ("sparsemax", "entmax15", "spherical", "taylor", "ova_bce"):
        assert name in LOSSES and LOSSES.get(name).likelihood is None and LOSSES.doc(name)
    assert "negative log-likelihood" in METHODS.get("ewc").loss_problem("sparsemax")
    assert METHODS.get("finetune").loss_problem("sparsemax") is None


@pytest.mark.parametrize("name", LOSSES.names())
def test_each_registered_loss_trains_on_a_separable_problem(name):
    g = torch.Generator().manual_seed(0)
    centres = 3.0 * torch.eye(3, 4)
    y = torch.arange(30) % 3
    x = centres[y] + 0.3 * torch.randn(30, 4, generator=g)
    layer = torch.nn.Linear(4, 3)
    torch.nn.init.normal_(layer.weight, std=0.01, generator=g)
    torch.nn.init.zeros_(layer.bias)
    optimiser = torch.optim.SGD(layer.parameters(), lr=0.05)
    loss_fn = LOSSES.get(name).fn
    first = loss_fn(layer(x), y).item()
    for _ in range(20):
        optimiser.zero_grad()
        loss_fn(layer(x), y).backward()
        optimiser.step()
    assert loss_fn(layer(x), y).item() < 0.8 * first


# ---- sampled estimators --------------------------------------------------------------------

def output_layer(b: int = 32, n: int = 50, d: int = 8, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(b, d, generator=g, dtype=F64)
    weight = (0.5 * torch.randn(n, d, generator=g, dtype=F64)).requires_grad_(True)
    targets = torch.randint(0, n, (b,), generator=g)
    return hidden, weight, targets


def test_sampled_softmax_over_all_classes_with_the_correction_is_the_full_softmax():
    hidden, weight, targets = output_layer()
    full = F.cross_entropy(hidden @ weight.T, targets)
    sampled = sampled_softmax_loss(weight, targets, 50, uniform_proposal(50), hidden=hidden,
                                   generator=torch.Generator().manual_seed(1))
    assert sampled.item() == pytest.approx(full.item(), rel=1e-12)
    (g_full,) = torch.autograd.grad(full, weight)
    (g_sampled,) = torch.autograd.grad(sampled, weight)
    assert torch.allclose(g_sampled, g_full, atol=1e-14)


def test_a_class_logits_callable_and_a_weight_matrix_give_the_same_loss():
    hidden, weight, targets = output_layer()
    proposal = frequency_proposal(torch.arange(1, 51))
    by_weight = sampled_softmax_loss(weight, targets, 10, proposal, hidden=hidden,
                                     generator=torch.Generator().manual_seed(3))
    by_callable = sampled_softmax_loss(linear_class_logits(hidden, weight), targets, 10, proposal,
                                       generator=torch.Generator().manual_seed(3))
    assert by_weight.item() == by_callable.item()
    with pytest.raises(ValueError, match="hidden"):
        sampled_softmax_loss(weight, targets, 10, proposal)


def mean_bias(proposal, m: int, correct: bool = True, repeats: int = 100) -> float:
    hidden, weight, targets = output_layer(n=500, d=16)
    full = F.cross_entropy(hidden @ weight.T, targets).item()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        draws = [sampled_softmax_loss(weight, targets, m, proposal, correct, hidden=hidden, generator=g).item()
                 for _ in range(repeats)]
    return sum(draws) / repeats - full


@pytest.mark.parametrize("proposal", [uniform_proposal(500), frequency_proposal(torch.arange(1, 501) % 7 + 1)],
                         ids=["uniform", "frequency"])
def test_sampled_softmax_bias_shrinks_with_m(proposal):
    biases = [mean_bias(proposal, m) for m in (8, 32, 128)]
    assert biases[0] < biases[1] < biases[2] < 0  # E log Z_hat <= log Z: an underestimate
    assert abs(biases[2]) < abs(biases[0]) / 3
    assert mean_bias(proposal, 32, correct=False) < 5 * biases[1]  # without the correction: far off


def test_model_proposal_leaves_only_the_target_hits_random():
    # q = softmax(z): every kept negative adds e^{z_k} / (m q_k) = Z / m exactly
    hidden, weight, targets = output_layer()
    logits = (hidden @ weight.T).detach()
    proposal, m = model_proposal(logits), 16
    loss = sampled_softmax_loss(weight, targets, m, proposal, hidden=hidden, generator=torch.Generator().manual_seed(2))
    negatives = proposal.sample(m, torch.Generator().manual_seed(2))
    kept = (negatives != targets[:, None]).sum(1)
    z_y = logits.gather(1, targets[:, None]).squeeze(1)
    expected = (torch.log(z_y.exp() + kept / m * logits.exp().sum(1)) - z_y).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-12)


def test_negative_sampling_and_nce_match_their_formulas():
    hidden, weight, targets = output_layer()
    logits = (hidden @ weight.T).detach()
    counts = torch.arange(1, 51)
    proposal, m = frequency_proposal(counts, power=0.75), 6
    q = counts.double() ** 0.75 / (counts.double() ** 0.75).sum()
    negatives = proposal.sample(m, torch.Generator().manual_seed(4))
    z_pos, z_neg = logits.gather(1, targets[:, None]).squeeze(1), logits[:, negatives]
    word2vec = (-F.logsigmoid(z_pos) - F.logsigmoid(-z_neg).sum(1)).mean()
    shift_pos, shift_neg = torch.log(m * q[targets]), torch.log(m * q[negatives])
    nce = (-F.logsigmoid(z_pos - shift_pos) - F.logsigmoid(-(z_neg - shift_neg)).sum(1)).mean()
    got_word2vec = negative_sampling_loss(weight, targets, m, proposal, hidden=hidden,
                                          generator=torch.Generator().manual_seed(4))
    got_nce = nce_loss(weight, targets, m, proposal, hidden=hidden, generator=torch.Generator().manual_seed(4))
    assert got_word2vec.item() == pytest.approx(word2vec.item(), rel=1e-6)
    assert got_nce.item() == pytest.approx(nce.item(), rel=1e-6)


def test_in_batch_negatives():
    hidden, weight, _ = output_layer(b=50)
    logits = (hidden @ weight.T).detach()
    every_class = torch.randperm(50, generator=torch.Generator().manual_seed(5))
    # a batch whose targets are all N classes, uncorrected: the full softmax
    assert in_batch_negatives_loss(weight, every_class, hidden=hidden).item() == pytest.approx(
        F.cross_entropy(logits, every_class).item(), rel=1e-12)
    # repeated targets are dropped from each other's negatives; the correction is log((B-1) q)
    targets = torch.tensor([0, 1, 1, 2])
    q = torch.tensor([0.1, 0.2, 0.3, 0.4])
    h = hidden[:4]
    z = (h @ weight[targets].T).detach() - torch.log(3 * q[targets])
    z.fill_diagonal_(0)
    z = z + torch.diag((h * weight[targets]).sum(1).detach())
    z[1, 2] = z[2, 1] = float("-inf")
    expected = F.cross_entropy(z, torch.arange(4))
    got = in_batch_negatives_loss(weight, targets, frequency_proposal(q), hidden=h)
    assert got.item() == pytest.approx(expected.item(), rel=1e-6)


def test_frequency_proposal_refuses_unseen_classes():
    with pytest.raises(ValueError, match="positive"):
        frequency_proposal(torch.tensor([3, 0, 1]))
