"""Distillation losses between a student's and a frozen teacher's logits (docs/METHODS.md, section 18)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def joint_kd(student: torch.Tensor, teacher: torch.Tensor, T: float = 2.0, eps: float = 1e-5,
             t_squared: bool = False) -> torch.Tensor:
    """Joint knowledge distillation over all old classes at once (LwF; docs/PAPERS.md, section 1):

        KD_T(z, z^o) = mean_b CE(p_T(z^o_b), p_T(z_b)),   p_T(z) = softmax(z / T),

    with the released code's conventions: no T^2 factor (set t_squared=True to multiply by T^2)
    and the student's probabilities smoothed as (p + eps/K) / (1 + eps) before the log.
    It is a cross-entropy, not a KL divergence: when the student equals the teacher it equals
    the teacher's entropy (its minimum over students), not zero. Softmax makes it invariant to
    adding the same constant to every logit of the student (or of the teacher).
    """
    k = student.shape[-1]
    p_teacher = torch.softmax(teacher / T, dim=-1)
    p_student = (torch.softmax(student / T, dim=-1) + eps / k) / (1.0 + eps)
    loss = -(p_teacher * p_student.log()).sum(-1).mean()
    return loss * T**2 if t_squared else loss


def per_task_kd(student_heads: list[torch.Tensor], teacher_heads: list[torch.Tensor], T: float = 2.0,
                eps: float = 1e-5, t_squared: bool = False) -> torch.Tensor:
    """Imbalance-invariant distillation: each old head's softmax taken alone, summed over heads,

        sum_{i<t} KD_T(z_i, z_i^o)          (docs/PAPERS.md, section 1, the "-S" term)

    with joint_kd's conventions. Summed, not averaged, so its weight grows with the number of
    old tasks; with one old head it equals joint_kd. An offset of one head of the teacher (or
    student) changes nothing, so no head's knowledge becomes cheap to overwrite.
    """
    return sum(joint_kd(s, t, T=T, eps=eps, t_squared=t_squared) for s, t in zip(student_heads, teacher_heads))


def bce_kd(student_heads: list[torch.Tensor], teacher_heads: list[torch.Tensor]) -> torch.Tensor:
    """Shift-sensitive distillation: per head, binary cross-entropy between sigmoids,

        sum_{i<t} BCE(sigma(z_i), sigma(z_i^o)),   BCE = -mean_{b,k} [q log p + (1-q) log(1-p)],

    p = sigma(z) (student), q = sigma(z^o) (teacher), mean over batch and classes, no
    temperature. For each logit it is strictly convex with its unique minimum at z = z^o, so
    unlike softmax KD it pins every head's offset.
    """
    return sum(F.binary_cross_entropy_with_logits(s, torch.sigmoid(t))
               for s, t in zip(student_heads, teacher_heads))


def bce_onehot(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Shift-sensitive prediction loss on the current head: BCE(sigma(z_t), onehot(y)), mean over
    batch and classes (the "-BR2" term). targets are the head's local labels."""
    onehot = F.one_hot(targets, logits.shape[-1]).to(logits.dtype)
    return F.binary_cross_entropy_with_logits(logits, onehot)
