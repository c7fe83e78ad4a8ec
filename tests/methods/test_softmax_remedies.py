"""The distillation and shift-sensitive losses of "Rethinking softmax", and the LwF variants."""
import pytest
import torch

from helpers import QUICK, Stepper
from labkit import RunConfig, run
from labkit.losses import bce_kd, bce_onehot, joint_kd, per_task_kd
from labkit.methods import METHODS
from labkit.methods.softmax_remedies import REMEDIES

TEACHER = torch.tensor([[2.0, 0.0, -1.0]], dtype=torch.float64)


def test_joint_kd_ignores_a_shift_of_the_student_but_bce_kd_does_not():
    student = torch.tensor([[1.0, 0.5, -0.5]], dtype=torch.float64)
    shifts = [-2.0, -0.5, 0.0, 0.5, 2.0]
    kd = [joint_kd(student + c, TEACHER, T=2.0).item() for c in shifts]
    assert max(kd) - min(kd) < 1e-12
    # BCE-KD of the teacher against itself, shifted: smallest at zero shift, growing both ways
    bce = [bce_kd([TEACHER + c], [TEACHER]).item() for c in shifts]
    assert bce.index(min(bce)) == 2 and bce[0] > bce[1] > bce[2] < bce[3] < bce[4]


def test_bce_kd_hand_worked():
    # student 0, teacher 0 in one logit: q = sigma(0) = 1/2, p = 1/2: BCE = -(log 1/2) = log 2
    assert bce_kd([torch.zeros(1, 1)], [torch.zeros(1, 1)]).item() == pytest.approx(0.693147, abs=1e-6)
    # student 0, teacher +inf-ish (q = 1): BCE = -log sigma(0) = log 2; onehot target 1 at logit 0 too
    assert bce_onehot(torch.zeros(1, 1), torch.zeros(1, dtype=torch.long)).item() == pytest.approx(0.693147, abs=1e-6)
    # two classes, target 0, logits (0, 0): mean of -log sigma(0) and -log(1 - sigma(0)) = log 2
    assert bce_onehot(torch.zeros(1, 2), torch.tensor([0])).item() == pytest.approx(0.693147, abs=1e-6)


def test_joint_kd_decomposes_into_task_masses_and_pi_weighted_per_task_terms():
    """KD_T(joint) = CE(M^o, M) + sum_i pi_i KD_T(z_i, z_i^o), M_i the softmax mass on head i,
    pi_i = M^o_i the teacher's (float64, eps = 0)."""
    g = torch.Generator().manual_seed(0)
    sizes, T = [3, 2, 4], 2.0
    student = [torch.randn(5, k, generator=g, dtype=torch.float64) for k in sizes]
    teacher = [torch.randn(5, k, generator=g, dtype=torch.float64) + 3 * i for i, k in enumerate(sizes)]
    joint = joint_kd(torch.cat(student, 1), torch.cat(teacher, 1), T=T, eps=0.0)

    def masses(heads):
        return torch.stack([torch.logsumexp(z / T, 1) for z in heads], 1).softmax(1)

    m_s, m_t = masses(student), masses(teacher)
    task_mass_ce = -(m_t * m_s.log()).sum(1)
    within = torch.stack([-(torch.softmax(t / T, 1) * torch.log_softmax(s / T, 1)).sum(1)
                          for s, t in zip(student, teacher)], 1)
    assert joint.item() == pytest.approx((task_mass_ce + (m_t * within).sum(1)).mean().item(), rel=1e-12)
    # the per-task sum is the same within-task terms without the pi_i weights
    assert per_task_kd(student, teacher, T=T, eps=0.0).item() == pytest.approx(within.sum(1).mean().item(), rel=1e-12)


def test_minus_s_equals_lwf_with_one_old_task():
    g = torch.Generator().manual_seed(1)
    s, t = [torch.randn(4, 3, generator=g)], [torch.randn(4, 3, generator=g)]
    assert REMEDIES["s"].distillation(s, t, 2.0).item() == pytest.approx(REMEDIES[""].distillation(s, t, 2.0).item())
    s2, t2 = s + [torch.randn(4, 3, generator=g)], t + [torch.randn(4, 3, generator=g)]
    assert REMEDIES["s"].distillation(s2, t2, 2.0).item() != pytest.approx(REMEDIES[""].distillation(s2, t2, 2.0).item())


def test_every_variant_is_registered_with_its_weights():
    names = ["lwf", "lwf-s", "lwf-sr", "lwf-br", "lwf-br2", "lwf-bsr"]
    assert all(n in METHODS for n in names)
    assert METHODS.get("lwf-bsr").remedy == REMEDIES["bsr"] and METHODS.get("lwf").remedy == REMEDIES[""]
    assert METHODS.get("lwf-sr").remedy.joint == 0.5


@pytest.mark.parametrize("name", ["lwf", "lwf-s", "lwf-sr", "lwf-br", "lwf-br2", "lwf-bsr"])
def test_variant_gradients_reach_the_backbone_and_new_head_not_frozen_old_heads(name):
    s = Stepper(QUICK.replace(method=name, scenario="task-il", epochs=1, freeze_old_heads=True))
    s.learn()
    ctx = s.begin()
    x, y = ctx.task.train_x[:32], ctx.task.train_y[:32]
    old_head = s.model.heads.heads[0].weight.detach().clone()
    s.model.zero_grad()
    loss = s.method.training_loss(ctx, x, y)
    loss.backward()
    assert s.model.backbone.body[1].weight.grad.abs().sum() > 0
    assert s.model.heads.heads[1].weight.grad.abs().sum() > 0
    s.finish(ctx)  # trains with heads 0..t-1 frozen
    assert torch.equal(s.model.heads.heads[0].weight, old_head)
    assert not s.model.heads.heads[0].weight.requires_grad


def test_without_freezing_distillation_moves_the_old_head():
    s = Stepper(QUICK.replace(method="lwf-br", scenario="task-il", epochs=1))
    s.learn()
    old_head = s.model.heads.heads[0].weight.detach().clone()
    s.learn()
    assert not torch.equal(s.model.heads.heads[0].weight, old_head)


def test_br2_adds_the_onehot_bce_prediction_term():
    br, br2 = Stepper(QUICK.replace(method="lwf-br")), Stepper(QUICK.replace(method="lwf-br2"))
    ctx_br, ctx_br2 = br.begin(), br2.begin()
    x, y = ctx_br.task.train_x[:16], ctx_br.task.train_y[:16]
    out = br.model.head_logits(x)
    extra = bce_onehot(out[0], y - ctx_br.task.offset)
    assert br2.method.training_loss(ctx_br2, x, y).item() == pytest.approx(
        br.method.training_loss(ctx_br, x, y).item() + extra.item(), rel=1e-5)


def test_validation_schedule_decays_restores_and_stops_early():
    events = []
    # lr 1.0: the validation loss soon stops improving (at 3.0 the loss goes NaN and the run is
    # stopped as diverged before the schedule can act)
    config = RunConfig(tasks=1, epochs=30, lr=1.0, momentum=0.0, val_fraction=0.2, lr_patience=2,
                       lr_factor=10.0, lr_min=0.01, device="cpu")
    assert run(config, events.append).status == "finished"
    epochs = [e for e in events if e.type == "epoch_ended"]
    rates = [e.lr for e in epochs]
    assert len(epochs) < 30  # stopped early once the rate fell below lr_min
    assert rates[0] == 1.0 and min(rates) < 1.0 and rates == sorted(rates, reverse=True)


def test_schedule_needs_a_validation_split():
    from labkit import ConfigError
    with pytest.raises(ConfigError, match="val_fraction"):
        RunConfig(lr_patience=3).validate()
