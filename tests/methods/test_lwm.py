"""LwM: Grad-CAM maps, the attention-distillation loss, and its five softmax-remedy variants."""
import pytest
import torch
from torch import nn

from helpers import QUICK, Stepper
from labkit import ConfigError, RunConfig, run
from labkit.methods import METHODS
from labkit.methods.lwm import attention_distillation, grad_cam, heads_and_map

CNN_TASK_IL = QUICK.replace(method="lwm", backbone="cnn", scenario="task-il", epochs=1)
VARIANTS = ["lwm", "lwm-s", "lwm-sr", "lwm-br", "lwm-br2", "lwm-bsr"]


def tiny_map(x: torch.Tensor) -> torch.Tensor:
    torch.manual_seed(0)
    return torch.relu(nn.Conv2d(1, 3, 3, padding=1)(x))


def test_grad_cam_equals_a_per_sample_autograd_reference():
    x = torch.randn(4, 1, 5, 5, generator=torch.Generator().manual_seed(1))
    feature_map = tiny_map(x)
    v = torch.randn(3, 5, 5, generator=torch.Generator().manual_seed(2))
    scores = torch.tanh(feature_map * v).sum(dim=(1, 2, 3))  # gradient varies over space
    cam = grad_cam(feature_map, scores)
    for n in range(4):
        a = feature_map[n].detach().requires_grad_(True)
        g, = torch.autograd.grad(torch.tanh(a * v).sum(), a)
        reference = torch.relu(sum(g[c].mean() * a[c] for c in range(3)))
        assert torch.allclose(cam[n], reference.detach(), atol=1e-6)


def test_with_a_linear_head_on_global_pooling_grad_cam_is_cam():
    """z_k = W_k . mean_hw(A) + b_k: d z_k / d A_chw = W_kc / HW, so Q = ReLU(sum_c W_kc A_c) / HW."""
    feature_map = tiny_map(torch.randn(2, 1, 4, 4, generator=torch.Generator().manual_seed(3)))
    head = nn.Linear(3, 5)
    logits = head(feature_map.mean(dim=(2, 3)))
    k = torch.tensor([1, 4])
    cam = grad_cam(feature_map, logits.gather(1, k[:, None]).squeeze(1))
    expected = torch.relu(torch.einsum("nc,nchw->nhw", head.weight[k], feature_map)) / 16
    assert torch.allclose(cam, expected.detach(), atol=1e-6)


def test_attention_distillation_is_scale_free_and_hand_worked():
    q = torch.tensor([[[3.0, 4.0]]])
    assert attention_distillation(q, 10 * q).item() == pytest.approx(0.0, abs=1e-7)
    # unit vectors (0.6, 0.8) and (1, 0): |0.6 - 1| + |0.8 - 0| = 1.2
    assert attention_distillation(q, torch.tensor([[[1.0, 0.0]]])).item() == pytest.approx(1.2)


def student_ad(s: Stepper, ctx, x: torch.Tensor) -> torch.Tensor:
    _, top, teacher_cam = s.method.teacher_attention(ctx, x)
    out, feature_map = heads_and_map(s.model, x)
    scores = ctx.old_logits(out).gather(1, top[:, None]).squeeze(1)
    return attention_distillation(grad_cam(feature_map, scores, create_graph=True), teacher_cam)


def test_attention_loss_is_zero_at_the_teacher_then_grows_and_trains_backbone_and_old_head():
    s = Stepper(CNN_TASK_IL.replace(scenario="class-il"))
    s.learn()
    ctx = s.begin()
    x = ctx.task.train_x[:64]
    s.model.eval()  # the teacher is in eval mode: with the cnn's batch norm, the same mode is the same net
    assert student_ad(s, ctx, x).item() == pytest.approx(0.0, abs=1e-6)
    s.model.train()
    s.finish(ctx)
    s.model.zero_grad()
    ad = student_ad(s, ctx, x)
    assert ad.item() > 1e-3
    ad.backward()
    assert s.model.backbone.body[0].weight.grad.abs().sum() > 0
    # the old head enters L_AD only through the gradient (create_graph): it still gets one
    assert s.model.heads.heads[0].weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in s.method.teacher.parameters())


@pytest.mark.parametrize("name", VARIANTS)
def test_every_variant_is_registered_and_learns_two_tasks_on_the_cnn(name):
    assert METHODS.get(name).remedy.joint == {"lwm-s": 0.0, "lwm-sr": 0.5}.get(name, 1.0)
    s = Stepper(CNN_TASK_IL.replace(method=name))
    s.learn()
    taw, _ = s.learn()
    assert len(taw) == 2 and all(0.0 <= a <= 1.0 for a in taw)


def test_mlp_backbone_is_refused():
    with pytest.raises(ConfigError, match="Grad-CAM") as info:
        RunConfig(method="lwm-bsr", backbone="mlp").validate()
    assert info.value.field == "backbone"
    RunConfig(method="lwm", backbone="resnet32").validate()


def test_minus_s_equals_lwm_with_one_old_task():
    s = Stepper(CNN_TASK_IL)
    s.learn()
    ctx = s.begin()
    with torch.no_grad():
        for p in s.model.backbone.parameters():
            p.add_(0.05 * torch.randn_like(p))  # student != teacher: KD and L_AD both non-trivial
    minus_s = METHODS.get("lwm-s")()
    minus_s.teacher = s.method.teacher
    x, y = ctx.task.train_x[:32], ctx.task.train_y[:32]
    assert minus_s.training_loss(ctx, x, y).item() == pytest.approx(s.method.training_loss(ctx, x, y).item(), rel=1e-6)


def test_lwm_runs_with_a_validation_split_and_the_schedule():
    """The runner takes validation losses under no_grad; LwM's Grad-CAM still needs gradients."""
    events = []
    run(RunConfig(method="lwm-bsr", backbone="cnn", scenario="task-il", tasks=2, epochs=2, val_fraction=0.2,
                  lr_patience=1, device="cpu"), events.append)
    val = [e.val_loss for e in events if e.type == "epoch_ended"]
    assert len(val) == 4 and all(v is not None and v > 0 for v in val)
