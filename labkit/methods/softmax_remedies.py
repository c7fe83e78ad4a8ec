"""The five remedies of "Rethinking softmax in incremental learning" (docs/PAPERS.md, section 1), as
data: the weights of each distillation term, shared by LwF and LwM (LUCIR reads them its own way,
labkit/methods/lucir.py); docs/METHODS.md, section 7, gives where each weight was read.

    total = L_CE + lambda * (w_joint KD_T(joint) + w_task sum_i KD_T(z_i, z_i^o)
                             + w_bce sum_i BCE(sigma(z_i), sigma(z_i^o)))
                 + w_pred BCE(sigma(z_t), onehot(y))

| suffix | w_joint | w_task | w_bce | w_pred |
|--------|---------|--------|-------|--------|
| (none) | 1       | 0      | 0     | 0      |
| -s     | 0       | 1      | 0     | 0      |
| -sr    | 0.5     | 1      | 0     | 0      |
| -br    | 1       | 0      | 1     | 0      |
| -br2   | 1       | 0      | 1     | 1      |
| -bsr   | 1       | 1      | 0.5   | 0      |
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from labkit.losses import bce_kd, bce_onehot, joint_kd, per_task_kd


@dataclass(frozen=True)
class Remedy:
    joint: float = 1.0
    per_task: float = 0.0
    bce: float = 0.0
    prediction: float = 0.0

    def distillation(self, student_old: list[torch.Tensor], teacher_old: list[torch.Tensor],
                     T: float) -> torch.Tensor:
        """The weighted distillation terms between the old heads' student and teacher logits."""
        total = student_old[0].new_zeros(())
        if self.joint:
            total = total + self.joint * joint_kd(torch.cat(student_old, 1), torch.cat(teacher_old, 1), T=T)
        if self.per_task:
            total = total + self.per_task * per_task_kd(student_old, teacher_old, T=T)
        if self.bce:
            total = total + self.bce * bce_kd(student_old, teacher_old)
        return total

    def prediction_term(self, current_logits: torch.Tensor, local_targets: torch.Tensor) -> torch.Tensor:
        return self.prediction * bce_onehot(current_logits, local_targets)


REMEDIES = {
    "": Remedy(),
    "s": Remedy(joint=0.0, per_task=1.0),
    "sr": Remedy(joint=0.5, per_task=1.0),
    "br": Remedy(joint=1.0, bce=1.0),
    "br2": Remedy(joint=1.0, bce=1.0, prediction=1.0),
    "bsr": Remedy(joint=1.0, per_task=1.0, bce=0.5),
}


def variant_name(base: str, suffix: str) -> str:
    return f"{base}-{suffix}" if suffix else base


def register_variants(cls: type, remedies: dict | None = None) -> None:
    """Register `cls` under its name and one generated subclass per remedy (name-suffix), each
    differing only in its `remedy` class attribute (REMEDIES unless a table is given)."""
    from labkit.methods.base import register

    for suffix, remedy in (REMEDIES if remedies is None else remedies).items():
        doc = cls.__doc__ if not suffix else (
            f"{cls.__name__}-{suffix.upper()}: {cls.__name__} with the '{suffix}' softmax remedy "
            f"({remedy}).\n\n{cls.__doc__}")
        register(type(f"{cls.__name__}_{suffix or 'plain'}", (cls,), {
            "name": variant_name(cls.name, suffix), "remedy": remedy,
            "__module__": cls.__module__, "__doc__": doc}))
