"""DLCFT: Deep Linear Continual Fine-Tuning (Shon et al., ECCV 2022), and OSLA, the same
quadratic-penalty recipe on the ordinary softmax network (the paper's ablation and baseline).
Protocols and parameters: docs/METHODS.md, section 13 (DLCFT), and docs/METHODS.md, section 14 (OSLA).

DLCFT trains the pre-trained backbone linearised around theta_0 (batch norm folded first),

    phi_lin(x) = phi(x; theta_0) + J(x; theta_0) delta,    z = W phi_lin(x) + b,

with the Gaussian negative log-likelihood L_data = mean_n 0.5 ||z(x_n) - alpha e_{y_n}||^2
(alpha = 15; the paper's Eq. 5), so the old tasks' loss is a quadratic in the parameters and a
quadratic penalty with good curvature is the right regulariser. At task t (1-based):

    L = (1/t) L_data + ((t-1)/t) R,     R = 0.5 sum_l tr(G_l dW_l A_l dW_l^T),   dW = W - W_{t-1}

with K-FAC factors A = E[a a^T], G = E[g g^T] per layer (or TK-FAC's trace-corrected ones),
merged over tasks as running means ((t-1)/t old, 1/t new). Which parameters R covers:
  data-IL   everything (one shared head);
  task-IL   the backbone only (each task has its own head);
  class-IL  backbone and all heads; the heads' curvature is E[phi phi^T] kron I (exact for the
            Gaussian output), and a head added for a new task starts at zero and is anchored at
            zero with the old tasks' E[phi phi^T] (old data would have asked its units for 0), so
            no old data is needed for it. Plus a reservoir replay buffer:
            R = lambda * 0.5 sum_l tr(...) + (1 - lambda) L_replay,  lambda = 1/2,
            L_replay the data term on a batch drawn from the memory (Eq. 14's E_M). The order of
            a step is ER's (labkit.methods.base): (a) training_loss draws the replayed batch
            from the memory as it was before the step, (b) the runner's optimiser step, (c)
            after_step offers the batch to the reservoir; so the memory replays earlier steps'
            samples (the paper's "samples of previous tasks"), never the batch being trained on.
With MSE the linearised model's curvature in delta equals the ordinary network's GGN at
theta_0 (d z / d delta = W J(x; theta_0)), so the backbone's factors are computed on the
ordinary network at theta_0 carrying the current heads; its Gaussian Monte-Carlo targets need no
labels.

OSLA (Ritter et al. 2018, as the DLCFT paper runs it): the same loss weighting, penalty and
buffer, but the network is not linearised and the data term is softmax cross-entropy, so the
factors come from the categorical likelihood of the network as it is; a new class-IL head starts
unregularised (its softmax curvature on old data is unknown without that data).

Inferred (the paper does not say): the class-IL heads are kept block-diagonal (one factor pair
per task head, cross-head terms of G dropped); new units start at zero only in class-IL.
"""
from __future__ import annotations

import dataclasses
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from labkit.curvature.kfac import KronFactors, kfac_factors, kfac_penalty, merge_factors
from labkit.losses import ClassificationLoss
from labkit.methods.base import Method, Param, TaskContext, register
from labkit.methods.buffer import ReservoirBuffer
from labkit.models.eval_mode import evaluating
from labkit.models.taylor import fold_batchnorm, linearize

CURVATURES = ("kfac", "tkfac")


def gaussian_nll(logits: torch.Tensor, targets: torch.Tensor, alpha: float) -> torch.Tensor:
    """mean_n 0.5 ||z_n - alpha e_{y_n}||^2: the negative log-likelihood of a unit-variance
    Gaussian around the logits, up to a constant (the loss K-FAC's Gaussian factors belong to)."""
    target = alpha * F.one_hot(targets, logits.shape[-1]).to(logits.dtype)
    return 0.5 * ((logits - target) ** 2).sum(-1).mean()


def curvature_layers(module: nn.Module) -> dict[str, nn.Module]:
    """The Linear and Conv2d layers of a module, by name: what K-FAC covers."""
    return {name: m for name, m in module.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d))}


class AtLinearisationPoint(nn.Module):
    """The ordinary network at theta_0 carrying the current heads: whose GGN equals the
    linearised model's curvature in delta."""

    def __init__(self, backbone: nn.Module, heads: nn.Module):
        super().__init__()
        self.backbone, self.heads = backbone, heads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.heads.concat(self.backbone(x))


def head_input_moment(features: torch.Tensor) -> KronFactors:
    """A = E[[phi; 1][phi; 1]^T] over the features, shared by every head: with G = I it is a
    linear head's exact Fisher under a unit-variance Gaussian output (G is filled in per head
    by `DLCFT.factor_for`, so a head added later gets the old tasks' A at once)."""
    a = torch.cat([features, features.new_ones(len(features), 1)], dim=1)
    return KronFactors(a.T @ a / len(a), torch.ones(1, 1, dtype=a.dtype, device=a.device))


@register
class DLCFT(Method):
    """DLCFT: linearised backbone + MSE (alpha 15) + K-FAC/TK-FAC penalty, (1/t, (t-1)/t) weighting."""

    name = "dlcft"
    autocast_safe = False  # the quadratic penalty's small differences need fp32
    losses = ("mse",)
    linearised = True
    # the paper trains the linearised model with MSE (alpha 15) on a pre-trained backbone, with Adam
    # (1e-4 on CIFAR-100); 1e-3 is the quick presets' rate (dlcft-digits-*, dlcft-fashion-*)
    recipe = {"loss": "mse", "optimizer": "adam", "lr": 1e-3, "pretrained": "auto"}
    params = {
        "curvature": Param("kfac", "K-FAC, or TK-FAC (each layer's trace matched to the exact Fisher's)", CURVATURES,
                           source="DLCFT paper Table 1 (the K-FAC rows; TK-FAC is the other) and the authors' data-IL "
                                  "script rbu_cifar100_di.py line 64 (METHOD = 'KFAC'); their class-IL script "
                                  "rbu_cifar100_ci.py line 67 and Table 2 use TK-FAC"),
        "alpha": Param(15.0, "scale of the one-hot regression target alpha * e_y", gt=0,
                       source="DLCFT paper Sec. 3.2, Eq. 5 (alpha = 15); the authors' rbu_cifar100_di.py line 255"),
        "lamb": Param(0.5, "class-IL: share of the penalty in R = lamb * penalty + (1 - lamb) * replay",
                      ge=0, le=1, source="DLCFT paper Sec. 4.1 (lambda = 1/2 in the class-IL loss, Eq. 14)"),
        "buffer_size": Param(500, "class-IL replay buffer (reservoir); 0 for none", ge=0, le=100_000,  # as ER's
                             source="DLCFT paper Sec. 4.1 (a buffer of 500 samples, reservoir sampling)"),
        # at most 1000 Monte-Carlo targets: a batch keeps all of its draws in memory at once
        "mc_samples": Param(1, "Monte-Carlo targets per image for the factors G", ge=1, le=1000,
                            source="the DLCFT authors' kfac.py line 280 (one pseudo-target drawn per image of each "
                                   "curvature batch)"),
        "fisher_images": Param(5000, "training images of a task the factors are estimated on (at most)", ge=1,
                               source="chosen here: one whole task of the paper's 10-task Seq-CIFAR-100 data-IL "
                                      "split (Sec. 4.1: 5,000 images a task; the authors draw 1,000 batches of 64 "
                                      "from the task, rbu_cifar100_di.py line 478); nothing checks the value"),
    }

    def __init__(self, **params):
        super().__init__(**params)
        self.factors: dict[str, KronFactors] = {}
        self.anchor: dict[str, torch.Tensor] = {}
        self.tasks_seen = 0
        self.buffer = ReservoirBuffer(self.buffer_size)
        self.data_loss = ClassificationLoss(partial(gaussian_nll, alpha=self.alpha), "gaussian", self.alpha)
        self.identities: dict[tuple[int, torch.device], torch.Tensor] = {}

    def prepare_model(self, model: nn.Module, scenario) -> None:
        model.backbone = linearize(fold_batchnorm(model.backbone))

    def likelihood_loss(self, ctx: TaskContext) -> TaskContext:
        """The context with the data term this method trains with."""
        return dataclasses.replace(ctx, loss=self.data_loss)

    def before_task(self, ctx: TaskContext) -> None:
        self.buffer.to(ctx.device)  # a resumed run's memory comes back on the CPU

    def heads_grown(self, ctx: TaskContext) -> None:
        if ctx.scenario.kind == "class-il" and ctx.t > 0 and self.linearised:
            head = ctx.model.heads.heads[ctx.t]
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)

    def uses_replay(self, ctx: TaskContext) -> bool:
        return ctx.scenario.kind == "class-il" and self.buffer_size > 0

    # ------------------------------------------------------------------ parameters and penalty
    def regularised(self, model: nn.Module, scenario) -> dict[str, tuple[torch.Tensor, torch.Tensor | None]]:
        """The (weight, bias) of every layer the penalty covers, by factor name: the backbone's
        (delta's, when linearised) and, outside task-IL, the heads'."""
        backbone = model.backbone.delta if self.linearised else model.backbone
        out = {f"backbone.{n}": (m.weight, m.bias) for n, m in curvature_layers(backbone).items()}
        if scenario.kind != "task-il":
            out.update({f"heads.{k}": (h.weight, h.bias) for k, h in enumerate(model.heads.heads)})
        return out

    def factor_for(self, key: str, weight: torch.Tensor) -> KronFactors | None:
        """A layer's factors; a linearised model's heads share A ("heads") with G = I."""
        if key in self.factors:
            return self.factors[key]
        shared = self.factors.get("heads") if key.startswith("heads.") else None
        if shared is None:
            return None
        key = (weight.shape[0], shared.A.device)
        if key not in self.identities:  # made once, not in every training step
            self.identities[key] = torch.eye(weight.shape[0], dtype=shared.A.dtype, device=shared.A.device)
        return KronFactors(shared.A, self.identities[key])

    def penalty(self, model: nn.Module, scenario) -> torch.Tensor:
        """0.5 sum_l tr(G_l dW_l A_l dW_l^T) over the layers with factors; dW = current - anchor
        (a head without an anchor is anchored at zero, its starting point)."""
        factors, diffs = {}, {}
        for key, (w, b) in self.regularised(model, scenario).items():
            factor = self.factor_for(key, w)
            if factor is not None:
                w0 = self.anchor.get(f"{key}.weight", torch.zeros_like(w))
                b0 = self.anchor.get(f"{key}.bias", torch.zeros_like(b)) if b is not None else None
                factors[key], diffs[key] = factor, (w - w0, None if b is None else b - b0)
        return kfac_penalty(factors, diffs)

    def training_loss(self, ctx: TaskContext, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        ctx = self.likelihood_loss(ctx)
        t = ctx.t + 1
        data = ctx.task_loss(ctx.model.head_logits(x), y)
        if t == 1:
            return data
        reg = self.penalty(ctx.model, ctx.scenario)  # holds the 0.5 of 0.5 dtheta^T H dtheta
        if self.uses_replay(ctx) and len(self.buffer):
            bx, by, _, _ = self.buffer.sample(len(y))
            reg = self.lamb * reg + (1 - self.lamb) * ctx.task_loss(ctx.model.head_logits(bx), by)
        return data / t + (t - 1) / t * reg

    def after_step(self, ctx: TaskContext, x: torch.Tensor, y: torch.Tensor) -> None:
        """Class-IL with a buffer: offer the batch just trained on to the reservoir."""
        if self.uses_replay(ctx):
            self.buffer.add(x, y)

    # ------------------------------------------------------------------ curvature after a task
    def curvature_net(self, model: nn.Module) -> tuple[nn.Module, dict[str, nn.Module]]:
        """The network the factors are computed on and its layers, by factor name."""
        if self.linearised:
            net = AtLinearisationPoint(model.backbone.base, model.heads)
            return net, {f"backbone.{n}": m for n, m in curvature_layers(model.backbone.base).items()}
        layers = {f"backbone.{n}": m for n, m in curvature_layers(model.backbone).items()}
        layers.update({f"heads.{k}": h for k, h in enumerate(model.heads.heads)})
        return model, layers

    def task_factors(self, ctx: TaskContext) -> dict[str, KronFactors]:
        """This task's K-FAC (or TK-FAC) factors on up to `fisher_images` of its training images."""
        x, y = ctx.task.train_x[: self.fisher_images], ctx.task.train_y[: self.fisher_images]
        columns = ctx.loss_slice()
        net, layers = self.curvature_net(ctx.model)
        likelihood = "gaussian" if self.linearised else "categorical"
        factors = kfac_factors(net, x, y - (columns.start or 0), likelihood=likelihood, fisher_type="mc",
                               layers=layers, columns=columns, onehot_scale=self.alpha if self.linearised else 1.0,
                               mc_samples=self.mc_samples, trace_correction=self.curvature == "tkfac")
        if self.linearised and ctx.scenario.kind != "task-il":
            with torch.no_grad(), evaluating(ctx.model):
                features = ctx.model.features(x)
            factors["heads"] = head_input_moment(features)
        if ctx.scenario.kind == "task-il":
            factors = {k: f for k, f in factors.items() if k.startswith("backbone.")}
        return factors

    def after_task(self, ctx: TaskContext) -> None:
        new = self.task_factors(ctx)
        self.tasks_seen += 1
        self.factors = merge_factors(self.factors, new, weight_old=(self.tasks_seen - 1) / self.tasks_seen)
        self.anchor = {}
        for key, (w, b) in self.regularised(ctx.model, ctx.scenario).items():
            self.anchor[f"{key}.weight"] = w.detach().clone()
            if b is not None:
                self.anchor[f"{key}.bias"] = b.detach().clone()

    def state_dict(self) -> dict:
        return {"factors": {k: {"A": f.A, "G": f.G} for k, f in self.factors.items()},
                "anchor": self.anchor, "tasks_seen": self.tasks_seen, "buffer": self.buffer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.factors = {k: KronFactors(f["A"], f["G"]) for k, f in state["factors"].items()}
        self.anchor, self.tasks_seen = dict(state["anchor"]), state["tasks_seen"]
        self.buffer.load_state_dict(state["buffer"])


@register
class OSLA(DLCFT):
    """OSLA: the ordinary softmax network + K-FAC penalty, DLCFT's weighting (its ablation)."""

    name = "osla"
    losses = ("ce",)
    linearised = False
    recipe = {"lr": 0.01, "pretrained": "auto"}
    params = {k: p for k, p in DLCFT.params.items() if k != "alpha"}
    alpha = 1.0

    def prepare_model(self, model: nn.Module, scenario) -> None:
        pass

    def likelihood_loss(self, ctx: TaskContext) -> TaskContext:
        return ctx
