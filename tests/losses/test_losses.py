"""Loss values against hand-worked examples and float64 reference formulas."""
import math

import pytest
import torch

from labkit.losses import LOSSES, cross_entropy, joint_kd, mse_onehot


def test_cross_entropy_hand_worked():
    # z = (2, 0, -1), y = 0: -log(e^2 / (e^2 + 1 + e^-1)) = -log(7.389056 / 8.756935) = 0.169846
    z = torch.tensor([[2.0, 0.0, -1.0]])
    assert cross_entropy(z, torch.tensor([0])).item() == pytest.approx(0.169846, abs=1e-5)


def test_mse_onehot_hand_worked():
    # z = (1, 2, 0), y = 1, alpha = 15: ((1-0)^2 + (2-15)^2 + 0^2) / 3 = 170 / 3
    z = torch.tensor([[1.0, 2.0, 0.0]])
    assert mse_onehot(z, torch.tensor([1])).item() == pytest.approx(170 / 3)
    assert mse_onehot(z, torch.tensor([1]), alpha=1.0).item() == pytest.approx((1 + 1 + 0) / 3)


def test_joint_kd_uniform_student_is_log_k():
    # teacher (2, 0, -1), student all equal: p_T(student) = 1/3 whatever T, so the CE is log 3
    teacher = torch.tensor([[2.0, 0.0, -1.0]])
    assert joint_kd(torch.zeros(1, 3), teacher, T=2.0).item() == pytest.approx(math.log(3), abs=1e-6)


def test_joint_kd_matches_float64_formula_and_is_shift_invariant():
    g = torch.Generator().manual_seed(0)
    s, t = torch.randn(8, 5, generator=g, dtype=torch.float64), torch.randn(8, 5, generator=g, dtype=torch.float64)
    T = 2.0
    ref = -(torch.softmax(t / T, 1) * torch.log_softmax(s / T, 1)).sum(1).mean()
    assert joint_kd(s, t, T=T, eps=0.0).item() == pytest.approx(ref.item(), rel=1e-12)
    for c in (-3.0, 0.5, 10.0):  # softmax shift invariance: the same loss for any student offset
        assert joint_kd(s + c, t, T=T).item() == pytest.approx(joint_kd(s, t, T=T).item(), rel=1e-9)
    assert joint_kd(s, t, T=T, eps=0.0, t_squared=True).item() == pytest.approx(4 * ref.item(), rel=1e-12)


def test_joint_kd_at_teacher_is_its_entropy_with_zero_gradient():
    # student == teacher (2, 0, -1), T = 2: p_T = softmax(1, 0, -0.5) = (e, 1, e^-.5) / 4.324808
    #   = (0.628532, 0.231224, 0.140244); -log p = (0.464369, 1.464369, 1.964369)
    # entropy = 0.628532*0.464369 + 0.231224*1.464369 + 0.140244*1.964369 = 0.905959
    teacher = torch.tensor([[2.0, 0.0, -1.0]], dtype=torch.float64)
    student = teacher.clone().requires_grad_(True)
    loss = joint_kd(student, teacher, T=2.0, eps=0.0)
    assert loss.item() == pytest.approx(0.905959, abs=1e-5)
    (grad,) = torch.autograd.grad(loss, student)
    assert grad.abs().max().item() < 1e-12  # the minimum over students: KL part is zero


def test_registry_names_the_likelihoods():
    assert LOSSES.names()[:2] == ["ce", "mse"]
    assert LOSSES.get("ce").likelihood == "categorical"
    assert LOSSES.get("mse").likelihood == "gaussian" and LOSSES.get("mse").onehot_scale == 15.0
