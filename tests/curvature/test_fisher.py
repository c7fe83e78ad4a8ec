"""Diagonal Fisher from vmap'd per-sample gradients against a plain autograd loop in float64."""
import pytest
import torch
from torch import nn

from labkit.curvature import diagonal_fisher
from labkit.curvature.fisher import fisher_targets, negative_log_likelihood


def small_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3)).double()


def loop_fisher(model, x, targets, likelihood, columns=slice(0, None)):
    """Reference: one backward per sample, squared, averaged."""
    acc = {n: torch.zeros_like(p) for n, p in model.named_parameters()}
    for xi, ti in zip(x, targets):
        model.zero_grad()
        negative_log_likelihood(model(xi[None])[0, columns], ti, likelihood).backward()
        for n, p in model.named_parameters():
            acc[n] += p.grad ** 2
    return {n: a / len(x) for n, a in acc.items()}


@pytest.mark.parametrize("likelihood,scale", [("categorical", 1.0), ("gaussian", 15.0)])
@pytest.mark.parametrize("labels", ["empirical", "argmax", "sampled"])
def test_matches_per_sample_loop(likelihood, scale, labels):
    model = small_net()
    x = torch.randn(10, 4, dtype=torch.float64)
    y = torch.randint(0, 3, (10,))
    got = diagonal_fisher(model, x, y, likelihood=likelihood, labels=labels, onehot_scale=scale,
                          batch_size=4, generator=torch.Generator().manual_seed(1))
    gen = torch.Generator().manual_seed(1)  # the same draws, batch by batch
    with torch.no_grad():
        targets = torch.cat([fisher_targets(model(x[i:i + 4]), y[i:i + 4], labels, likelihood, scale, gen)
                             for i in range(0, 10, 4)])
    want = loop_fisher(model, x, targets, likelihood)
    for n in want:
        torch.testing.assert_close(got[n], want[n], rtol=1e-10, atol=1e-12)
        assert (got[n] >= 0).all()


def test_columns_restrict_the_likelihood_to_one_head():
    model = small_net()
    x, y = torch.randn(6, 4, dtype=torch.float64), torch.randint(0, 2, (6,))
    got = diagonal_fisher(model, x, y, likelihood="categorical", columns=slice(1, 3))
    targets = fisher_targets(model(x)[:, 1:3].detach(), y, "empirical", "categorical")
    want = loop_fisher(model, x, targets, "categorical", columns=slice(1, 3))
    for n in want:
        torch.testing.assert_close(got[n], want[n])
    assert got["2.weight"][0].abs().max() == 0  # the unit outside the head gets no curvature


@pytest.mark.parametrize("likelihood", ["categorical", "gaussian"])
def test_true_fisher_is_the_expectation_that_sampling_estimates(likelihood):
    """"true": sum_c p_c g_c^2 (categorical) / sum_k (d z_k)^2 (Gaussian) against a float64
    loop, and the mean of many "sampled" Fishers approaching it."""
    model = small_net()
    x, y = torch.randn(5, 4, dtype=torch.float64), torch.randint(0, 3, (5,))
    got = diagonal_fisher(model, x, y, likelihood=likelihood, labels="true", batch_size=2)
    want = {n: torch.zeros_like(p) for n, p in model.named_parameters()}
    for xi in x:
        z = model(xi[None])[0]
        for c in range(3):
            model.zero_grad()
            if likelihood == "categorical":
                (-torch.log_softmax(z, -1)[c]).backward(retain_graph=True)
                weight = torch.softmax(z, -1)[c].detach()
            else:
                z[c].backward(retain_graph=True)
                weight = 1.0
            for n, p in model.named_parameters():
                want[n] += weight * p.grad ** 2 / len(x)
    gen = torch.Generator().manual_seed(0)
    sampled = [diagonal_fisher(model, x, y, likelihood=likelihood, labels="sampled", generator=gen) for _ in range(400)]
    for n in want:
        torch.testing.assert_close(got[n], want[n], rtol=1e-10, atol=1e-12)
        mean = torch.stack([s[n] for s in sampled]).mean(0)
        assert (mean - want[n]).norm() < 0.1 * want[n].norm()


@pytest.mark.parametrize("labels", ["model", "exact", "true"])  # "true" takes every label: weighted_targets
def test_bad_labels_are_refused(labels):
    with pytest.raises(ValueError, match=f"labels='{labels}'.*empirical"):
        fisher_targets(torch.zeros(2, 3), torch.zeros(2, dtype=torch.long), labels, "categorical")
