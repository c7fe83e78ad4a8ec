"""Checks of notebook 03's exercises (MSE and linearisation): the Taylor model of a network in its
parameters, the second-order model of task 1's loss with its gradient term, and a K-FAC block.

References are labkit's own: `labkit.models.taylor.linearize` for the Taylor model, the true MSE
loss of the linearised model (whose second-order expansion is exact, notebook 03 section 3) for
the second-order model, and `labkit.curvature.kfac_factors` for the K-FAC block."""
from __future__ import annotations

import torch
from torch import nn

from labkit.curvature import kfac_factors
from labkit.models.taylor import linearize
from labkit.teaching import linearization as study
from labkit.teaching.exercises.catalogue import exercise
from labkit.teaching.exercises.checking import returned_tensor, close, matching_mistake, shape_problem, show
from labkit.teaching.exercises.feedback import Feedback, judged

STUB = "Replace `raise NotImplementedError` with your code and run the cell again."
F64 = torch.float64


def random_vector(n: int, scale: float, seed: int) -> torch.Tensor:
    return scale * torch.randn(n, generator=torch.Generator().manual_seed(seed), dtype=F64)


def tiny_network(hidden: int, seed: int) -> nn.Module:
    """labkit's tiny MLP (2 inputs, 3 outputs, LeakyReLU), built without moving torch's global
    random state (the notebook's own cells rely on it)."""
    with torch.random.fork_rng():
        return study.tiny_mlp(hidden=hidden, seed=seed)


# 03.1 -------------------------------------------------------------------------------------------

def taylor_cases() -> list[tuple[str, nn.Module, torch.Tensor, float]]:
    """(description, network, inputs, step size |theta - theta0|): the tiny MLP with a step of 0.5
    and of 2, a step of zero (theta = theta0), and one Linear layer, which is its own Taylor model."""
    x, _ = study.blobs(2, seed=5)
    with torch.random.fork_rng():
        torch.manual_seed(3)
        affine = nn.Linear(2, 3).to(F64)
    return [("the tiny MLP (hidden 8), |theta - theta0| = 0.5", tiny_network(8, 1), x, 0.5),
            ("the tiny MLP (hidden 8), theta = theta0", tiny_network(8, 2), x, 0.0),
            ("the tiny MLP (hidden 4), |theta - theta0| = 2", tiny_network(4, 3), x[:4], 2.0),
            ("one Linear layer, |theta - theta0| = 1", affine, x[:3], 1.0)]


@exercise("03.1", "the Taylor model f(x; theta0) + J(x; theta0) (theta - theta0)")
def check_taylor_model(answer) -> Feedback:
    """answer(f, theta0, theta) -> (batch, outputs): f(theta0) + J(theta0) (theta - theta0), with f
    the network's outputs on a batch as a function of its flat parameter vector."""
    def judge() -> str | None:
        for seed, (doing, net, x, step) in enumerate(taylor_cases()):
            f, theta0 = study.as_function(net, x)
            direction = random_vector(len(theta0), 1.0, seed)
            theta = theta0 + step * direction / direction.norm()
            got = returned_tensor(answer, f"on {doing}", f, theta0.clone(), theta.clone())
            if isinstance(got, str):
                return got
            f_lin, delta0 = study.as_function(linearize(net), x)  # labkit's Taylor model, delta = theta - theta0
            with torch.no_grad():
                want = f_lin(delta0 + (theta - theta0))
            if (problem := shape_problem(got, want.shape, "the outputs (one row per input)")) is not None:
                return problem
            if close(got, want):
                continue
            d = theta - theta0
            f0, j0d = torch.func.jvp(f, (theta0,), (d,))
            _, j1d = torch.func.jvp(f, (theta,), (d,))
            _, j0theta = torch.func.jvp(f, (theta0,), (theta,))
            mistake = matching_mistake(got, [
                (j0d, "You returned only J (theta - theta0), the change: the Taylor model starts from the network's "
                      "outputs at theta0, f(x; theta0) + J (theta - theta0)."),
                (f0 + j1d, "Your Jacobian is taken at the new parameters theta. The Taylor model uses J at theta0, "
                           "the point it expands around, whatever theta is: that is what makes it linear in theta."),
                (f(theta), "You returned the network itself at theta, f(x; theta). The Taylor model agrees with it "
                           "only to first order in theta - theta0."),
                (f0 + j0theta, "You multiplied J by theta instead of the displacement theta - theta0."),
                (f0 - j0d, "The change has the wrong sign: it is + J (theta - theta0), the displacement taken as "
                           "new minus old."),
            ])
            if mistake is not None:
                return mistake
            return (f"On {doing}: your first row is {show(got[0])}, labkit's linearize(...) gives {show(want[0])}.")
        return None
    return judged("03.1", judge, STUB)


# 03.2 -------------------------------------------------------------------------------------------

def second_order_cases() -> list[tuple[str, dict]]:
    """(description, inputs) for the linearised tiny MLP (hidden 4, 47 parameters) with labkit's MSE
    loss on 2-D blobs: an anchor away from task 1's minimum (g != 0), v at a random step from it or
    v = anchor, and an anchor at the exact minimum (g = 0). Each input holds the true loss at v."""
    cases = []
    for seed, (anchor_step, v_step, at_minimum) in enumerate([(0.5, 1.0, False), (0.5, 0.0, False),
                                                              (1.0, 3.0, False), (0.0, 1.0, True)]):
        x, y = study.blobs(10, seed=seed)
        loss, v0 = study.loss_function(linearize(tiny_network(4, seed)), x, y, "mse")
        anchor = study.quadratic_minimum(loss, v0) if at_minimum else v0 + random_vector(len(v0), anchor_step, seed)
        v = anchor + random_vector(len(v0), v_step, seed + 100)
        where = "task 1's minimum (g = 0)" if at_minimum else f"|g| = {torch.func.grad(loss)(anchor).norm():.3g}"
        cases.append((f"an anchor at {where}, |v - anchor| = {(v - anchor).norm():.2g}",
                      {"loss_at_anchor": loss(anchor).detach(), "gradient": torch.func.grad(loss)(anchor).detach(),
                       "hessian": torch.func.hessian(loss)(anchor).detach(), "anchor": anchor.detach(),
                       "v": v.detach(), "true_loss": loss(v).detach()}))
    return cases


@exercise("03.2", "task 1's second-order model, with its gradient term")
def check_second_order_model(answer) -> Feedback:
    """answer(loss_at_anchor, gradient, hessian, anchor, v) -> one number:
    L1(anchor) + g^T d + 1/2 d^T H d, d = v - anchor. On the linearised MSE model it is exact, so
    the reference is labkit's true task-1 loss at v."""
    def judge() -> str | None:
        for doing, case in second_order_cases():
            inputs = {k: case[k].clone() for k in ("loss_at_anchor", "gradient", "hessian", "anchor", "v")}
            got = returned_tensor(answer, f"with {doing}", *inputs.values())
            if isinstance(got, str):
                return got
            want = case["true_loss"]
            if (problem := shape_problem(got, want.shape, "the second-order model's value")) is not None:
                return problem
            if close(got, want):
                continue
            L, g, H, d = case["loss_at_anchor"], case["gradient"], case["hessian"], case["v"] - case["anchor"]
            linear, quadratic = g @ d, 0.5 * d @ H @ d
            mistake = matching_mistake(got, [
                (L + quadratic, f"The gradient term g^T d is missing (here g^T d = {linear:.4g}). Without it you have "
                                "the penalty alone plus the constant: that equals task 1's loss only where g = 0, at "
                                "a minimum, and this anchor is not one."),
                (L - linear + quadratic, "The gradient term has the wrong sign: with d = v - anchor (new minus "
                                         "anchor) the expansion is L1(anchor) + g^T d + 1/2 d^T H d."),
                (L + linear + 2 * quadratic, "The 1/2 is missing in front of d^T H d: the second-order Taylor term "
                                             "is 1/2 d^T H d."),
                (linear + quadratic, "The constant L1(anchor) is missing: a penalty may drop it (it does not move "
                                     "the minimiser), but the model of task 1's loss starts from it."),
            ])
            if mistake is not None:
                return mistake
            return (f"With {doing}: your model gives {show(got)}, the true task-1 loss at v is {show(want)} (on the "
                    "linearised MSE model the second-order model is exact).")
        return None
    return judged("03.2", judge, STUB)


# 03.3 -------------------------------------------------------------------------------------------

def linear_layer_samples(seed: int, n: int, d_in: int, d_out: int):
    """(layer, x, y, g): a random Linear(d_in, d_out) in float64, n random inputs x with labels y, and
    the output gradients g = W x + b - 15 onehot(y) that labkit's K-FAC sees for this layer under
    the Gaussian likelihood with the labels' targets (kfac_factors(..., fisher_type="empirical",
    onehot_scale=15)). Torch's global random state is left as it was."""
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():  # its own weights follow
        layer = nn.Linear(d_in, d_out).to(F64)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(d_out, d_in, generator=gen, dtype=F64))
        layer.bias.copy_(torch.randn(d_out, generator=gen, dtype=F64))
        x = torch.randn(n, d_in, generator=gen, dtype=F64)
        y = torch.randint(0, d_out, (n,), generator=gen)
        g = layer(x) - 15.0 * torch.nn.functional.one_hot(y, d_out).to(F64)
    return layer, x, y, g


def labkit_factors(layer: nn.Module, x: torch.Tensor, y: torch.Tensor, trace_correction: bool = False):
    """labkit's K-FAC factors (A, G) of the one layer, as linear_layer_samples describes."""
    return next(iter(kfac_factors(layer, x, y, likelihood="gaussian", fisher_type="empirical", onehot_scale=15.0,
                                  trace_correction=trace_correction).values()))


def kfac_cases() -> list[tuple[str, torch.Tensor, torch.Tensor, torch.Tensor]]:
    """(description, inputs (N, d_in), output gradients (N, d_out), labkit's A kron G) for one
    Linear layer (linear_layer_samples). Sizes (N, d_in, d_out): (6, 3, 2), (9, 2, 4), one sample
    (K-FAC is then exact), one output unit."""
    cases = []
    for seed, (n, d_in, d_out) in enumerate([(6, 3, 2), (9, 2, 4), (1, 3, 2), (5, 4, 1)]):
        layer, x, y, g = linear_layer_samples(seed, n, d_in, d_out)
        factors = labkit_factors(layer, x, y)
        cases.append((f"N={n} samples, {d_in} inputs, {d_out} outputs", x, g, torch.kron(factors.A, factors.G)))
    return cases


@exercise("03.3", "a K-FAC block A kron G of a Linear layer")
def check_kfac_block(answer) -> Feedback:
    """answer(inputs (N, d_in), output_grads (N, d_out)) -> ((d_in+1) d_out, (d_in+1) d_out):
    A kron G, A = 1/N sum a a^T with a = [x, 1], G = 1/N sum g g^T."""
    def judge() -> str | None:
        for doing, x, g, want in kfac_cases():
            got = returned_tensor(answer, f"with {doing}", x.clone(), g.clone())
            if isinstance(got, str):
                return got
            n, d_in, d_out = len(x), x.shape[1], g.shape[1]
            if got.shape == torch.Size([d_in * d_out, d_in * d_out]):
                return ("Your block is for W alone: append a 1 to every input, a = [x, 1], so that the bias's "
                        "column is part of W~ = [W, b] and the block is ((d_in + 1) d_out) square.")
            problem = shape_problem(got, want.shape, "the block (one row and column per entry of [W, b])")
            if problem is not None:
                return problem
            if close(got, want):
                continue
            a = torch.cat([x, torch.ones(n, 1, dtype=F64)], 1)
            A, G = a.T @ a / n, g.T @ g / n
            exact = sum(torch.kron(torch.outer(a_n, a_n), torch.outer(g_n, g_n)) for a_n, g_n in zip(a, g)) / n
            mistake = matching_mistake(got, [
                (torch.kron(G, A), "The Kronecker order is swapped: torch.kron(G, A) is the block for W~'s entries "
                                   "taken row by row. K-FAC's A kron G goes with vec(W~), W~ = [W, b] stacked column "
                                   "by column, so that vec(dW~)^T (A kron G) vec(dW~) = tr(G dW~ A dW~^T)."),
                (n * n * want, "Neither factor is divided by N: A and G are means over the samples, "
                               "A = 1/N sum a a^T and G = 1/N sum g g^T."),
                (n * want, "Only one of the two factors is a mean: divide both A and G by N (the block is then "
                           "1/N^2 times the product of the sums)."),
                (exact, "You averaged the Kronecker products of each sample, E[(a a^T) kron (g g^T)]: that is the "
                        "exact Fisher block. K-FAC takes the two expectations apart, E[a a^T] kron E[g g^T]."),
            ])
            if mistake is not None:
                return mistake
            return f"With {doing}: your block starts {show(got[0])}, labkit's K-FAC gives {show(want[0])}."
        return None
    return judged("03.3", judge, STUB)
