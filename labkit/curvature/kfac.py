"""K-FAC: each layer's Fisher block as one Kronecker product (Martens & Grosse 2015; convolutions:
Grosse & Martens 2016), with TK-FAC's trace correction (Gao et al. 2021), as DLCFT uses it.

For a layer s = W~ a (W~ = [W, b] acting on the input a with a trailing 1 when there is a bias),
the Fisher block of vec(W~) is E_n[ vec(g_n a_n^T) vec(g_n a_n^T)^T ], g_n = d(-log p)/ds. K-FAC
takes the expectation of the two sides apart:

    F_layer ~= A kron G,   A = E[a a^T],   G = E[g g^T],

so the quadratic form of a displacement dW~ is vec(dW~)^T (A kron G) vec(dW~) = tr(G dW~ A dW~^T).

Where the g come from (`fisher_type`): each is a backpropagated "logit vector" e_n (d logits):
  "mc"         e = grad_z -log p(t|z) at targets t drawn from the model (softmax sample, or
               z + N(0, I) for the Gaussian), averaged over `mc_samples` draws;
  "type-2"     the exact expectation over t: e runs over the columns of a square root S of the
               logit Hessian H = S S^T; categorical H = diag(p) - p p^T has S's column c =
               sqrt(p_c) (onehot_c - p) (the CE gradient at label c, weighted by sqrt(p_c)),
               Gaussian H = I has S = I;
  "empirical"  t = the true labels (onehot_scale * onehot for the Gaussian).

Convolutions ("expand" convention, as curvlinops' KFACLinearOperator with kfac_approx="expand"):
a conv applies W~ at T spatial positions; a_{n,t} is the unfolded input patch (C_in*kh*kw, +1)
and g_{n,t} the output gradient at position t. Positions are treated as extra samples for A and
summed for G:

    A = 1/(N T) sum_n sum_t a_nt a_nt^T,      G = 1/N sum_n sum_t g_nt g_nt^T

(a Linear layer is the case T = 1: plain K-FAC).

TK-FAC rescales G by c = tr(F_layer) / (tr A tr G), so that tr(A kron cG) equals the exact
trace  tr(F_layer) = E_n ||grad_W~ l_n||^2 = E_n ||sum_t g_nt a_nt^T||_F^2  (||a||^2 ||g||^2 for
a Linear layer), computed from the same a and g.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from labkit.curvature.fisher import fisher_targets, negative_log_likelihood
from labkit.models.eval_mode import evaluating

FISHER_TYPES = ("mc", "type-2", "empirical")


@dataclass
class KronFactors:
    """One layer's K-FAC factors: F_layer ~= A kron G."""

    A: torch.Tensor  # (d_in(+1), d_in(+1)) = E[a a^T], a with a trailing 1 for a layer with bias
    G: torch.Tensor  # (d_out, d_out) = E[g g^T], g = d(-log p)/d(layer output)

    def penalty(self, dW: torch.Tensor, db: torch.Tensor | None = None) -> torch.Tensor:
        """0.5 tr(G dW~ A dW~^T) = 0.5 vec(dW~)^T (A kron G) vec(dW~), dW~ = [dW as (d_out, d_in), db]."""
        dW = dW.reshape(dW.shape[0], -1)
        if db is not None:
            dW = torch.cat([dW, db.reshape(-1, 1)], dim=1)
        if dW.shape[1] != self.A.shape[0]:
            raise ValueError(f"dW~ has {dW.shape[1]} input columns but A is {tuple(self.A.shape)}: "
                             "pass db exactly when the layer has a bias")
        return 0.5 * ((self.G @ dW @ self.A) * dW).sum()


def kfac_factors(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None, *, likelihood: str,
                 fisher_type: str = "mc", layers: dict[str, nn.Module] | None = None,
                 columns: slice = slice(0, None), onehot_scale: float = 1.0, mc_samples: int = 1,
                 batch_size: int = 256, trace_correction: bool = False,
                 generator: torch.Generator | None = None) -> dict[str, KronFactors]:
    """K-FAC factors (A, G) of every layer in `layers` (default: each nn.Linear and nn.Conv2d of
    `model`, by module name) for the likelihood over logits model(x)[:, columns].

    y (relative to `columns`) is needed only for fisher_type "empirical". Works whether or not the
    parameters require grad. The model is in eval mode meanwhile (evaluating). trace_correction=True
    gives TK-FAC (see the module docstring).
    """
    if fisher_type not in FISHER_TYPES:
        raise ValueError(f"fisher_type={fisher_type!r} is not valid: choose one of {', '.join(FISHER_TYPES)}")
    if likelihood not in ("categorical", "gaussian"):
        raise ValueError(f"likelihood={likelihood!r} is not valid: choose 'categorical' or 'gaussian'")
    if fisher_type == "empirical" and y is None:
        raise ValueError("fisher_type='empirical' needs the labels y")
    layers = dict(layers) if layers is not None else {
        name: m for name, m in model.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d))}
    taps: dict[str, LayerTap] = {}
    with evaluating(model):
        try:
            for name, layer in layers.items():
                taps[name] = LayerTap(layer)
            for start in range(0, len(x), batch_size):
                xb = x[start:start + batch_size].detach().requires_grad_()
                with torch.enable_grad():
                    logits = model(xb)[:, columns]
                yb = None if y is None else y[start:start + batch_size]
                for e in logit_vectors(logits.detach(), yb, likelihood, fisher_type, onehot_scale, mc_samples,
                                       generator):
                    torch.autograd.grad(logits, xb, e, retain_graph=True)  # the taps record each layer's g
                    for tap in taps.values():
                        tap.accumulate_gradients()
                for tap in taps.values():
                    tap.accumulate_inputs()
        finally:
            for tap in taps.values():
                tap.remove()
    return {name: tap.factors(len(x), trace_correction) for name, tap in taps.items()}


def logit_vectors(logits: torch.Tensor, y: torch.Tensor | None, likelihood: str, fisher_type: str,
                  onehot_scale: float, mc_samples: int, generator: torch.Generator | None) -> list[torch.Tensor]:
    """The vectors e_n (one (B, K) tensor per backward pass) with F = E_n sum_e J_n^T e_n e_n^T J_n."""
    if fisher_type == "type-2":
        onehots = torch.eye(logits.shape[1], dtype=logits.dtype, device=logits.device)
        if likelihood == "gaussian":
            return [onehot.expand_as(logits) for onehot in onehots]
        p = torch.softmax(logits, -1)
        return [p[:, c:c + 1].sqrt() * (onehot - p) for c, onehot in enumerate(onehots)]
    if fisher_type == "empirical":
        targets = [fisher_targets(logits, y, "empirical", likelihood, onehot_scale)]
    else:
        targets = [fisher_targets(logits, y, "sampled", likelihood, generator=generator) for _ in range(mc_samples)]
    return [nll_gradient(logits, t, likelihood) / math.sqrt(len(targets)) for t in targets]


def nll_gradient(logits: torch.Tensor, target: torch.Tensor, likelihood: str) -> torch.Tensor:
    """grad_z -log p(t | z) per row: softmax(z) - t (categorical, one-hot t) or z - t (Gaussian)."""
    with torch.enable_grad():
        z = logits.detach().requires_grad_()
        return torch.autograd.grad(negative_log_likelihood(z, target, likelihood).sum(), z)[0]


class LayerTap:
    """Hooks on one layer recording its inputs as rows a (B, T, d_in(+1)) on the forward pass and
    the gradients g (B, T, d_out) w.r.t. its output on each backward pass, and the running sums
    of A, G and the exact trace. A tensor hook, not autograd.grad on the output, so that an
    in-place activation after the layer cannot change which gradient is seen."""

    def __init__(self, layer: nn.Module):
        if not isinstance(layer, (nn.Linear, nn.Conv2d)):
            raise TypeError(f"K-FAC is defined here for nn.Linear and nn.Conv2d, not {type(layer).__name__}")
        if isinstance(layer, nn.Conv2d) and (layer.groups != 1 or isinstance(layer.padding, str)
                                             or layer.padding_mode != "zeros"):
            raise NotImplementedError("K-FAC here needs Conv2d with groups=1 and integer zero padding")
        self.layer = layer
        self.a: torch.Tensor | None = None
        self.g: torch.Tensor | None = None
        w = layer.weight
        d_in = w[0].numel() + (layer.bias is not None)
        self.A = w.new_zeros(d_in, d_in)
        self.G = w.new_zeros(w.shape[0], w.shape[0])
        self.trace = w.new_zeros(())
        self.handle = layer.register_forward_hook(self.on_forward)

    def on_forward(self, layer: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        if self.a is not None:
            raise RuntimeError("a layer called twice in one forward pass has no single K-FAC block")
        self.a = layer_inputs(layer, inputs[0].detach())
        output.register_hook(self.on_backward)

    def on_backward(self, grad_output: torch.Tensor) -> None:
        self.g = output_gradients(self.layer, grad_output.detach())

    def accumulate_gradients(self) -> None:
        """Add sum_n sum_t g g^T and sum_n ||sum_t g a^T||^2 of the last backward pass (none if
        the logits do not depend on the layer)."""
        if self.g is not None:
            self.G += torch.einsum("nti,ntj->ij", self.g, self.g)
            self.trace += squared_gradient_norms(self.a, self.g).sum()
        self.g = None

    def accumulate_inputs(self) -> None:
        """Add 1/T sum_n sum_t a a^T of the last forward pass."""
        self.A += torch.einsum("nti,ntj->ij", self.a, self.a) / self.a.shape[1]
        self.a = None

    def factors(self, n: int, trace_correction: bool) -> KronFactors:
        A, G = self.A / n, self.G / n
        if trace_correction:
            kfac_trace = torch.trace(A) * torch.trace(G)
            G = G * (self.trace / n / kfac_trace if kfac_trace > 0 else 0.0)
        return KronFactors(A, G)

    def remove(self) -> None:
        self.handle.remove()


def layer_inputs(layer: nn.Module, inp: torch.Tensor) -> torch.Tensor:
    """The inputs a (B, T, d_in(+1)) the layer's weight multiplies: conv patches unfolded (rows
    ordered C_in, kh, kw like weight.reshape(C_out, -1)), Linear rows as they are (T = the
    product of any middle dimensions); a trailing 1 when the layer has a bias."""
    if isinstance(layer, nn.Conv2d):
        a = F.unfold(inp, layer.kernel_size, layer.dilation, layer.padding, layer.stride).transpose(1, 2)
    else:
        a = inp.reshape(inp.shape[0], -1, inp.shape[-1])
    if layer.bias is not None:
        a = torch.cat([a, a.new_ones(*a.shape[:2], 1)], dim=2)
    return a


def output_gradients(layer: nn.Module, grad_output: torch.Tensor) -> torch.Tensor:
    """The output gradients g (B, T, d_out), positions in the same order as layer_inputs."""
    if isinstance(layer, nn.Conv2d):
        return grad_output.flatten(2).transpose(1, 2)
    return grad_output.reshape(grad_output.shape[0], -1, grad_output.shape[-1])


def squared_gradient_norms(a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """||sum_t g_nt a_nt^T||_F^2 per sample n, by whichever is smaller: the (T, T) Gram form
    sum_{t,s} (g_t.g_s)(a_t.a_s), or the (d_out, d_in) per-sample gradient itself."""
    T, d_in, d_out = a.shape[1], a.shape[2], g.shape[2]
    if T * T <= d_in * d_out:
        return ((a @ a.transpose(1, 2)) * (g @ g.transpose(1, 2))).sum((1, 2))
    return torch.einsum("nto,nti->noi", g, a).pow(2).sum((1, 2))


def merge_factors(old: dict[str, KronFactors], new: dict[str, KronFactors],
                  weight_old: float) -> dict[str, KronFactors]:
    """Weighted means A = w A_old + (1 - w) A_new and G = w G_old + (1 - w) G_new (DLCFT's running
    mean over tasks, w = (t-1)/t); a layer on only one side is kept as it is."""
    merged = {**old, **new}
    for name in old.keys() & new.keys():
        merged[name] = KronFactors(weight_old * old[name].A + (1 - weight_old) * new[name].A,
                                   weight_old * old[name].G + (1 - weight_old) * new[name].G)
    return merged


def extend_outputs(f: KronFactors, n_new: int, fill: float = 1.0) -> KronFactors:
    """The factors of the layer grown by n_new output units: G -> [[G, 0], [0, fill I]], A kept.

    DLCFT's class-IL head: with MSE, a new unit starting at zero has Fisher E[z z^T] kron 1 on its
    weights (z the head's input), i.e. A kron I, so fill = 1 (unit-variance Gaussian)."""
    return KronFactors(f.A, torch.block_diag(f.G, fill * torch.eye(n_new, dtype=f.G.dtype, device=f.G.device)))


def kfac_penalty(factors: dict[str, KronFactors],
                 diffs: dict[str, tuple[torch.Tensor, torch.Tensor | None]]) -> torch.Tensor:
    """sum over layers of 0.5 tr(G dW~ A dW~^T); diffs[name] = (dW, db), current minus anchor."""
    return sum((factors[name].penalty(dW, db) for name, (dW, db) in diffs.items()),
               start=torch.zeros(()))
