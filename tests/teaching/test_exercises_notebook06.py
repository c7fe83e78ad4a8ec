"""Notebook 06's exercises: typical mistakes, each rejected with the message that names it
(MISTAKES is read by test_exercises.py), and the checks' own corner cases."""
from __future__ import annotations

import math

import torch

from labkit.analysis.paired import PairedDifference
from labkit.losses import sparsemax
from labkit.teaching.exercises import check
from labkit.teaching.exercises.solutions.notebook06 import fy_gradient, sparsemax_fy_loss


def without_omega_of_target(z, y):
    return sparsemax_fy_loss(z, y) - 0.5


def wrong_sign(z, y):
    p = sparsemax(z)
    return (z.gather(1, y[:, None]).squeeze(1) - (z * p).sum(1) + 0.5 * (p * p).sum(1) - 0.5).mean()


def softmax_map(z, y):
    p = torch.softmax(z, 1)
    return ((z * p).sum(1) - 0.5 * (p * p).sum(1) + 0.5 - z.gather(1, y[:, None]).squeeze(1)).mean()


def softmax_ce(z, y):
    return torch.logsumexp(z, 1).mean() - z.gather(1, y[:, None]).mean()


def conjugate_on_all_of_rn(z, y):
    return (0.5 * (z * z).sum(1) + 0.5 - z.gather(1, y[:, None]).squeeze(1)).mean()


def summed_over_batch(z, y):
    return sparsemax_fy_loss(z, y) * len(z)


def per_sample(z, y):
    p = sparsemax(z)
    return (z * p).sum(1) - 0.5 * (p * p).sum(1) + 0.5 - z.gather(1, y[:, None]).squeeze(1)


def label_column_table(z, y):
    p = sparsemax(z)
    return ((z * p).sum(1) - 0.5 * (p * p).sum(1) + 0.5 - z[:, y]).mean()  # z[:, y]: a (B, B) table


def target_minus_prediction(predict, z, y):
    return -fy_gradient(predict, z, y)


def target_forgotten(predict, z, y):
    return predict(z) / len(z)


def no_batch_mean(predict, z, y):
    return fy_gradient(predict, z, y) * len(z)


def always_softmax(predict, z, y):
    return fy_gradient(lambda v: torch.softmax(v, -1), z, y)


SMALLER = PairedDifference(-4.2, -6.0, -2.4, 0, 5, 5)   # sparsemax - ce, in logits
LARGER = PairedDifference(1.5, 0.5, 2.5, 5, 5, 0)

MISTAKES = {
    "06.1": [(without_omega_of_target, {}, "left out Ω(e_y)"),
             (label_column_table, {}, "check how you pick z_y"),
             (wrong_sign, {}, "wrong sign"),
             (softmax_map, {}, "used softmax as the map"),
             (softmax_ce, {}, "That is softmax cross-entropy"),
             (conjugate_on_all_of_rn, {}, "over all of ℝ^N"),
             (summed_over_batch, {}, "summed over the batch"),
             (per_sample, {}, "shape (8,)")],
    "06.2": [(target_minus_prediction, {}, "wrong sign"),
             (target_forgotten, {}, "forgot to subtract the target"),
             (no_batch_mean, {}, "left out the 1/B"),
             (always_softmax, {}, "used softmax whatever the map")],
    "06.3": [("larger", {"measured": SMALLER}, "You predicted 'larger'"),
             ("smaller", {"measured": LARGER}, "You predicted 'smaller'"),
             ("up", {"measured": SMALLER}, "write 'larger' or 'smaller'")],
}


def test_a_function_that_raises_is_reported_not_raised():
    def broken(predict, z, y):
        return predict(z) - y  # shapes (8, 6) and (8,) do not broadcast

    feedback = check("06.2", broken)
    assert feedback.verdict == "wrong" and "raised RuntimeError" in feedback.message


def test_a_float32_answer_is_right():
    assert check("06.1", lambda z, y: sparsemax_fy_loss(z.float(), y)).right
    assert check("06.2", lambda predict, z, y: fy_gradient(predict, z.float(), y)).right


def test_the_prediction_reads_the_lead_in_logits_and_says_when_it_is_undecided():
    right = check("06.3", "Smaller", measured=SMALLER)
    assert right.right and "-4.20 logits [-6.00, -2.40]" in right.message
    assert check("06.3", None, measured=None).verdict == "not attempted"
    undecided = check("06.3", "smaller", measured=PairedDifference(-0.3, -1.0, 0.4, 2, 5, 3))
    assert undecided.verdict == "undecided" and "holds both signs" in undecided.message
    one_seed = check("06.3", "smaller", measured=PairedDifference(-4.0, math.nan, math.nan, 0, 1, 1))
    assert one_seed.verdict == "undecided" and "one seed" in one_seed.message
    assert check("06.3", "smaller", measured=-1.0).right  # a float: one run, judged by its sign
