"""The Fisher's largest eigenvalue by power iteration, and the logit-space Hessian of softmax CE.

For logits z = f(x; theta) and a likelihood whose negative log has logit Hessian H, the Fisher
(= the generalised Gauss-Newton matrix) is

    F = 1/N sum_n J_n^T H_n J_n,   J_n = dz_n/dtheta,
    H_n = diag(p_n) - p_n p_n^T  (softmax CE, p = softmax(z)),   H_n = I  (MSE, unit variance).

F v is computed without forming F: a Jacobian-vector product J v (forward mode), H (J v), and a
vector-Jacobian product J^T (H J v) (reverse mode). As p_n -> onehot(y_n), diag(p) - p p^T -> 0,
so softmax CE's Fisher vanishes once the model fits its data (DLCFT Sec. 3.1, App. A); MSE's does not.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call, jvp, vjp

from labkit.models.eval_mode import evaluating

Params = dict[str, torch.Tensor]


def softmax_ce_logit_hessian(z: torch.Tensor) -> torch.Tensor:
    """d^2/dz^2 of -log softmax(z)_t (any t): diag(p) - p p^T with p = softmax(z); (..., K) -> (..., K, K)."""
    p = torch.softmax(z, dim=-1)
    return torch.diag_embed(p) - p.unsqueeze(-1) * p.unsqueeze(-2)


def logit_hessian_product(z: torch.Tensor, u: torch.Tensor, likelihood: str) -> torch.Tensor:
    """H u per row: p * u - p (p . u) for softmax CE, u for the unit-variance Gaussian."""
    if likelihood == "gaussian":
        return u
    if likelihood == "categorical":
        p = torch.softmax(z, dim=-1)
        return p * u - p * (p * u).sum(-1, keepdim=True)
    raise ValueError(f"likelihood={likelihood!r} is not valid: choose 'categorical' or 'gaussian'")


def max_fisher_eigenvalue(model: nn.Module, x: torch.Tensor, *, likelihood: str, columns: slice = slice(0, None),
                          iters: int = 50, tol: float = 1e-4, batch_size: int = 512,
                          generator: torch.Generator | None = None) -> float:
    """lambda_max(F) over the parameters that require grad, by power iteration
    v <- F v / ||F v||, lambda = v^T F v, stopped when lambda changes by less than tol * lambda.

    F as in the module docstring, over the logits model(x)[:, columns]; the model is in eval
    mode meanwhile (evaluating). The start vector is drawn from `generator`.
    """
    params = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}
    buffers = {n: b.detach() for n, b in model.named_buffers()}

    def fisher_vector_product(v: Params) -> Params:
        total = {n: torch.zeros_like(p) for n, p in params.items()}
        for start in range(0, len(x), batch_size):
            xb = x[start:start + batch_size]

            def logits(p: Params) -> torch.Tensor:
                return functional_call(model, (p, buffers), (xb,))[:, columns]

            z, jv = jvp(logits, (params,), (v,))
            _, pullback = vjp(logits, params)
            for n, t in pullback(logit_hessian_product(z, jv, likelihood))[0].items():
                total[n] += t
        return {n: t / len(x) for n, t in total.items()}

    with evaluating(model):
        v = normalised({n: torch.randn(p.shape, generator=generator, dtype=p.dtype).to(p.device)
                        for n, p in params.items()})
        eigenvalue = 0.0
        for _ in range(iters):
            fv = fisher_vector_product(v)
            previous, eigenvalue = eigenvalue, dot(v, fv).item()
            if eigenvalue <= 0.0:  # F v = 0: the Fisher is zero on this data
                return 0.0
            v = normalised(fv)
            if abs(eigenvalue - previous) < tol * eigenvalue:
                break
    return eigenvalue


def dot(u: Params, v: Params) -> torch.Tensor:
    return sum((u[n] * v[n]).sum() for n in u)


def normalised(v: Params) -> Params:
    norm = dot(v, v).sqrt()
    return {n: t / norm for n, t in v.items()}
