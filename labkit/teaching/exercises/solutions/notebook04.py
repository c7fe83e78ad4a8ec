"""Reference solutions of notebook 04's exercises (plain torch, written as a student would)."""
from __future__ import annotations

import torch

from labkit.teaching.exercises.catalogue import PredictedAnswer
from labkit.teaching.exercises.notebook04 import WHY_BSR_TAG


def bce_distillation(student_heads, teacher_heads):
    loss = 0.0
    for z, z_old in zip(student_heads, teacher_heads):
        q = torch.sigmoid(z_old)                                  # the teacher's sigmoid of every logit: the targets
        log_p = torch.nn.functional.logsigmoid(z)                 # log sigma(z), the student's
        log_not_p = torch.nn.functional.logsigmoid(-z)            # log(1 - sigma(z)) = log sigma(-z)
        loss = loss + -(q * log_p + (1 - q) * log_not_p).mean()  # mean over the batch and the head's classes
    return loss


def bce_prediction(logits, targets):
    onehot = torch.nn.functional.one_hot(targets, logits.shape[1]).to(logits.dtype)
    log_p, log_not_p = torch.nn.functional.logsigmoid(logits), torch.nn.functional.logsigmoid(-logits)
    return -(onehot * log_p + (1 - onehot) * log_not_p).mean()


SOLUTIONS = {"04.1": bce_distillation, "04.2": bce_prediction, "04.3": PredictedAnswer("up", WHY_BSR_TAG)}
