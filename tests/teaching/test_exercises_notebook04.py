"""Notebook 04's exercises: typical mistakes, each rejected with the message that names it
(MISTAKES is read by test_exercises.py), and the checks' own corner cases."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from labkit.analysis.paired import PairedDifference
from labkit.teaching.exercises import check
from labkit.teaching.exercises.solutions.notebook04 import bce_distillation, bce_prediction


def softmax_per_head(student_heads, teacher_heads):
    return sum(-(torch.softmax(t, 1) * torch.log_softmax(s, 1)).sum(1).mean() for s, t in zip(student_heads, teacher_heads))


def bce_of_softmax(student_heads, teacher_heads):
    return sum(F.binary_cross_entropy(torch.softmax(s, 1), torch.softmax(t, 1)) for s, t in zip(student_heads, teacher_heads))


def summed_over_classes(student_heads, teacher_heads):
    return sum(F.binary_cross_entropy_with_logits(s, torch.sigmoid(t), reduction="sum") / len(s)
               for s, t in zip(student_heads, teacher_heads))


def swapped(student_heads, teacher_heads):
    return bce_distillation(teacher_heads, student_heads)


def averaged_heads(student_heads, teacher_heads):
    return bce_distillation(student_heads, teacher_heads) / len(student_heads)


def one_mean_over_all_heads(student_heads, teacher_heads):
    return F.binary_cross_entropy_with_logits(torch.cat(student_heads, 1), torch.sigmoid(torch.cat(teacher_heads, 1)))


def binary_kl(student_heads, teacher_heads):
    return bce_distillation(student_heads, teacher_heads) - bce_distillation(teacher_heads, teacher_heads)


def only_q_log_p(student_heads, teacher_heads):
    return sum(-(torch.sigmoid(t) * F.logsigmoid(s)).mean() for s, t in zip(student_heads, teacher_heads))


def softmax_ce(logits, targets):
    return F.cross_entropy(logits, targets)


def label_term_only(logits, targets):
    return -F.logsigmoid(logits.gather(1, targets[:, None])).mean()


def prediction_summed_over_classes(logits, targets):
    return bce_prediction(logits, targets) * logits.shape[1]


def logits_and_targets_swapped(logits, targets):
    onehot = F.one_hot(targets, logits.shape[1]).to(logits.dtype)
    return F.binary_cross_entropy_with_logits(onehot, torch.sigmoid(logits))


GAIN = PairedDifference(0.019, 0.002, 0.036, 5, 5, 0)      # as the default run measures lwf-bsr - lwf in TAg
LOSS = PairedDifference(-0.02, -0.035, -0.005, 0, 5, 5)

MISTAKES = {
    "04.1": [(softmax_per_head, {}, "cannot pin the head's offset"),
             (bce_of_softmax, {}, "cannot pin the head's offset"),
             (summed_over_classes, {}, "summed over each head's classes"),
             (swapped, {}, "swapped"),
             (averaged_heads, {}, "averaged over the heads"),
             (one_mean_over_all_heads, {}, "one mean over all heads' logits together"),
             (binary_kl, {}, "binary KL divergence"),
             (only_q_log_p, {}, "only the q log p half")],
    "04.2": [(softmax_ce, {}, "leaves the head's offset free"),
             (label_term_only, {}, "only the label's term"),
             (prediction_summed_over_classes, {}, "summed over the head's classes"),
             (logits_and_targets_swapped, {}, "swapped")],
    "04.3": [("down", {"measured": GAIN}, "You predicted 'down'"),
             ("up", {"measured": LOSS}, "You predicted 'up'"),
             ("higher", {"measured": GAIN}, "write 'up' or 'down'")],
}


def test_a_function_that_raises_is_reported_not_raised():
    def broken(student_heads, teacher_heads):
        return student_heads @ teacher_heads

    feedback = check("04.1", broken)
    assert feedback.verdict == "wrong" and "raised TypeError" in feedback.message


def test_a_float32_answer_is_right():
    def in_float32(student_heads, teacher_heads):
        return bce_distillation([s.float() for s in student_heads], [t.float() for t in teacher_heads])

    assert check("04.1", in_float32).right
    assert check("04.2", lambda logits, targets: bce_prediction(logits.float(), targets)).right


def test_a_per_sample_loss_is_told_its_shape():
    def per_sample(logits, targets):
        onehot = F.one_hot(targets, logits.shape[1]).to(logits.dtype)
        return F.binary_cross_entropy_with_logits(logits, onehot, reduction="none").mean(1)

    assert "one number" in check("04.2", per_sample).message


def test_the_prediction_is_judged_by_the_interval():
    assert check("04.3", "up", measured=GAIN).right
    assert check("04.3", " Down ", measured=LOSS).right
    undecided = check("04.3", "up", measured=PairedDifference(0.01, -0.02, 0.04, 1, 2, 1))
    assert undecided.verdict == "undecided" and "holds both signs" in undecided.message
    assert check("04.3", None, measured=None).verdict == "not attempted"
    assert check("04.3", "up", measured=PairedDifference(0.01, math.nan, math.nan, 1, 1, 0)).verdict == "undecided"
