"""Notebook 05's exercises: typical mistakes, each rejected with the message that names it
(MISTAKES is read by test_exercises.py), and the checks' own corner cases."""
from __future__ import annotations

import math

import torch

from labkit.analysis.paired import PairedDifference
from labkit.teaching.exercises import check
from labkit.teaching.exercises.notebook05 import accuracy_change
from labkit.teaching.exercises.solutions.notebook05 import dlcft_data_loss, trace_correction

FELL = PairedDifference(-0.021, -0.035, -0.007, 0, 3, 3)   # A_T - A_1, separated, negative
ROSE = PairedDifference(0.047, 0.010, 0.084, 3, 3, 0)
NOT_SEPARATED = PairedDifference(0.004, -0.010, 0.018, 2, 3, 1)
ONE_SEED = PairedDifference(-0.01, math.nan, math.nan, 0, 1, 1)


def no_alpha(logits, targets, alpha):
    return dlcft_data_loss(logits, targets, 1.0)


def mean_over_outputs(logits, targets, alpha):
    target = alpha * torch.nn.functional.one_hot(targets, logits.shape[1]).to(logits.dtype)
    return torch.nn.functional.mse_loss(logits, target)


def no_half(logits, targets, alpha):
    return 2 * dlcft_data_loss(logits, targets, alpha)


def summed_batch(logits, targets, alpha):
    return dlcft_data_loss(logits, targets, alpha) * len(logits)


def label_as_target(logits, targets, alpha):
    return 0.5 * ((logits - alpha * targets[:, None].to(logits.dtype)) ** 2).sum(1).mean()


def upside_down(inputs, output_grads):
    return 1 / trace_correction(inputs, output_grads)


def no_bias_one(inputs, output_grads):
    x_sq, g_sq = (inputs ** 2).sum(1), (output_grads ** 2).sum(1)
    return (x_sq * g_sq).mean() / (x_sq.mean() * g_sq.mean())


def kfac_trace_on_top(inputs, output_grads):
    a = torch.cat([inputs, torch.ones(len(inputs), 1, dtype=inputs.dtype)], 1)
    a_sq, g_sq = (a ** 2).sum(1), (output_grads ** 2).sum(1)
    return (a_sq.mean() * g_sq.mean()) / (a_sq.mean() * g_sq.mean())


def summed_numerator(inputs, output_grads):
    return trace_correction(inputs, output_grads) * len(inputs)


MISTAKES = {
    "05.1": [(no_alpha, {}, "targets are not scaled"),
             (mean_over_outputs, {}, "averaged over the K outputs"),
             (no_half, {}, "1/2 is missing"),
             (summed_batch, {}, "summed over the samples"),
             (label_as_target, {}, "not one-hot")],
    "05.2": [("rise", {"measured": FELL}, "You predicted 'rise'"),
             ("fall", {"measured": ROSE}, "You predicted 'fall'"),
             ("up", {"measured": ROSE}, "write 'rise' or 'fall'")],
    "05.3": [(upside_down, {}, "upside down"),
             (no_bias_one, {}, "bias's 1 is missing"),
             (kfac_trace_on_top, {}, "Your c is 1"),
             (summed_numerator, {}, "numerator is summed")],
}


def test_a_function_that_raises_is_reported_not_raised():
    def broken(logits, targets, alpha):
        return (logits - alpha * targets).pow(2).mean()  # (B, K) minus (B,): shapes do not broadcast

    feedback = check("05.1", broken)
    assert feedback.verdict == "wrong" and "raised RuntimeError" in feedback.message


def test_float32_answers_are_right():
    def loss_in_float32(logits, targets, alpha):
        return dlcft_data_loss(logits.float(), targets, alpha)

    def c_in_float32(inputs, output_grads):
        return trace_correction(inputs.float(), output_grads.float())

    assert check("05.1", loss_in_float32).right
    assert check("05.3", c_in_float32).right


def test_the_prediction_agrees_with_a_separated_run_in_any_case_of_writing():
    assert check("05.2", " Rise", measured=ROSE).right
    assert check("05.2", "fall", measured=FELL).right


def test_an_interval_holding_both_signs_says_the_run_does_not_decide():
    feedback = check("05.2", "rise", measured=NOT_SEPARATED)
    assert feedback.verdict == "undecided" and "holds both signs" in feedback.message


def test_one_seed_says_it_has_no_interval_and_no_measurement_says_so():
    one = check("05.2", "fall", measured=ONE_SEED)
    assert one.verdict == "undecided" and "one seed" in one.message
    none = check("05.2", "rise", measured=None)
    assert none.verdict == "undecided" and "nothing to judge" in none.message
    assert check("05.2", None, measured=None).verdict == "not attempted"


def test_the_change_is_last_minus_first_paired_over_the_runs_that_count():
    class Run:  # what accuracy_change reads of a RunResult
        def __init__(self, seed, curve, status="finished"):
            self.config, self.curve, self.status = {"seed": seed}, curve, status

        def summary(self, kind):
            assert kind == "tag"  # data-IL is scored task-agnostic
            return {"average_accuracy": self.curve}

    runs = [Run(0, [0.90, 0.95]), Run(1, [0.93, 0.96]), Run(2, [0.50, 0.10], status="diverged")]
    change = accuracy_change(runs, "data-il")
    assert change.n == 2 and abs(change.mean - 0.04) < 1e-12 and change.positive == 2
