import io

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, jacrev

from labkit.models import BACKBONES, build_model
from labkit.models.backbones import MLP, ResNet, leaky_relu
from labkit.models.taylor import Linearized, fold_batchnorm, linearize

F64 = torch.float64


def tiny_resnet() -> nn.Module:
    """Stem 4 channels, one block of 4, one strided block of 8 with a projection shortcut."""
    return ResNet(3, 4, [(4, 1, 1), (8, 1, 2)], "B", leaky_relu)


def tiny_mlp() -> nn.Module:
    return MLP((1, 2, 2), width=6, activation=leaky_relu)


NETS = {  # name -> (factory, input shape)
    "tiny-mlp": (tiny_mlp, (1, 2, 2)),
    "mlp-leaky": (lambda: BACKBONES.get("mlp-leaky")((1, 8, 8)), (1, 8, 8)),
    "cnn-leaky": (lambda: BACKBONES.get("cnn-leaky")((1, 8, 8)), (1, 8, 8)),
    "tiny-resnet": (tiny_resnet, (3, 8, 8)),
}


def with_batch_statistics(model: nn.Module, shape, dtype=torch.float32) -> nn.Module:
    """Random batch-norm affine parameters and running statistics from a few train-mode forwards
    on shifted, scaled inputs, so that eval-mode batch norm is far from the identity; then eval."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_()
        model.train()
        for _ in range(3):
            model(3 * torch.randn(8, *shape, dtype=dtype) + 1)
    return model.eval()


def make(name: str, seed: int = 0, dtype=F64) -> tuple[nn.Module, torch.Tensor]:
    factory, shape = NETS[name]
    torch.manual_seed(seed)
    model = with_batch_statistics(factory().to(dtype), shape, dtype)
    return model, torch.randn(2, *shape, dtype=dtype)


def random_direction(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: torch.randn_like(p) for name, p in model.named_parameters()}


def set_delta(lin: Linearized, direction: dict[str, torch.Tensor], scale: float = 1.0) -> None:
    with torch.no_grad():
        for name, p in lin.delta.named_parameters():
            p.copy_(scale * direction[name])


def f_lin(lin: Linearized, x: torch.Tensor, direction: dict[str, torch.Tensor], scale: float = 1.0) -> torch.Tensor:
    set_delta(lin, direction, scale)
    with torch.no_grad():
        return lin(x)


@pytest.mark.parametrize("name", list(NETS))
def test_zero_delta_gives_the_network_exactly(name):
    model, x = make(name, dtype=torch.float32)
    lin = linearize(model)
    assert all(torch.count_nonzero(p) == 0 for p in lin.delta.parameters())
    assert torch.equal(lin(x), model(x))


def test_delta_has_base_parameter_names_and_only_delta_trains():
    model, _ = make("tiny-resnet")
    lin = linearize(model)
    base, delta = dict(lin.base.named_parameters()), dict(lin.delta.named_parameters())
    assert list(base) == list(delta) == [n for n, _ in model.named_parameters()]
    assert all(not p.requires_grad for p in base.values()) and all(p.requires_grad for p in delta.values())
    assert lin.out_dim == model.out_dim == 8
    assert model.stem[0].weight.requires_grad  # the model given is copied, not frozen in place


@pytest.mark.parametrize("name", ["tiny-mlp", "tiny-resnet"])
def test_output_is_exactly_linear_in_delta(name):
    model, x = make(name)
    lin = linearize(model)
    d1, d2 = random_direction(model), random_direction(model)
    a, b = 0.7, -1.9
    f0 = model(x).detach()
    combined = {n: a * d1[n] + b * d2[n] for n in d1}
    lhs = f_lin(lin, x, combined) - f0
    rhs = a * (f_lin(lin, x, d1) - f0) + b * (f_lin(lin, x, d2) - f0)
    assert lhs.abs().max() > 1e-2  # a real change ...
    assert torch.allclose(lhs, rhs, rtol=0, atol=1e-12)  # ... exactly linear


@pytest.mark.parametrize("name", ["tiny-mlp", "tiny-resnet"])
def test_tangent_is_the_jacobian_times_delta(name):
    """J from reverse-mode autodiff (jacrev, float64), contracted with delta by hand."""
    model, x = make(name)
    theta0 = {n: p.detach() for n, p in model.named_parameters()}
    jacobian = jacrev(lambda params: functional_call(model, params, (x,)))(theta0)
    direction = random_direction(model)
    expected = sum(torch.tensordot(jacobian[n], direction[n], dims=direction[n].dim()) for n in theta0)
    lin = linearize(model)
    assert torch.allclose(f_lin(lin, x, direction) - model(x).detach(), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", ["mlp-leaky", "cnn-leaky", "tiny-resnet"])
def test_error_against_the_network_is_second_order(name):
    """||f(theta0 + eps d) - f_lin(eps d)|| = O(eps^2): halving eps quarters it. eps is tiny so that
    no LeakyReLU or max-pool kink is crossed (a kink adds a first-order error); float64 keeps
    the O(eps^2) error far above rounding."""
    model, x = make(name)
    x = x[:1]
    lin = linearize(model)
    direction = random_direction(model)
    errors = []
    for eps in (2e-6, 1e-6, 5e-7):
        shifted = {n: p.detach() + eps * direction[n] for n, p in model.named_parameters()}
        exact = functional_call(model, shifted, (x,)).detach()
        errors.append((exact - f_lin(lin, x, direction, eps)).norm().item())
    zeroth_order = (exact - model(x).detach()).norm().item()
    assert errors[-1] < 1e-3 * zeroth_order
    assert errors[0] / errors[1] == pytest.approx(4, rel=1e-3)
    assert errors[1] / errors[2] == pytest.approx(4, rel=1e-3)


def test_only_delta_changes_under_training():
    model, x = make("tiny-resnet", dtype=torch.float32)
    lin = linearize(model).train()
    assert lin.training and not lin.base.training
    base_before = {k: v.clone() for k, v in lin.base.state_dict().items()}
    optimizer = torch.optim.Adam(lin.parameters(), lr=1e-2, weight_decay=1e-3)
    target = torch.randn(2, lin.out_dim)
    for _ in range(3):
        optimizer.zero_grad()
        F.mse_loss(lin(x), target).backward()
        assert all(p.grad is None for p in lin.base.parameters())
        assert all(p.grad is not None for p in lin.delta.parameters())
        optimizer.step()
    # parameters and batch-norm running statistics of base untouched (base stayed in eval mode)
    assert all(torch.equal(v, base_before[k]) for k, v in lin.base.state_dict().items())
    assert all(torch.count_nonzero(p) > 0 for p in lin.delta.parameters())


def test_base_gets_no_gradient_even_if_unfrozen():
    model, x = make("tiny-mlp", dtype=torch.float32)
    lin = linearize(model)
    lin.base.requires_grad_(True)
    lin(x).sum().backward()
    assert all(p.grad is None for p in lin.base.parameters())


def test_state_dict_round_trip():
    model, x = make("tiny-resnet", seed=0, dtype=torch.float32)
    lin = linearize(model)
    set_delta(lin, random_direction(model), 0.1)
    buffer = io.BytesIO()
    torch.save(lin.state_dict(), buffer)
    buffer.seek(0)
    fresh = linearize(make("tiny-resnet", seed=1, dtype=torch.float32)[0])
    assert not torch.equal(fresh(x), lin(x))
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    assert torch.equal(fresh(x), lin(x))


@pytest.mark.parametrize("name", ["resnet18", "resnet32", "resnet18-leaky"])
def test_fold_batchnorm_equals_eval_mode(name):
    torch.manual_seed(0)
    model = with_batch_statistics(BACKBONES.get(name)((3, 8, 8)).double(), (3, 8, 8), F64)
    x = 3 * torch.randn(2, 3, 8, 8, dtype=F64) + 1
    folded = fold_batchnorm(model)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())  # the input is not modified
    convs = [m for m in folded.modules() if isinstance(m, nn.Conv2d)]
    assert all(conv.bias is not None for conv in convs)  # new biases where the convs had none
    expected = model(x)
    assert torch.allclose(folded(x), expected, rtol=1e-10, atol=1e-12)
    for m in model.modules():  # the statistics matter: without them the output is far off
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
    assert (model(x) - expected).abs().max() > 0.1


@pytest.mark.parametrize("name", ["mlp", "mlp-leaky"])  # the cnns have batch norm
def test_fold_batchnorm_without_batchnorm_changes_nothing(name):
    torch.manual_seed(0)
    model = BACKBONES.get(name)((1, 8, 8))
    folded = fold_batchnorm(model)
    x = torch.randn(2, 1, 8, 8)
    assert folded is not model
    assert torch.equal(folded(x), model(x))
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in folded.state_dict().items())


def test_fold_batchnorm_into_linear_with_bias():
    """Linear + BatchNorm1d, by hand: gamma (W x + b - mu) / sqrt(var + eps) + beta."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)).double()
    bn = model[1]
    with torch.no_grad():
        bn.running_mean.normal_(), bn.running_var.uniform_(0.5, 2), bn.weight.normal_(), bn.bias.normal_()
    x = torch.randn(5, 3, dtype=F64)
    by_hand = bn.weight * (model[0](x) - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps) + bn.bias
    folded = fold_batchnorm(model)
    assert isinstance(folded[1], nn.Identity)
    assert torch.allclose(folded(x), by_hand, rtol=0, atol=1e-12)


def test_fold_batchnorm_rejects_a_batchnorm_after_no_layer():
    with pytest.raises(ValueError, match="'1'"):
        fold_batchnorm(nn.Sequential(nn.ReLU(), nn.BatchNorm1d(3)))


def test_linearized_backbone_inside_incremental_net():
    torch.manual_seed(0)
    net = build_model("resnet32-leaky", (1, 8, 8))
    net.add_head(2)
    with_batch_statistics(net.backbone, (1, 8, 8))
    x, y = torch.randn(8, 1, 8, 8), torch.randint(0, 2, (8,))
    before = net(x).detach()
    net.backbone = linearize(fold_batchnorm(net.backbone))
    assert torch.allclose(net(x), before, rtol=1e-5, atol=1e-5)
    net.add_head(3)
    assert net(x).shape == (8, 5)
    base_before = {k: v.clone() for k, v in net.backbone.base.state_dict().items()}
    optimizer = torch.optim.SGD(net.parameters(), lr=1e-4)
    losses = []
    net.train()
    for _ in range(5):
        optimizer.zero_grad()
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert all(b < a for a, b in zip(losses, losses[1:]))
    assert all(torch.equal(v, base_before[k]) for k, v in net.backbone.base.state_dict().items())
    assert any(torch.count_nonzero(p) > 0 for p in net.backbone.delta.parameters())
