"""Notebook 02's exercises: typical mistakes, each rejected with the message that names it
(MISTAKES is read by test_exercises.py), and the checks' own corner cases."""
from __future__ import annotations

import numpy as np
import torch

from labkit.teaching.exercises import check
from labkit.teaching.exercises.solutions.notebook02 import argmax_label_factor, logit_hessian

LARGER = {"measured": 10.3}  # MSE's lambda_max(F) over CE's at step 0, as the notebook passes it


def no_outer_product(z):
    return torch.diag(torch.softmax(z, 0))


def wrong_sign(z):
    return -logit_hessian(z)


def diagonal_only(z):
    p = torch.softmax(z, 0)
    return torch.diag(p * (1 - p))


def logits_for_probabilities(z):
    return torch.diag(z) - torch.outer(z, z)


def inner_product(z):
    p = torch.softmax(z, 0)
    return torch.diag(p) - p @ p


def naive_softmax(z):
    p = torch.exp(z) / torch.exp(z).sum()
    return torch.diag(p) - torch.outer(p, p)


def trace_only(z):
    return 1 - (torch.softmax(z, 0) ** 2).sum()


def true_fisher_factor(z):
    return logit_hessian(z)


def no_one_hot(z):
    p = torch.softmax(z, 0)
    return torch.outer(p, p)


def squared_diagonal(z):
    return torch.diag(torch.diagonal(argmax_label_factor(z)))


def label_zero(z):
    p = torch.softmax(z, 0)
    g = p - torch.nn.functional.one_hot(torch.tensor(0), len(z)).to(p.dtype)
    return torch.outer(g, g)


def gradient_only(z):
    return torch.softmax(z, 0) - torch.nn.functional.one_hot(z.argmax(), len(z)).to(z.dtype)


MISTAKES = {
    "02.1": [(no_outer_product, {}, "the - p pᵀ term is missing"),
             (wrong_sign, {}, "wrong sign"),
             (diagonal_only, {}, "off-diagonal entries - p_j p_k are missing"),
             (logits_for_probabilities, {}, "You used the logits z"),
             (inner_product, {}, "the outer product p pᵀ"),
             (naive_softmax, {}, "exp(1000) overflows"),
             (trace_only, {}, "has shape (10, 10)")],
    "02.2": [("smaller", LARGER, "You predicted 'smaller'"),
             ("bigger", LARGER, "write 'larger' or 'smaller'")],
    "02.3": [(true_fisher_factor, {}, "the true Fisher's factor"),
             (no_one_hot, {}, "You left out the one-hot"),
             (squared_diagonal, {}, "Your matrix is diagonal"),
             (label_zero, {}, "You took the label 0"),
             (gradient_only, {}, "has shape (10, 10)")],
}


def test_the_prediction_reads_the_ratio_of_the_two_eigenvalues():
    feedback = check("02.2", " Larger", measured=np.float64(10.3))
    assert feedback.right and "10.3 times CE's" in feedback.message
    assert check("02.2", "smaller", measured=0.5).right  # a ratio below 1: MSE's is the smaller


def test_a_prediction_without_a_usable_measurement_is_undecided_not_an_error():
    for measured in (None, float("nan"), 0.0, "ten"):
        assert check("02.2", "larger", measured=measured).verdict == "undecided"
    assert check("02.2", None, measured=None).verdict == "not attempted"


def test_a_function_that_raises_is_reported_not_raised():
    def broken(z):
        return z @ torch.ones(3)

    feedback = check("02.1", broken)
    assert feedback.verdict == "wrong" and "raised RuntimeError" in feedback.message


def test_float32_and_numpy_answers_are_right():
    def in_float32(z):
        return logit_hessian(z.float())

    def in_numpy(z):
        return argmax_label_factor(z).numpy()

    assert check("02.1", in_float32).right
    assert check("02.3", in_numpy).right


def test_the_argmax_label_factor_is_not_mistaken_for_a_label_zero_on_logits_whose_argmax_is_zero():
    # section 1's margin puts the true class first: label 0 is right there, and the check must still catch it
    z = 5 * torch.nn.functional.one_hot(torch.tensor(0), 10).double()
    assert torch.allclose(label_zero(z), argmax_label_factor(z))
    assert "label 0" in check("02.3", label_zero).message
