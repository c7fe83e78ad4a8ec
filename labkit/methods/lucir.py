"""LUCIR (Hou et al., CVPR 2019, "Learning a Unified Classifier Incrementally via Rebalancing")
and its "Rethinking softmax" variants lucir-s, lucir-sr, lucir-br, lucir-br2, lucir-bsr
(docs/PAPERS.md, section 1), as a table of term weights with one registered subclass per row.
Protocol and parameters: docs/METHODS.md, section 6 (the variants: section 7).

    L = L_CE(sigma cos_{<=t}, y)                                          cross-entropy (ce_over)
        + lambda_adapt * ( w_lf    * mean_b (1 - cos(f_b, f^o_b))              less-forget
                         + w_task  * gamma1 * sum_{i<t} KD_T(z_i, z_i^o)        per-task KD, T = 1
                         + w_bce   * BCE(sigma(f), sigma(f^o)) )                features, whole vector
        + lamb_mr * mean_{b old, k<=K} max(0, m - cos_{b,y_b} + cos_{b,new_k})  margin ranking
        + w_pred * BCE(sigma(z), onehot(y))                                    all logits so far
    lambda_adapt = lamb_base * sqrt(n_old_classes / n_new_classes)

L_CE spans what Param ce_over names, in every variant:
    "all-heads"  (default) -log softmax(sigma [cos_0 .. cos_t])_y over every class seen, on the
                 task's images and the exemplars, in every scenario, task-IL included: LUCIR's
                 Eq. 1 as the released code takes it (NeXAIS/RethinkSoftmax src/approach/lucir*.py,
                 FACIL's lucir.py: the CE over the heads' scaled outputs concatenated).
    "own-head"   ctx.task_loss, what the other methods train with: in task-IL each sample within
                 its own task's head, -log softmax(sigma cos_{task(y)})_{y - offset}; class-IL and
                 data-IL have only the all-heads reading, so there the two agree. labkit's LUCIR
                 before ce_over existed; not the released code.

| suffix | w_lf | w_task | w_bce | w_pred | reading                                                |
|--------|------|--------|-------|--------|--------------------------------------------------------|
| (none) | 1    | 0      | 0     | 0      | LUCIR                                                  |
| -s     | 0    | 1      | 0     | 0      | inferred: per-task KD replaces LUCIR's distillation    |
| -sr    | 1    | 1      | 0     | 0      | released code: adds gamma1 lambda_adapt sum_i KD_T=1   |
| -br    | 1    | 0      | 1     | 0      | inferred: adds BCE on features (LwF-BR's weight 1)     |
| -br2   | 1    | 0      | 1     | 1      | released code: -BR + BCE(sigma(all logits), onehot(y)) |
| -bsr   | 1    | 1      | 0.5   | 0      | inferred: -SR + BCE on features at LwF-BSR's 0.5       |

Reading of the variants for LUCIR (docs/PAPERS.md, section 1, says what the released files do).
LUCIR has no softmax KD: its distillation is the less-forget constraint on features. So -S (LwF:
per-task KD *replaces* the joint KD) replaces the less-forget term by the per-task KD on the old
heads' scaled cosine logits, and -SR (LwF: keeps half the joint KD besides the per-task KD) keeps
the less-forget term at full weight, as the released lucir-sr.py does. -BR adds the
shift-sensitive BCE, which for LUCIR acts on the features f (the released -BR2's term) with
LwF-BR's weight. -BSR follows LwF-BSR's shape and weights, not the released lucir-bsr.py, which
adds no per-task KD and weighs the feature BCE 1 (beside a per-task cosine term). All
distillation terms share LUCIR's adaptive weight lambda_adapt (the released code's gamma1 *
lambda_adapt for -SR). The BCE terms are taken on the whole feature and per head, never by
slicing the batch by task (the released code's NaN).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from labkit.losses import bce_onehot, per_task_kd
from labkit.methods.base import Method, Param, TaskContext, frozen_copy
from labkit.methods.exemplars import ExemplarMemory
from labkit.methods.softmax_remedies import register_variants
from labkit.models.eval_mode import evaluating

FEATURE_BATCH = 1024


@dataclass(frozen=True)
class LucirRemedy:
    """Weights of LUCIR's distillation terms and of the shift-sensitive prediction term."""

    less_forget: float = 1.0
    per_task: float = 0.0
    bce_features: float = 0.0
    prediction: float = 0.0


LUCIR_REMEDIES = {
    "": LucirRemedy(),
    "s": LucirRemedy(less_forget=0.0, per_task=1.0),
    "sr": LucirRemedy(per_task=1.0),
    "br": LucirRemedy(bce_features=1.0),
    "br2": LucirRemedy(bce_features=1.0, prediction=1.0),
    "bsr": LucirRemedy(per_task=1.0, bce_features=0.5),
}


def less_forget(features: torch.Tensor, teacher_features: torch.Tensor) -> torch.Tensor:
    """mean_b (1 - cos(f_b, f^o_b)): zero when the student's features point as the teacher's."""
    return (1.0 - F.cosine_similarity(features, teacher_features, dim=1)).mean()


def margin_ranking(cosines: torch.Tensor, y: torch.Tensor, n_old: int, margin: float, K: int) -> torch.Tensor:
    """LUCIR's inter-class separation on the samples of old classes (y < n_old):

        mean_{b, k<=K} max(0, m - cos_{b, y_b} + cos_{b, (k)}),

    cos_{b,(k)} the k-th largest cosine among the new classes (columns n_old:). Zero when no
    sample of the batch is old or when every margin holds."""
    old = y < n_old
    k = min(K, cosines.shape[1] - n_old)
    if not old.any() or k <= 0:
        return cosines.new_zeros(())
    target = cosines[old].gather(1, y[old, None]).expand(-1, k)
    hardest_new = cosines[old, n_old:].topk(k, dim=1).values
    return F.margin_ranking_loss(target.reshape(-1), hardest_new.reshape(-1),
                                 torch.ones_like(target.reshape(-1)), margin=margin)


@torch.no_grad()
def features_of(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The backbone features of x in eval mode, in batches."""
    with evaluating(model):
        return torch.cat([model.features(x[i:i + FEATURE_BATCH]) for i in range(0, len(x), FEATURE_BATCH)])


class Lucir(Method):
    """LUCIR: cosine heads, less-forget constraint, margin ranking, herding exemplars.

    Class-IL by design: by default the CE is over all heads so far, on the task's data and the
    exemplars, in task-IL too, as the released code runs it (ce_over: module doc). Heads are
    cosine-normalised with one learnable scale sigma; the heads of old tasks are frozen (LUCIR's
    and FACIL's code fix the old class embeddings); sigma and the backbone keep learning. The
    teacher is the model after the previous task. n_old / n_new are the old and new class counts
    (data-IL, where every task holds all classes: tasks seen before / 1, inferred). Terms and
    variants: module doc.
    """

    name = "lucir"
    head_kind = "cosine"
    remedy: ClassVar[LucirRemedy] = LUCIR_REMEDIES[""]
    losses = ("ce",)
    params = {
        "lamb_base": Param(5.0, "base weight lambda_base of the less-forget constraint", ge=0,
                           source="LUCIR paper Sec. 4.1 (lambda_base 5 for CIFAR-100), quoted in FACIL "
                                  "src/approach/lucir.py lines 57-58 (--lamb default 5) and kept by the Rethinking "
                                  "authors' src/approach/lucir-sr.py line 58"),
        "lamb_mr": Param(1.0, "weight of the margin ranking loss", ge=0,
                         source="FACIL src/approach/lucir.py lines 60-61 (--lamb-mr default 1, 'set to 1 in the "
                                "original code')"),
        "margin": Param(0.5, "margin m of the ranking loss", ge=0,
                        source="LUCIR paper Sec. 4.1 (m = 0.5), quoted in FACIL src/approach/lucir.py lines 63-64 "
                               "(--dist default 0.5)"),
        "K": Param(2, "number of hardest new classes each old sample is ranked against (0: none)", ge=0,
                   source="LUCIR paper Sec. 4.1 (K = 2), quoted in FACIL src/approach/lucir.py lines 66-67"),
        "memory": Param(0, "total exemplar budget split over the classes seen (0: per_class each)", ge=0,
                        source="FACIL src/datasets/exemplars_dataset.py line 25 (--num-exemplars default 0: no "
                               "fixed total, so the per-class budget decides)"),
        "per_class": Param(20, "exemplars kept per class when memory is 0", ge=0,
                           source="LUCIR paper Sec. 4.1 (R_per = 20, herding), quoted in FACIL "
                                  "src/approach/lucir.py lines 20-21; FACIL scripts/script_cifar100.sh line 51"),
        "gamma1": Param(0.1, "weight gamma1 of the per-task KD of the -s/-sr/-bsr variants", ge=0,
                        source="the Rethinking authors' src/approach/lucir-sr.py line 198 (per-task KD times "
                               "lamda * 0.1); their run.sh lines 15-23 pass --gamma1 0.2-1.0, which that "
                               "file does not read"),
        "T": Param(1.0, "temperature of the per-task KD", gt=0,
                   source="the Rethinking authors' src/approach/lucir-sr.py line 198 (cross_entropy at its "
                          "default exp=1.0, line 165: T = 1)"),
        "ce_over": Param("all-heads", "what the CE's softmax spans: all-heads (the released code, LUCIR's "
                         "Eq. 1) or own-head (ctx.task_loss: each sample's own head in task-IL)",
                         choices=("all-heads", "own-head"),
                         source="the Rethinking authors' src/approach/lucir-sr.py line 236 and FACIL "
                                "src/approach/lucir.py line 216 (CE over every head's scaled outputs, LUCIR Eq. 1)"),
    }

    def __init__(self, **params):
        super().__init__(**params)
        self.teacher: torch.nn.Module | None = None
        self.exemplars = ExemplarMemory(total=self.memory, per_class=self.per_class)

    def before_task(self, ctx: TaskContext) -> None:
        self.teacher = None
        if ctx.t > 0:
            self.teacher = frozen_copy(ctx.model)
            if ctx.scenario.multi_head:  # freeze heads 0..t-1; head t is added after this
                ctx.model.heads.heads.requires_grad_(False)

    def training_data(self, ctx: TaskContext) -> tuple[torch.Tensor, torch.Tensor]:
        stored = self.exemplars.tensors(ctx.task.train_x.device)
        if stored is None:
            return ctx.task.train_x, ctx.task.train_y
        return torch.cat([ctx.task.train_x, stored[0]]), torch.cat([ctx.task.train_y, stored[1]])

    def adaptive_weight(self, ctx: TaskContext) -> float:
        """lambda_adapt = lamb_base * sqrt(n_old / n_new)."""
        n_old, n_new = (ctx.task.offset, ctx.task.num_classes) if ctx.scenario.multi_head else (ctx.t, 1)
        return self.lamb_base * math.sqrt(n_old / n_new)

    def distillation(self, ctx: TaskContext, features: torch.Tensor, logits: list[torch.Tensor],
                     x: torch.Tensor) -> torch.Tensor:
        """The remedy's weighted less-forget, per-task KD and feature-BCE terms (no lambda_adapt)."""
        with torch.no_grad():
            teacher_features = self.teacher.features(x)
            teacher_logits = self.teacher.heads(teacher_features)
        r, total = self.remedy, features.new_zeros(())
        if r.less_forget:
            total = total + r.less_forget * less_forget(features, teacher_features)
        if r.per_task:
            total = total + r.per_task * self.gamma1 * per_task_kd(
                ctx.old_heads(logits), ctx.old_heads(teacher_logits), T=self.T)
        if r.bce_features:
            total = total + r.bce_features * F.binary_cross_entropy_with_logits(
                features, torch.sigmoid(teacher_features))
        return total

    def cross_entropy(self, ctx: TaskContext, logits: list[torch.Tensor], y: torch.Tensor) -> torch.Tensor:
        """L_CE over the concatenated heads (ce_over "all-heads") or ctx.task_loss ("own-head")."""
        if self.ce_over == "all-heads":
            return ctx.loss.fn(torch.cat(logits, 1), y)
        return ctx.task_loss(logits, y)

    def training_loss(self, ctx: TaskContext, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        features = ctx.model.features(x)
        cosines = ctx.model.heads.cosines(features)
        logits = [ctx.model.heads.scale * c for c in cosines]
        loss = self.cross_entropy(ctx, logits, y)
        if self.remedy.prediction:
            loss = loss + self.remedy.prediction * bce_onehot(torch.cat(logits, 1), y)
        if self.teacher is None:
            return loss
        n_old = ctx.task.offset if ctx.scenario.multi_head else 0
        ranking = margin_ranking(torch.cat(cosines, 1), y, n_old, self.margin, self.K)
        return (loss + self.adaptive_weight(ctx) * self.distillation(ctx, features, logits, x)
                + self.lamb_mr * ranking)

    def after_task(self, ctx: TaskContext) -> None:
        """Herd this task's exemplars (with a class's stored ones, when it recurs) and shrink."""
        x, y = self.exemplars.with_stored(ctx.task.train_x, ctx.task.train_y)
        self.exemplars.update(x, y, features_of(ctx.model, x))

    def state_dict(self) -> dict:
        return {"exemplars": self.exemplars.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.exemplars.load_state_dict(state["exemplars"])


register_variants(Lucir, LUCIR_REMEDIES)
