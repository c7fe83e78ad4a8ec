"""Sparse probability maps and their Fenchel-Young losses (Blondel, Martins, Niculae 2020;
docs/METHODS.md, section 16).

A regulariser Omega on the simplex gives a prediction map and a loss:

    p*(z)    = argmax_{p in simplex} <z, p> - Omega(p)
    Omega*(z) = <z, p*> - Omega(p*)
    L(z, y)  = Omega*(z) - z_y + Omega(e_y)          >= 0, zero iff p*(z) = e_y
    grad_z L = p*(z) - e_y

Tsallis alpha-entropies make the family: Omega(p) = 1/(alpha (alpha-1)) sum_j (p_j^alpha - p_j)
for alpha > 1, with alpha -> 1 the negative Shannon entropy (softmax and its cross-entropy),
alpha = 2 half the squared norm up to a constant (sparsemax), alpha = 1.5 the usual entmax.
Their maps are p*_j = [(alpha-1) z_j - tau]_+^(1/(alpha-1)) with tau set so that sum p* = 1:
classes below the threshold get exactly zero probability and exactly zero gradient, and the loss
is exactly zero once z_y beats every other score by the margin 1/(alpha-1).

Every function reads the scores along the last dimension; the losses take the mean over the
batch. Autograd through the sort-based closed forms gives the right gradients (the threshold is
differentiated at a fixed support, which is the implicit-function derivative); entmax_bisect,
whose threshold comes from a search, has its Jacobian written out.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def _ranks(z: torch.Tensor) -> torch.Tensor:
    """1, 2, ..., N along the last dimension, in z's dtype and device."""
    return torch.arange(1, z.shape[-1] + 1, device=z.device, dtype=z.dtype)


def sparsemax(z: torch.Tensor) -> torch.Tensor:
    """Sparsemax (Martins & Astudillo 2016): the Euclidean projection of z onto the simplex,

        sparsemax(z) = argmin_{p in simplex} ||p - z||^2 = [z - tau]_+ ,

    with z_(1) >= ... >= z_(N) sorted, k(z) = max{k : 1 + k z_(k) > sum_{j<=k} z_(j)} the support
    size and tau = (sum_{j<=k(z)} z_(j) - 1) / k(z).
    """
    z_sorted = z.sort(dim=-1, descending=True).values
    cumsum = z_sorted.cumsum(-1)
    # k >= 1 for every finite z; clamped so that non-finite logits give NaN (a diverged run the
    # runner reports) instead of an index error
    support_size = (1 + _ranks(z) * z_sorted > cumsum).sum(-1, keepdim=True).clamp(min=1)
    tau = (cumsum.gather(-1, support_size - 1) - 1) / support_size
    return (z - tau).clamp(min=0)


def sparsemax_loss(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Sparsemax loss: the Fenchel-Young loss of Omega(p) = 0.5 ||p||^2, mean over the batch.

        L(z, y) = <z, p*> - 0.5 ||p*||^2 - z_y + 0.5 = <p* - e_y, z> + 0.5 (1 - ||p*||^2)

    with p* = sparsemax(z); equal to Martins & Astudillo's -z_y + 0.5 sum_{j in S} (z_j^2 - tau^2)
    + 0.5. Gradient p* - e_y; zero once z_y >= z_j + 1 for every j != y.
    """
    p = sparsemax(z)
    onehot = F.one_hot(y, z.shape[-1]).to(z.dtype)
    return (((p - onehot) * z).sum(-1) + 0.5 * (1 - (p * p).sum(-1))).mean()


def entmax15(z: torch.Tensor) -> torch.Tensor:
    """1.5-entmax (Peters, Niculae, Martins 2019), exact by sorting:

        entmax15(z) = argmax_{p in simplex} <z, p> + H_1.5(p) = [z/2 - tau]_+^2 ,

    H_1.5(p) = (4/3) sum_j (p_j - p_j^1.5). With s = z/2 sorted decreasingly, a support of the top
    k needs sum_{j<=k} (s_(j) - tau)^2 = 1, whose root below s_(k) is

        tau(k) = M_k - sqrt((1 - S_k) / k),   M_k = mean of s_(1..k),
                                              S_k = sum_{j<=k} (s_(j) - M_k)^2 ;

    the support is the k with tau(k) <= s_(k) (those k are exactly 1..k*), and tau = tau(k*).
    """
    s = z / 2
    s = s - s.max(-1, keepdim=True).values  # entmax is shift invariant; this keeps sums small
    s_sorted = s.sort(dim=-1, descending=True).values
    k = _ranks(z)
    mean = s_sorted.cumsum(-1) / k
    spread = (s_sorted ** 2).cumsum(-1) - k * mean ** 2  # S_k
    with torch.no_grad():
        tau_all = mean - ((1 - spread) / k).clamp(min=0).sqrt()
        support_size = (tau_all <= s_sorted).sum(-1, keepdim=True).clamp(min=1)  # as in sparsemax
    tau = mean.gather(-1, support_size - 1) - (
        (1 - spread.gather(-1, support_size - 1)) / support_size).sqrt()
    return (s - tau).clamp(min=0) ** 2


def _tsallis15_entropy(p: torch.Tensor) -> torch.Tensor:
    """H_1.5(p) = (4/3) sum_j (p_j - p_j^1.5) = 1/(alpha (alpha-1)) sum_j (p_j - p_j^alpha), alpha = 1.5."""
    return (4 / 3) * (p - p ** 1.5).sum(-1)


def entmax15_loss(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """1.5-entmax loss: the Fenchel-Young loss of the Tsallis 1.5-entropy, mean over the batch.

        L(z, y) = <z, p*> + H_1.5(p*) - z_y - 0 = <p* - e_y, z> + H_1.5(p*)

    with p* = entmax15(z) (H_1.5(e_y) = 0). Gradient p* - e_y; zero once z_y >= z_j + 2 for every
    j != y (the margin 1/(alpha-1)).
    """
    p = entmax15(z)
    onehot = F.one_hot(y, z.shape[-1]).to(z.dtype)
    return (((p - onehot) * z).sum(-1) + _tsallis15_entropy(p)).mean()


class _EntmaxBisect(torch.autograd.Function):
    """alpha-entmax with the threshold found by bisection and the Jacobian written out:

        d p_i / d z_j = s_i delta_ij - s_i s_j / sum_k s_k,   s = p^(2-alpha) on the support, 0 off it

    (differentiate p_i = ((alpha-1) z_i - tau)^(1/(alpha-1)) and use sum_i dp_i = 0 for d tau).
    """

    @staticmethod
    def forward(ctx, z: torch.Tensor, alpha: float, n_iter: int) -> torch.Tensor:
        s = (alpha - 1) * z
        top = s.max(-1, keepdim=True).values
        # tau = top - 1 gives the top class p = 1 (sum >= 1); tau = top - N^(1-alpha) gives every
        # class p <= 1/N (sum <= 1): the root lies between.
        low, high = top - 1, top - z.shape[-1] ** (1 - alpha)
        for _ in range(n_iter):
            tau = (low + high) / 2
            mass = ((s - tau).clamp(min=0) ** (1 / (alpha - 1))).sum(-1, keepdim=True)
            low, high = torch.where(mass >= 1, tau, low), torch.where(mass >= 1, high, tau)
        p = (s - low).clamp(min=0) ** (1 / (alpha - 1))
        p = p / p.sum(-1, keepdim=True)
        ctx.save_for_backward(p)
        ctx.alpha = alpha
        return p

    @staticmethod
    def backward(ctx, grad_p: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (p,) = ctx.saved_tensors
        s = torch.where(p > 0, p ** (2 - ctx.alpha), torch.zeros_like(p))
        grad_z = s * grad_p - s * (s * grad_p).sum(-1, keepdim=True) / s.sum(-1, keepdim=True)
        return grad_z, None, None


def entmax_bisect(z: torch.Tensor, alpha: float, n_iter: int = 60) -> torch.Tensor:
    """alpha-entmax for alpha in (1, 2] (Peters, Niculae, Martins 2019), threshold by bisection:

        entmax_alpha(z) = argmax_{p in simplex} <z, p> + H_alpha(p)
                        = [(alpha-1) z - tau]_+^(1/(alpha-1)),   sum = 1,
        H_alpha(p) = 1/(alpha (alpha-1)) sum_j (p_j - p_j^alpha).

    alpha = 2 is sparsemax, 1.5 entmax15, alpha -> 1 softmax. Each of the n_iter steps halves
    the bracket around tau (width <= 1); near alpha = 1 the power 1/(alpha-1) magnifies errors
    in tau, so use float64 there.
    """
    if not 1 < alpha <= 2:
        raise ValueError(f"alpha={alpha!r} is not valid: entmax_bisect takes alpha in (1, 2]")
    return _EntmaxBisect.apply(z, alpha, n_iter)
