"""K-FAC / TK-FAC factors against curvlinops, the diagonal Fisher and explicit Kronecker products;
the Fisher's top eigenvalue against an explicitly built Fisher; softmax CE's logit Hessian."""
import math

import pytest
import torch
import torch.nn.functional as F
from curvlinops import KFACLinearOperator
from torch import nn
from torch.func import functional_call, hessian, jacrev

from labkit.curvature import (KronFactors, diagonal_fisher, extend_outputs, kfac_factors, kfac_penalty,
                              max_fisher_eigenvalue, merge_factors, softmax_ce_logit_hessian)

K = 3


def mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, K)).double()


def cnn():
    """conv with bias (36 positions), conv without bias (stride 2: 9 positions), linear."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(4, 5, 3, stride=2, padding=1, bias=False), nn.Tanh(),
                         nn.Flatten(), nn.Linear(5 * 3 * 3, K)).double()


def data(net, n=10):
    torch.manual_seed(1)
    shape = (n, 4) if isinstance(net[0], nn.Linear) else (n, 2, 6, 6)
    return torch.randn(shape, dtype=torch.float64), torch.randint(0, K, (n,))


def curvlinops_factors(net, x, y, likelihood, fisher_type, scale):
    """curvlinops' (A, G) per layer, G rescaled to labkit's likelihood.

    CrossEntropyLoss(mean) is labkit's categorical likelihood averaged over samples. MSELoss(mean)
    is (1/(N K)) sum (z - t)^2, the Gaussian with variance 1/2 with curvlinops' own sqrt(K)
    rescaling: its type-2 G is (2/K) ours, its empirical G (4/K) ours."""
    if likelihood == "categorical":
        loss, targets, factor = nn.CrossEntropyLoss(), y, 1.0
    else:
        loss, targets = nn.MSELoss(), scale * F.one_hot(y, K).double()
        factor = {"type-2": 2 / K, "empirical": 4 / K}[fisher_type]
    batches = [(x[:4], targets[:4]), (x[4:8], targets[4:8]), (x[8:], targets[8:])]
    op = KFACLinearOperator(net, loss, list(net.parameters()), batches, fisher_type=fisher_type,
                            separate_weight_and_bias=False, check_deterministic=False)
    op.compute_kronecker_factors()
    state = op.state_dict()
    return {name: (A, state["gradient_covariances"][name] / factor)
            for name, A in state["input_covariances"].items()}


@pytest.mark.parametrize("make", [mlp, cnn])
@pytest.mark.parametrize("likelihood,scale", [("categorical", 1.0), ("gaussian", 15.0)])
@pytest.mark.parametrize("fisher_type", ["type-2", "empirical"])
def test_factors_match_curvlinops(make, likelihood, scale, fisher_type):
    net = make()
    x, y = data(net)
    got = kfac_factors(net, x, y, likelihood=likelihood, fisher_type=fisher_type, onehot_scale=scale, batch_size=4)
    want = curvlinops_factors(net, x, y, likelihood, fisher_type, scale)
    assert got.keys() == want.keys()
    for name, (A, G) in want.items():
        torch.testing.assert_close(got[name].A, A, rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(got[name].G, G, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("likelihood", ["categorical", "gaussian"])
def test_monte_carlo_converges_to_type_2(likelihood):
    net = mlp()
    x, _ = data(net)
    exact = kfac_factors(net, x, likelihood=likelihood, fisher_type="type-2")

    def error(samples):
        mc = kfac_factors(net, x, likelihood=likelihood, mc_samples=samples,
                          generator=torch.Generator().manual_seed(0))
        for name in exact:
            torch.testing.assert_close(mc[name].A, exact[name].A)  # inputs do not depend on targets
        return max(((mc[n].G - exact[n].G).norm() / exact[n].G.norm()).item() for n in exact)

    few, many = error(10), error(2000)
    assert many < 0.05 and many < few / 4  # error ~ 1/sqrt(samples)


@pytest.mark.parametrize("make", [mlp, cnn])
def test_trace_correction_gives_the_exact_fisher_trace(make):
    """tr(A kron cG) = c tr A tr G = E_n ||grad_theta l_n||^2 over the layer = the sum of the
    layer's diagonal (empirical) Fisher."""
    net = make()
    x, y = data(net)
    factors = kfac_factors(net, x, y, likelihood="categorical", fisher_type="empirical", trace_correction=True)
    diagonal = diagonal_fisher(net, x, y, likelihood="categorical", labels="empirical")
    for name, f in factors.items():
        exact = sum(d.sum() for n, d in diagonal.items() if n.rsplit(".", 1)[0] == name)
        torch.testing.assert_close(torch.trace(f.A) * torch.trace(f.G), exact, rtol=1e-10, atol=0)
    plain = kfac_factors(net, x, y, likelihood="categorical", fisher_type="empirical")
    assert not torch.allclose(plain["0"].G, factors["0"].G)  # the correction did change G


def test_frozen_parameters_in_place_activations_and_columns():
    """Same factors when nothing requires grad and ReLU works in place; `columns` is the
    likelihood over a slice of the logits, as if the model had only those outputs."""
    net = mlp()
    x, y = data(net)
    y = y % 2
    columns = slice(1, 3)
    want = kfac_factors(nn.Sequential(net, Slice(columns)), x, y, likelihood="categorical", fisher_type="empirical")
    frozen = mlp()
    frozen[3].inplace = True
    frozen.requires_grad_(False)
    got = kfac_factors(frozen, x, y, likelihood="categorical", fisher_type="empirical", columns=columns,
                       layers={"0": frozen[0], "2": frozen[2], "4": frozen[4]})
    for name in got:
        torch.testing.assert_close(got[name].A, want[f"0.{name}"].A, rtol=1e-12, atol=0)
        torch.testing.assert_close(got[name].G, want[f"0.{name}"].G, rtol=1e-12, atol=0)
    assert got["4"].G[0].abs().max() == 0 and got["4"].G[:, 0].abs().max() == 0  # logit 0 is outside


class Slice(nn.Module):
    def __init__(self, columns):
        super().__init__()
        self.columns = columns

    def forward(self, z):
        return z[:, self.columns]


def test_eval_mode_during_the_computation_and_restored():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Linear(6, K)).double()
    x, y = torch.randn(8, 4, dtype=torch.float64), torch.randint(0, K, (8,))
    net.train()
    got = kfac_factors(net, x, y, likelihood="categorical", fisher_type="empirical")
    assert net.training
    want = kfac_factors(net.eval(), x, y, likelihood="categorical", fisher_type="empirical")
    torch.testing.assert_close(got["2"].G, want["2"].G, rtol=0, atol=0)


def random_factors(d_in, d_out, seed=0):
    gen = torch.Generator().manual_seed(seed)
    a = torch.randn(d_in + 2, d_in, generator=gen, dtype=torch.float64)
    g = torch.randn(d_out + 2, d_out, generator=gen, dtype=torch.float64)
    return KronFactors(a.T @ a, g.T @ g)


def test_penalty_is_the_kronecker_quadratic_form():
    f = random_factors(3 * 2 * 2 + 1, 4)  # a conv 3 -> 4 channels, 2x2 kernel, with bias
    gen = torch.Generator().manual_seed(1)
    dW = torch.randn(4, 3, 2, 2, generator=gen, dtype=torch.float64)
    db = torch.randn(4, generator=gen, dtype=torch.float64)
    vec = torch.cat([dW.reshape(4, -1), db[:, None]], 1).T.reshape(-1)  # column-stacking vec of dW~
    torch.testing.assert_close(f.penalty(dW, db), 0.5 * vec @ torch.kron(f.A, f.G) @ vec, rtol=1e-12, atol=0)
    assert f.penalty(torch.zeros_like(dW), torch.zeros_like(db)) == 0
    with pytest.raises(ValueError, match="db"):
        f.penalty(dW)
    nobias = random_factors(5, 2, seed=2)
    dW2 = torch.randn(2, 5, generator=gen, dtype=torch.float64)
    total = kfac_penalty({"conv": f, "fc": nobias}, {"conv": (dW, db), "fc": (dW2, None)})
    torch.testing.assert_close(total, f.penalty(dW, db) + 0.5 * torch.trace(nobias.G @ dW2 @ nobias.A @ dW2.T))


def test_merge_is_a_weighted_mean_keeping_one_sided_layers():
    old = {"a": random_factors(2, 3, 0), "b": random_factors(2, 2, 1)}
    new = {"a": random_factors(2, 3, 2), "c": random_factors(1, 1, 3)}
    merged = merge_factors(old, new, weight_old=0.75)
    torch.testing.assert_close(merged["a"].A, 0.75 * old["a"].A + 0.25 * new["a"].A)
    torch.testing.assert_close(merged["a"].G, 0.75 * old["a"].G + 0.25 * new["a"].G)
    assert merged["b"] is old["b"] and merged["c"] is new["c"]


def test_extend_outputs_adds_identity_blocks_for_new_units():
    f = random_factors(3, 2)
    grown = extend_outputs(f, 3, fill=0.5)
    assert grown.A is f.A and grown.G.shape == (5, 5)
    torch.testing.assert_close(grown.G[:2, :2], f.G, rtol=0, atol=0)
    torch.testing.assert_close(grown.G[2:, 2:], 0.5 * torch.eye(3, dtype=torch.float64), rtol=0, atol=0)
    assert grown.G[:2, 2:].abs().max() == 0 and grown.G[2:, :2].abs().max() == 0


def test_extend_outputs_is_the_curvature_of_zero_new_units_under_mse():
    """DLCFT: under MSE, output units added at zero leave every other block as it was and give
    the head the block E[z z^T] kron I: no old data needed."""
    net = mlp()
    x, y = data(net)
    old = kfac_factors(net, x, y, likelihood="gaussian", fisher_type="type-2")
    wide = nn.Linear(5, K + 2).double()
    with torch.no_grad():
        wide.weight.zero_(), wide.bias.zero_()
        wide.weight[:K], wide.bias[:K] = net[4].weight, net[4].bias
    grown = nn.Sequential(*net[:4], wide)
    want = kfac_factors(grown, x, y, likelihood="gaussian", fisher_type="type-2")
    got = {**old, "4": extend_outputs(old["4"], 2)}
    for name in want:
        torch.testing.assert_close(got[name].A, want[name].A, rtol=1e-12, atol=0)
        torch.testing.assert_close(got[name].G, want[name].G, rtol=1e-12, atol=1e-15)


def explicit_fisher(net, x, likelihood):
    """1/N sum_n J_n^T H_n J_n from the full Jacobian (float64)."""
    params = {n: p.detach() for n, p in net.named_parameters()}
    jac = jacrev(lambda p: functional_call(net, p, (x,)))(params)
    J = torch.cat([j.reshape(len(x), K, -1) for j in jac.values()], dim=2)
    if likelihood == "categorical":
        H = softmax_ce_logit_hessian(net(x))
    else:
        H = torch.eye(K, dtype=x.dtype).expand(len(x), K, K)
    return torch.einsum("nkp,nkl,nlq->pq", J, H.detach(), J) / len(x)


@pytest.mark.parametrize("likelihood", ["categorical", "gaussian"])
def test_max_fisher_eigenvalue_matches_the_explicit_fisher(likelihood):
    net = mlp()
    x, _ = data(net, 12)
    want = torch.linalg.eigvalsh(explicit_fisher(net, x, likelihood))[-1].item()
    got = max_fisher_eigenvalue(net, x, likelihood=likelihood, iters=500, tol=1e-12, batch_size=5,
                                generator=torch.Generator().manual_seed(0))
    assert math.isclose(got, want, rel_tol=1e-8)


def test_max_fisher_eigenvalue_over_a_slice_of_trainable_parameters():
    """Frozen parameters leave the Fisher; `columns` restricts the logits."""
    net = mlp()
    x, _ = data(net, 12)
    net[0].requires_grad_(False)
    net[2].requires_grad_(False)
    z = net(x)[:, :2].detach()
    features = net[:4](x).detach()
    features = torch.cat([features, torch.ones(len(x), 1, dtype=x.dtype)], 1)
    # the head is linear: J_n = I_2 kron [h_n, 1] on (W_{0:2}, b_{0:2}); the Fisher of the other
    # rows is zero, so lambda_max is that of 1/N sum_n H_n kron (h h^T)
    want = torch.einsum("nkl,ni,nj->kilj", softmax_ce_logit_hessian(z), features, features).reshape(12, 12) / len(x)
    got = max_fisher_eigenvalue(net, x, likelihood="categorical", columns=slice(0, 2), iters=500, tol=1e-12,
                                generator=torch.Generator().manual_seed(0))
    assert math.isclose(got, torch.linalg.eigvalsh(want)[-1].item(), rel_tol=1e-8)


def test_softmax_ce_logit_hessian_and_its_vanishing():
    z = torch.randn(4, 5, dtype=torch.float64)
    want = torch.stack([hessian(lambda v: F.cross_entropy(v, torch.tensor(1)))(zi) for zi in z])
    torch.testing.assert_close(softmax_ce_logit_hessian(z), want, rtol=1e-12, atol=1e-14)
    onehot = F.one_hot(torch.tensor(2), 5).double()
    assert torch.linalg.eigvalsh(softmax_ce_logit_hessian(0 * onehot))[-1].item() == pytest.approx(1 / 5)
    scales = (3.0, 5.0, 10.0, 20.0)  # p_true from 0.83 to 1 - 8e-9
    tops = [torch.linalg.eigvalsh(softmax_ce_logit_hessian(s * onehot))[-1].item() for s in scales]
    p_true = [torch.softmax(s * onehot, 0)[2].item() for s in scales]
    assert all(b < a for a, b in zip(tops, tops[1:])) and tops[-1] < 1e-7
    assert all(top <= 2 * (1 - p) for top, p in zip(tops, p_true))  # lambda_max <= trace <= 2 (1 - p_true)
