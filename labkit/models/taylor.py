"""The first-order Taylor model of a network around its pre-trained parameters (DLCFT Eq. 6, 22)
and batch-norm folding (DLCFT folds BN into the convolutions before linearising)."""
from __future__ import annotations

import copy

import torch
from torch import nn
from torch.func import functional_call, jvp


class Linearized(nn.Module):
    """f_lin(x; delta) = f(x; theta0) + J(x; theta0) delta   (DLCFT Eq. 6 / Eq. 22)

    with J = D_theta f(x; theta0) the Jacobian at the pre-trained point. One forward-mode
    Jacobian-vector product gives both terms; the Jacobian itself is never stored.

    ``base`` holds theta0 (and the buffers), frozen and always in eval mode; ``delta`` is a copy of
    ``base`` whose parameters (same names) are the trainable displacement delta, zero at start;
    ``delta``'s forward is never called: it only holds tensors shaped like theta0. Gradients reach
    ``delta`` only, even if someone sets requires_grad on ``base``.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.base = copy.deepcopy(model).eval().requires_grad_(False)
        self.delta = copy.deepcopy(self.base).requires_grad_(True)
        with torch.no_grad():
            for p in self.delta.parameters():
                p.zero_()
        if hasattr(model, "out_dim"):
            self.out_dim = model.out_dim

    def train(self, mode: bool = True) -> "Linearized":
        """Set the mode of this module; ``base`` stays in eval mode (theta0's batch-norm
        statistics are part of f(x; theta0) and never updated)."""
        super().train(mode)
        self.base.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        theta0 = {name: p.detach() for name, p in self.base.named_parameters()}
        buffers = dict(self.base.named_buffers())
        delta = dict(self.delta.named_parameters())

        def f(params: dict[str, torch.Tensor]) -> torch.Tensor:
            return functional_call(self.base, (params, buffers), (x,))

        primal, tangent = jvp(f, (theta0,), (delta,))
        return primal + tangent


def linearize(model: nn.Module) -> Linearized:
    """The first-order Taylor model of ``model`` around its current parameters theta0 (a copy:
    ``model`` itself is left untouched)."""
    return Linearized(model)


FOLDABLE = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every batch norm folded into the convolution or linear layer
    registered right before it, the batch norm replaced by ``nn.Identity``. With the eval-mode
    statistics (mu, sigma^2) and affine (gamma, beta) of the batch norm and s = gamma / sqrt(sigma^2 + eps):

        W' = diag(s) W,    b' = s (b - mu) + beta     (b = 0 when the layer had no bias)

    so the copy computes what ``model.eval()`` computes. Raises ValueError for a batch norm that
    follows no convolution/linear layer or keeps no running statistics.
    """
    folded = copy.deepcopy(model)
    previous, previous_name = None, None
    for name, module in list(folded.named_modules()):
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            if not isinstance(previous, FOLDABLE):
                raise ValueError(f"batch norm {name!r} does not follow a convolution or linear layer "
                                 f"(the module registered before it is {previous_name!r})")
            fold_into(previous, module)
            parent_name, _, child = name.rpartition(".")
            setattr(folded.get_submodule(parent_name), child, nn.Identity())
        if not list(module.children()):
            previous, previous_name = module, name
    return folded


@torch.no_grad()
def fold_into(layer: nn.Module, bn: nn.modules.batchnorm._BatchNorm) -> None:
    """Fold ``bn`` (eval statistics) into ``layer`` in place: W' = diag(s) W, b' = s (b - mu) + beta."""
    if bn.running_mean is None:
        raise ValueError("a batch norm without running statistics cannot be folded")
    if bn.num_features != layer.weight.shape[0]:
        raise ValueError(f"batch norm over {bn.num_features} features follows a layer with "
                         f"{layer.weight.shape[0]} outputs")
    weight = layer.weight.double()
    gamma = bn.weight.double() if bn.affine else torch.ones_like(bn.running_var, dtype=torch.float64)
    beta = bn.bias.double() if bn.affine else torch.zeros_like(gamma)
    bias = layer.bias.double() if layer.bias is not None else torch.zeros_like(gamma)
    scale = gamma / torch.sqrt(bn.running_var.double() + bn.eps)
    new_weight = weight * scale.view(-1, *([1] * (weight.dim() - 1)))
    new_bias = scale * (bias - bn.running_mean.double()) + beta
    layer.weight.copy_(new_weight.to(layer.weight.dtype))
    layer.bias = nn.Parameter(new_bias.to(layer.weight.dtype), requires_grad=layer.weight.requires_grad)
