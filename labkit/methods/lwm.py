"""Learning without Memorizing (Dhar et al., CVPR 2019), with the five softmax remedies of
"Rethinking softmax" applied to its KD term as variants lwm-s, lwm-sr, lwm-br, lwm-br2, lwm-bsr
(softmax_remedies.py; docs/PAPERS.md, section 1). Formula, protocol and parameters: docs/METHODS.md,
section 5 (the variants: section 7)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from labkit.methods.base import Param, TaskContext
from labkit.methods.lwf import LwF
from labkit.methods.softmax_remedies import register_variants
from labkit.models import BACKBONES, IncrementalNet


def grad_cam(feature_map: torch.Tensor, scores: torch.Tensor, create_graph: bool = False) -> torch.Tensor:
    """Grad-CAM maps (N, H, W) of one score per sample w.r.t. the conv map A (N, C, H, W):

        w_nc = mean_hw d s_n / d A_nchw,    Q_n = ReLU(sum_c w_nc A_nc)

    `scores` (N,) must be computed from `feature_map` sample by sample (true after the conv
    blocks: only pooling and heads follow), so the gradient of their sum is per sample.
    create_graph=True keeps the map differentiable, through A and through the gradient."""
    grads, = torch.autograd.grad(scores.sum(), feature_map, create_graph=create_graph)
    weights = grads.mean(dim=(2, 3), keepdim=True)
    return F.relu((weights * feature_map).sum(dim=1))


def attention_distillation(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """L_AD = mean_n || Q_s,n / ||Q_s,n||_2 - Q_t,n / ||Q_t,n||_2 ||_1, maps vectorised per sample
    (an all-zero map stays zero: the norm is clamped at 1e-12)."""
    q_s = F.normalize(student.flatten(1), p=2, dim=1)
    q_t = F.normalize(teacher.flatten(1), p=2, dim=1)
    return (q_s - q_t).abs().sum(dim=1).mean()


def heads_and_map(model: IncrementalNet, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    """The head logits of x and the last conv block's map A they were computed from."""
    feature_map = model.backbone.conv_features(x)
    return model.heads(model.backbone.pool(feature_map)), feature_map


class LwM(LwF):
    """LwM: classification loss + beta * KD_T(joint) + gamma * attention distillation.

        L = L_CE(current task) + beta * CE(p_T(z^o_{<t}), p_T(z_{<t})) + gamma * L_AD(Q_s, Q_t)

    Q_s, Q_t: Grad-CAM maps (grad_cam) of the last conv block (before global pooling) of the
    student and of the frozen teacher, both taken for the same class: the teacher's top predicted
    old class c_n = argmax z^o_{<t}(x_n) (the paper's "top base class"); the score is that class's
    logit (before softmax). The student's map is built with create_graph, so L_AD trains the
    backbone and the old heads; the teacher's map is a constant. L_AD (attention_distillation)
    compares the L2-normalised vectorised maps in L1 distance, mean over the batch. Unlike
    FACIL, the student's map is not detached (there L_AD has no gradient) and it is computed in
    the same forward pass as the other terms. No exemplars. A variant replaces the joint KD by
    the weighted terms of its Remedy (weight beta) and may add its prediction term.
    """

    name = "lwm"
    params = {
        "beta": Param(1.0, "weight beta of the distillation terms", ge=0,
                      source="FACIL src/approach/lwm.py line 41 (--beta default 1)"),
        "gamma": Param(1.0, "weight gamma of the attention distillation", ge=0,
                       source="FACIL src/approach/lwm.py line 43 (--gamma default 1)"),
        "T": Param(2.0, "distillation temperature", gt=0,
                   source="FACIL src/approach/lwm.py line 189 (the KD's exp=1/2, that is T = 2, as LwF's)"),
    }

    @classmethod
    def backbone_problem(cls, backbone: str) -> str | None:
        with torch.device("meta"):
            convolutional = hasattr(BACKBONES.get(backbone)((1, 8, 8)), "conv_features")
        if not convolutional:
            return "LwM distills Grad-CAM maps of the last conv block; choose cnn, resnet32 or resnet18"
        return None

    def teacher_attention(self, ctx: TaskContext, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
        """The teacher's head logits, its top old class per sample, and its Grad-CAM for it."""
        with torch.no_grad():
            feature_map = self.teacher.backbone.conv_features(x)
        feature_map.requires_grad_(True)
        with torch.enable_grad():
            logits = self.teacher.heads(self.teacher.backbone.pool(feature_map))
            old = ctx.old_logits(logits)
            top = old.argmax(dim=1)
            cam = grad_cam(feature_map, old.gather(1, top[:, None]).squeeze(1))
        return [z.detach() for z in logits], top, cam.detach()

    def training_loss(self, ctx: TaskContext, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        # Grad-CAM differentiates the scores, so gradients are on even where the caller turned
        # them off (the runner's validation loss)
        with torch.enable_grad():
            out, feature_map = heads_and_map(ctx.model, x)
            loss = self.prediction_loss(ctx, out, y)
            if self.teacher is None:
                return loss
            teacher, top, teacher_cam = self.teacher_attention(ctx, x)
            kd = self.remedy.distillation(ctx.old_heads(out), ctx.old_heads(teacher), self.T)
            scores = ctx.old_logits(out).gather(1, top[:, None]).squeeze(1)
            student_cam = grad_cam(feature_map, scores, create_graph=True)
            return loss + self.beta * kd + self.gamma * attention_distillation(student_cam, teacher_cam)


register_variants(LwM)
