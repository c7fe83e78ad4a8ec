"""Distillation losses between a student's and a frozen teacher's logits."""
from __future__ import annotations

import torch


def joint_kd(student: torch.Tensor, teacher: torch.Tensor, T: float = 2.0, eps: float = 1e-5,
             t_squared: bool = False) -> torch.Tensor:
    """Joint knowledge distillation over all old classes at once (LwF; METHODS.md section 1):

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
