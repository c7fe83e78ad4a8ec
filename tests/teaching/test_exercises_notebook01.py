"""Notebook 01's exercises: typical mistakes, each rejected with the message that names it
(MISTAKES is read by test_exercises.py), and the check's own corner cases."""
from __future__ import annotations

import torch

from labkit.teaching.exercises import check
from labkit.teaching.exercises.solutions.notebook01 import per_task_kd, task_masses


def no_t_squared(student_heads, teacher_heads, T):
    return per_task_kd(student_heads, teacher_heads, T) / T**2


def joint_softmax(student_heads, teacher_heads, T):
    z, z_old = torch.cat(student_heads, 1), torch.cat(teacher_heads, 1)
    return T**2 * -(torch.softmax(z_old / T, 1) * torch.log_softmax(z / T, 1)).sum(1).mean()


def averaged_heads(student_heads, teacher_heads, T):
    return per_task_kd(student_heads, teacher_heads, T) / len(student_heads)


def swapped(student_heads, teacher_heads, T):
    return per_task_kd(teacher_heads, student_heads, T)


def kl_divergence(student_heads, teacher_heads, T):
    return T**2 * sum(torch.nn.functional.kl_div(torch.log_softmax(s / T, 1), torch.softmax(t / T, 1),
                                                 reduction="batchmean") for s, t in zip(student_heads, teacher_heads))


def per_sample(student_heads, teacher_heads, T):
    return T**2 * sum(-(torch.softmax(t / T, 1) * torch.log_softmax(s / T, 1)).sum(1)
                      for s, t in zip(student_heads, teacher_heads))


def averaged_classes(student_heads, teacher_heads, T):
    return T**2 * sum(-(torch.softmax(t / T, 1) * torch.log_softmax(s / T, 1)).mean()
                      for s, t in zip(student_heads, teacher_heads))


def own_softmax(heads, T):
    return torch.stack([torch.softmax(h / T, 1).sum(1) for h in heads], 1)


def no_temperature(heads, T):
    return task_masses(heads, 1.0)


def max_logit(heads, T):
    return torch.softmax(torch.stack([h.max(1).values for h in heads], 1) / T, 1)


MISTAKES = {
    "01.1": [(no_t_squared, {}, "missing the T² factor"),
             (joint_softmax, {}, "one softmax over all heads"),
             (averaged_heads, {}, "averaged over the heads"),
             (swapped, {}, "swapped"),
             (kl_divergence, {}, "KL divergence"),
             (per_sample, {}, "shape (5,)"),
             (averaged_classes, {}, "averaged over the classes too")],
    "01.2": [(own_softmax, {}, "normalised each head by its own softmax"),
             (no_temperature, {}, "temperature is missing"),
             (max_logit, {}, "largest logit")],
}


def test_a_function_that_raises_is_reported_not_raised():
    def broken(student_heads, teacher_heads, T):
        return student_heads @ teacher_heads

    feedback = check("01.1", broken)
    assert feedback.verdict == "wrong" and "raised TypeError" in feedback.message


def test_a_loss_that_sees_one_heads_offset_is_told_it_is_not_invariant():
    def offset_sensitive(student_heads, teacher_heads, T):
        return per_task_kd(student_heads, teacher_heads, T) + 1e-3 * teacher_heads[0].mean()

    assert "not invariant to adding a constant to one head's logits" in check("01.1", offset_sensitive).message


def test_a_float32_answer_is_right():
    def in_float32(student_heads, teacher_heads, T):
        return per_task_kd([s.float() for s in student_heads], [t.float() for t in teacher_heads], T)

    assert check("01.1", in_float32).right
