"""MSE + linearisation makes the continual objective exactly quadratic (DLCFT Sec. 3.2), the
computations behind notebook 03.

(a) The Taylor model f_lin(x; delta) = f(x; theta0) + J(x; theta0) delta (Eq. 6) is linear in
    delta, and it differs from the network f(x; theta0 + delta) by O(||delta||^2) (for delta
    small enough that no LeakyReLU or max-pool kink is crossed).
(b) With the squared error L(v) = 1/(N K) sum_n ||f(x_n; v) - alpha onehot(y_n)||^2 (alpha = 15,
    labkit's "mse") of a model linear in v, the loss is a quadratic polynomial in v:

        L(v) = L(v1) + g1^T (v - v1) + 1/2 (v - v1)^T H (v - v1),   H = 2/(N K) J^T J   (Eq. 8)

    with H constant (the Gauss-Newton matrix at theta0): exact, with no higher-order terms. The
    quadratic penalty 1/2 (v - v1)^T H (v - v1) alone (DLCFT Eq. 8) is task 1's loss up to the
    constant L1(v1) and the linear term g1^T (v - v1), which vanishes only at task 1's minimum
    (penalty_optima: what dropping it costs). With softmax CE, or the non-linear network, the
    expansion leaves higher-order terms.
(c) K-FAC (labkit.curvature.kfac_factors) against the exact Fisher F = 1/N J^T J of the unit-variance
    Gaussian likelihood (F = K/2 * H of (b)), on a network small enough for the exact matrix.

Everything runs in float64 on a tiny MLP (2-D inputs, 3 classes, 371 parameters) and 2-D blobs.
"""
from __future__ import annotations

import math
from typing import Callable

import pandas as pd
import torch
from torch import nn
from torch.func import functional_call, hessian, jacrev

from labkit.curvature import kfac_factors
from labkit.losses import cross_entropy, mse_onehot
from labkit.models.backbones import leaky_relu
from labkit.models.taylor import linearize

F64 = torch.float64
ALPHA = 15.0  # the scale of the one-hot targets (DLCFT, after LQF)
LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "mse": lambda logits, y: mse_onehot(logits, y, ALPHA), "ce": cross_entropy}
Vector = torch.Tensor  # a flat (P,) parameter vector


def tiny_mlp(hidden: int = 16, classes: int = 3, seed: int = 0) -> nn.Sequential:
    """Linear(2, h) -> LeakyReLU -> Linear(h, h) -> LeakyReLU -> Linear(h, classes), float64."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, hidden), leaky_relu(), nn.Linear(hidden, hidden), leaky_relu(),
                         nn.Linear(hidden, classes)).to(F64)


def blobs(n_per_class: int, rotation: float = 0.0, seed: int = 0,
          classes: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """2-D Gaussian blobs (std 0.6) at radius 2 and angles rotation + 2 pi c / classes, class c."""
    gen = torch.Generator().manual_seed(seed)
    angles = rotation + 2 * math.pi * torch.arange(classes, dtype=F64) / classes
    centres = 2 * torch.stack([angles.cos(), angles.sin()], dim=1)
    y = torch.arange(classes).repeat_interleave(n_per_class)
    return centres[y] + 0.6 * torch.randn(len(y), 2, generator=gen, dtype=F64), y


def as_function(model: nn.Module, x: torch.Tensor) -> tuple[Callable[[Vector], torch.Tensor], Vector]:
    """(v -> the model's outputs on x with its trainable parameters set to the flat vector v, the
    current v). For a Linearized model the trainable parameters are delta; theta0 stays put."""
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    shapes = [p.shape for p in params.values()]

    def outputs(v: Vector) -> torch.Tensor:
        chunks = v.split([s.numel() for s in shapes])
        return functional_call(model, {n: c.view(s) for n, c, s in zip(params, chunks, shapes)}, (x,))

    return outputs, torch.cat([p.detach().flatten() for p in params.values()])


def random_unit(n: int, seed: int) -> Vector:
    v = torch.randn(n, generator=torch.Generator().manual_seed(seed), dtype=F64)
    return v / v.norm()


# (a) linearity and the Taylor error -----------------------------------------------------------

def linearity_check(model: nn.Module, x: torch.Tensor, a: float = 0.7, b: float = -1.3, seed: int = 0) -> dict:
    """max |[f_lin(a d1 + b d2) - f0] - a [f_lin(d1) - f0] - b [f_lin(d2) - f0]| for random d1, d2
    (||d|| = 1), next to the size of the change itself: zero up to rounding for the Taylor model,
    not for the network."""
    rows = {}
    for kind, m in (("linearized", linearize(model)), ("network", model)):
        f, v0 = as_function(m, x)
        d1, d2 = random_unit(len(v0), seed), random_unit(len(v0), seed + 1)
        with torch.no_grad():
            f0 = f(v0)
            change = f(v0 + a * d1 + b * d2) - f0
            gap = change - a * (f(v0 + d1) - f0) - b * (f(v0 + d2) - f0)
        rows[kind] = {"max |change|": change.abs().max().item(), "max |non-linearity|": gap.abs().max().item()}
    return rows


def taylor_errors(model: nn.Module, x: torch.Tensor, eps: list[float], seed: int = 0) -> pd.DataFrame:
    """For a random unit direction d and each step size eps, the error of two approximations of
    the network f(x; theta0 + eps d): the constant f(x; theta0) (first order in eps) and the
    Taylor model f_lin(x; eps d) (second order): rows eps, constant_error, linearized_error
    (Frobenius norms over the batch)."""
    f, theta0 = as_function(model, x)
    f_lin, delta0 = as_function(linearize(model), x)
    d = random_unit(len(theta0), seed)
    rows = []
    with torch.no_grad():
        f0 = f(theta0)
        for e in eps:
            exact = f(theta0 + e * d)
            rows.append({"eps": e, "constant_error": (exact - f0).norm().item(),
                         "linearized_error": (exact - f_lin(delta0 + e * d)).norm().item()})
    return pd.DataFrame(rows)


# (b) the loss of the linearised model is exactly quadratic ------------------------------------

def loss_function(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                  loss: str) -> tuple[Callable[[Vector], torch.Tensor], Vector]:
    """(v -> LOSSES[loss](model(x; v), y), the current v)."""
    f, v0 = as_function(model, x)
    return (lambda v: LOSSES[loss](f(v), y)), v0


def curvature_check(model: nn.Module, x: torch.Tensor, y: torch.Tensor, seed: int = 0) -> dict:
    """For the linearised model with MSE: the exact Hessian (torch.func.hessian) at delta = 0 and at
    a random delta, the Gauss-Newton matrix 2/(N K) J^T J, and the second-order expansion of the
    loss around 0 evaluated at the random delta. Returns relative differences (all ~1e-16)."""
    lin = linearize(model)
    f, delta0 = as_function(lin, x)
    loss, _ = loss_function(lin, x, y, "mse")
    delta = 3 * random_unit(len(delta0), seed)
    h0, h1 = hessian(loss)(delta0), hessian(loss)(delta)
    J = jacrev(f)(delta0).reshape(-1, len(delta0))
    ggn = 2 / J.shape[0] * J.T @ J
    g0 = torch.func.grad(loss)(delta0)
    expansion = loss(delta0) + g0 @ delta + 0.5 * delta @ h0 @ delta
    return {
        "parameters": len(delta0),
        "|H(delta) - H(0)| / |H(0)|": ((h1 - h0).norm() / h0.norm()).item(),
        "|H(0) - 2/(NK) J^T J| / |H(0)|": ((h0 - ggn).norm() / h0.norm()).item(),
        "loss at delta": loss(delta).item(),
        "|loss - quadratic expansion| / loss": ((loss(delta) - expansion).abs() / loss(delta)).item(),
    }


def fit(loss: Callable[[Vector], torch.Tensor], v0: Vector, steps: int, lr: float = 0.01) -> Vector:
    """Full-batch Adam on the flat parameter vector, from v0."""
    v = v0.clone().requires_grad_()
    optimizer = torch.optim.Adam([v], lr=lr)
    for _ in range(steps):
        optimizer.zero_grad()
        loss(v).backward()
        optimizer.step()
    return v.detach()


def penalty_vs_loss(model: nn.Module, task1: tuple[torch.Tensor, torch.Tensor],
                    task2: tuple[torch.Tensor, torch.Tensor], steps: int = 500,
                    fractions: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)) -> pd.DataFrame:
    """Continual fine-tuning on two tasks for four models: {linearised, network} x {mse, ce}.
    Each model learns task 1 (v1, `steps` of full-batch Adam from theta0 or delta = 0), then task 2
    from v1 (v2). Along the path v1 + s (v2 - v1) we compare task 1's loss with its second-order
    expansion around v1, built from task 1's exact gradient g1 and Hessian H1,

        L1(v) ~= L1(v1) + g1^T (v - v1) + 1/2 (v - v1)^T H1 (v - v1)          ("quadratic")

    and with the same expansion without the gradient term, L1(v1) + 1/2 (v - v1)^T H1 (v - v1)
    ("penalty_only": the constant plus the quadratic penalty, DLCFT Eq. 8/10, which is the expansion
    only where g1 = 0, at a minimum of L1).

    Rows: model, loss, fraction s, task1_loss, quadratic, penalty_only, relative_error (of
    quadratic), gradient_norm (|g1|)."""
    rows = []
    for kind in ("linearized", "network"):
        m = linearize(model) if kind == "linearized" else model
        for name in LOSSES:
            loss1, v0 = loss_function(m, *task1, name)
            loss2, _ = loss_function(m, *task2, name)
            v1 = fit(loss1, v0, steps)
            v2 = fit(loss2, v1, steps)
            g1, h1 = torch.func.grad(loss1)(v1), hessian(loss1)(v1)
            for s in fractions:
                step = s * (v2 - v1)
                with torch.no_grad():
                    true = loss1(v1 + step).item()
                    penalty_only = (loss1(v1) + 0.5 * step @ h1 @ step).item()
                    quadratic = penalty_only + (g1 @ step).item()
                rows.append({"model": kind, "loss": name, "fraction": s, "task1_loss": true, "quadratic": quadratic,
                             "penalty_only": penalty_only, "relative_error": abs(true - quadratic) / true,
                             "gradient_norm": g1.norm().item()})
    return pd.DataFrame(rows)


def quadratic_minimum(loss: Callable[[Vector], torch.Tensor], v: Vector) -> Vector:
    """A minimiser of a convex quadratic loss: one Newton step v - H^+ grad L(v) with the
    pseudo-inverse of its (positive semi-definite, possibly singular) Hessian H, exact from any v
    for a least-squares loss (its gradient J^T r lies in the range of H = c J^T J); of the
    minimisers, the one nearest v."""
    return v - torch.linalg.pinv(hessian(loss)(v), hermitian=True) @ torch.func.grad(loss)(v)


def penalty_optima(model: nn.Module, task1: tuple[torch.Tensor, torch.Tensor],
                   task2: tuple[torch.Tensor, torch.Tensor], steps: int = 500) -> pd.DataFrame:
    """What the quadratic penalty's dropped gradient term costs, on the linearised model with MSE
    (every objective below is then an exact quadratic, minimised exactly by quadratic_minimum).

    Task 1 is learned with `steps` of full-batch Adam from delta = 0 (v1: where training stopped,
    not a minimum; g1 = grad L1(v1)), or exactly (v1* = argmin L1, where g1 = 0). Then task 2 is
    learned with task 1 stood for by
      "joint":            L1 itself: min L1 + L2, the best a continual learner can do;
      "with gradient":    L1(v1) + g1^T (v - v1) + 1/2 (v - v1)^T H1 (v - v1): equal to L1, so the same minimiser;
      "penalty only":     1/2 (v - v1)^T H1 (v - v1), DLCFT's penalty (Eq. 10), anchored at v1;
      "penalty, fitted":  1/2 (v - v1*)^T H1 (v - v1*), the same penalty anchored at task 1's minimum.
    (DLCFT's 1 : (t - 1) weighting, Eq. 11, is 1 : 1 for two tasks: the same minimisers.)

    Rows (indexed by objective): task1_loss, task2_loss, total (L1 + L2 at the objective's
    minimiser), excess (total minus the joint minimum), anchor_gradient (|grad L1| at the anchor),
    task1_at_anchor (L1 at the anchor) and gradient_at_minimum (|grad| of each objective at
    its minimiser: zero up to rounding)."""
    lin = linearize(model)
    loss1, v0 = loss_function(lin, *task1, "mse")
    loss2, _ = loss_function(lin, *task2, "mse")
    v1 = fit(loss1, v0, steps)
    v1_star = quadratic_minimum(loss1, v1)
    h1 = hessian(loss1)(v1)
    g1 = torch.func.grad(loss1)(v1)

    def penalty(anchor: Vector) -> Callable[[Vector], torch.Tensor]:
        return lambda v: 0.5 * (v - anchor) @ h1 @ (v - anchor)

    objectives = {
        "joint": (lambda v: loss1(v) + loss2(v), v1),
        "with gradient": (lambda v: loss2(v) + loss1(v1) + g1 @ (v - v1) + penalty(v1)(v), v1),
        "penalty only": (lambda v: loss2(v) + penalty(v1)(v), v1),
        "penalty, fitted": (lambda v: loss2(v) + penalty(v1_star)(v), v1_star),
    }
    optima = {name: quadratic_minimum(f, anchor) for name, (f, anchor) in objectives.items()}
    joint_total = (loss1(optima["joint"]) + loss2(optima["joint"])).item()
    rows = []
    for name, v in optima.items():
        f, anchor = objectives[name]
        l1, l2 = loss1(v).item(), loss2(v).item()
        rows.append({"objective": name, "task1_loss": l1, "task2_loss": l2, "total": l1 + l2,
                     "excess": l1 + l2 - joint_total, "anchor_gradient": torch.func.grad(loss1)(anchor).norm().item(),
                     "task1_at_anchor": loss1(anchor).item(),
                     "gradient_at_minimum": torch.func.grad(f)(v).norm().item()})
    return pd.DataFrame(rows).set_index("objective")


# (c) K-FAC against the exact curvature ---------------------------------------------------------

def exact_fisher(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """F = 1/N J^T J (P, P): the Fisher of the unit-variance Gaussian likelihood over the outputs
    (= the Gauss-Newton matrix), parameters in model.named_parameters() order, weights row-major."""
    f, v0 = as_function(model, x)
    J = jacrev(f)(v0).reshape(-1, len(v0))
    return J.T @ J / len(x)


def kfac_matrix(model: nn.Module, x: torch.Tensor, trace_correction: bool = False) -> torch.Tensor:
    """The block-diagonal K-FAC approximation of exact_fisher(model, x): block A kron G per Linear
    layer, with rows/columns reordered from K-FAC's column-major vec([W, b]) to the parameter order
    [W row-major, b]. Every parameter must belong to a Linear layer with bias."""
    factors = kfac_factors(model, x, likelihood="gaussian", fisher_type="type-2", trace_correction=trace_correction)
    blocks = []
    for name, kf in factors.items():
        layer = model.get_submodule(name)
        d_out, d_in = layer.weight.shape
        column_major = torch.arange((d_in + 1) * d_out).view(d_in + 1, d_out)  # index of entry (o, i)
        order = torch.cat([column_major[:d_in].T.flatten(), column_major[d_in]])  # [W row-major, b]
        blocks.append(torch.kron(kf.A, kf.G)[order][:, order])
    return torch.block_diag(*blocks)


def kfac_vs_exact(model: nn.Module, x: torch.Tensor, directions: int = 200, seed: int = 0) -> dict:
    """K-FAC and TK-FAC against the exact Fisher on `model` (e.g. tiny_mlp at theta0, whose Fisher
    is the linearised model's curvature):

    "layers": per Linear layer, the relative Frobenius error of its diagonal block and the traces;
    "overall": the relative Frobenius error of the block-diagonal matrix and the share of ||F||^2
        outside the diagonal blocks (what any block-diagonal approximation drops);
    "penalties": 1/2 d^T F d and the K-FAC / TK-FAC penalties for `directions` random unit d."""
    exact = exact_fisher(model, x)
    approx = {"kfac": kfac_matrix(model, x), "tkfac": kfac_matrix(model, x, trace_correction=True)}
    linear = {n: m for n, m in model.named_modules() if isinstance(m, nn.Linear)}
    blocks = block_slices([m.weight.numel() + m.bias.numel() for m in linear.values()])
    layers = []
    for name, b in zip(linear, blocks):
        row = {"layer": name, "parameters": b.stop - b.start, "exact_trace": exact[b, b].trace().item()}
        for kind, m in approx.items():
            row[f"{kind}_error"] = ((m[b, b] - exact[b, b]).norm() / exact[b, b].norm()).item()
            row[f"{kind}_trace"] = m[b, b].trace().item()
        layers.append(row)
    diagonal = torch.block_diag(*[exact[b, b] for b in blocks])
    overall = {"off-block share of ||F||^2": 1 - (diagonal.norm() / exact.norm()).item() ** 2,
               **{f"{kind} relative error": ((m - exact).norm() / exact.norm()).item() for kind, m in approx.items()}}
    d = torch.randn(directions, len(exact), generator=torch.Generator().manual_seed(seed), dtype=F64)
    d = d / d.norm(dim=1, keepdim=True)
    penalties = pd.DataFrame({"exact": 0.5 * ((d @ exact) * d).sum(1),
                              **{kind: 0.5 * ((d @ m) * d).sum(1) for kind, m in approx.items()}})
    return {"layers": pd.DataFrame(layers), "overall": overall, "penalties": penalties}


def block_slices(sizes: list[int]) -> list[slice]:
    starts = [sum(sizes[:i]) for i in range(len(sizes))]
    return [slice(s, s + n) for s, n in zip(starts, sizes)]
