"""Notebook 03's exercises: typical mistakes, each rejected with the message that names it
(MISTAKES is read by test_exercises.py), and the checks' own corner cases."""
from __future__ import annotations

import torch

from labkit.teaching.exercises import check
from labkit.teaching.exercises.solutions.notebook03 import kfac_block, second_order_model, taylor_model


def change_only(f, theta0, theta):
    return torch.func.jvp(f, (theta0,), (theta - theta0,))[1]


def jacobian_at_theta(f, theta0, theta):
    return f(theta0) + torch.func.jvp(f, (theta,), (theta - theta0,))[1]


def the_network(f, theta0, theta):
    return f(theta)


def times_theta(f, theta0, theta):
    f0, change = torch.func.jvp(f, (theta0,), (theta,))
    return f0 + change


def no_gradient_term(loss_at_anchor, gradient, hessian, anchor, v):
    d = v - anchor
    return loss_at_anchor + 0.5 * d @ hessian @ d


def flipped_gradient_term(loss_at_anchor, gradient, hessian, anchor, v):
    d = anchor - v  # the displacement taken the wrong way round flips only the linear term
    return loss_at_anchor + gradient @ d + 0.5 * d @ hessian @ d


def no_half(loss_at_anchor, gradient, hessian, anchor, v):
    d = v - anchor
    return loss_at_anchor + gradient @ d + d @ hessian @ d


def no_constant(loss_at_anchor, gradient, hessian, anchor, v):
    return second_order_model(loss_at_anchor, gradient, hessian, anchor, v) - loss_at_anchor


def per_coordinate(loss_at_anchor, gradient, hessian, anchor, v):
    d = v - anchor
    return loss_at_anchor + gradient * d + 0.5 * d * (hessian @ d)


def swapped_kron(inputs, output_grads):
    n = len(inputs)
    a = torch.cat([inputs, torch.ones(n, 1, dtype=inputs.dtype)], 1)
    return torch.kron(output_grads.T @ output_grads / n, a.T @ a / n)


def sums_not_means(inputs, output_grads):
    return kfac_block(inputs, output_grads) * len(inputs) ** 2


def one_mean(inputs, output_grads):
    return kfac_block(inputs, output_grads) * len(inputs)


def exact_block(inputs, output_grads):
    a = torch.cat([inputs, torch.ones(len(inputs), 1, dtype=inputs.dtype)], 1)
    return sum(torch.kron(torch.outer(p, p), torch.outer(q, q)) for p, q in zip(a, output_grads)) / len(a)


def no_bias_column(inputs, output_grads):
    n = len(inputs)
    return torch.kron(inputs.T @ inputs / n, output_grads.T @ output_grads / n)


MISTAKES = {
    "03.1": [(change_only, {}, "only J (theta - theta0)"),
             (jacobian_at_theta, {}, "Jacobian is taken at the new parameters"),
             (the_network, {}, "the network itself"),
             (times_theta, {}, "instead of the displacement")],
    "03.2": [(no_gradient_term, {}, "gradient term g^T d is missing"),
             (flipped_gradient_term, {}, "wrong sign"),
             (no_half, {}, "1/2 is missing"),
             (no_constant, {}, "constant L1(anchor) is missing"),
             (per_coordinate, {}, "is one number")],
    "03.3": [(swapped_kron, {}, "order is swapped"),
             (sums_not_means, {}, "Neither factor is divided by N"),
             (one_mean, {}, "Only one of the two factors"),
             (exact_block, {}, "exact Fisher block"),
             (no_bias_column, {}, "append a 1")],
}


def test_a_function_that_raises_is_reported_not_raised():
    def broken(f, theta0, theta):
        return f(theta0) + theta0 @ f

    feedback = check("03.1", broken)
    assert feedback.verdict == "wrong" and "raised TypeError" in feedback.message


def test_a_jacobian_built_column_by_column_is_right():
    def by_jacobian(f, theta0, theta):
        J = torch.autograd.functional.jacobian(f, theta0)  # (batch, outputs, parameters)
        return f(theta0) + J @ (theta - theta0)

    assert check("03.1", by_jacobian).right


def test_float32_answers_are_right():
    def in_float32(loss_at_anchor, gradient, hessian, anchor, v):
        return second_order_model(*(t.float() for t in (loss_at_anchor, gradient, hessian, anchor, v)))

    def block_in_float32(inputs, output_grads):
        return kfac_block(inputs.float(), output_grads.float())

    assert check("03.2", in_float32).right
    assert check("03.3", block_in_float32).right


def test_the_solutions_do_not_move_the_global_random_state():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    for exercise_id, answer in (("03.1", taylor_model), ("03.2", second_order_model), ("03.3", kfac_block)):
        check(exercise_id, answer)
    assert torch.equal(torch.rand(3), expected)
