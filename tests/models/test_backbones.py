import pytest
import torch
from torch import nn

from labkit.models import BACKBONES, IncrementalNet, TaskHeads, build_model
from labkit.models.backbones import LEAKY_SLOPE, BasicBlock
from labkit.errors import ConfigError

SHAPES = [(1, 8, 8), (1, 28, 28), (3, 32, 32)]
RELU_OUT_DIMS = {"mlp": 256, "cnn": 128, "resnet32": 64, "resnet18": 512}
OUT_DIMS = RELU_OUT_DIMS | {f"{name}-leaky": dim for name, dim in RELU_OUT_DIMS.items()} | {"mlp32": 32}
CONV = ["cnn", "resnet32", "resnet18", "cnn-leaky", "resnet32-leaky", "resnet18-leaky"]


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def n_convs(module: nn.Module) -> int:
    return sum(isinstance(m, nn.Conv2d) for m in module.modules())


def test_all_backbones_registered():
    assert set(BACKBONES.names()) == set(OUT_DIMS)


@pytest.mark.parametrize("name", list(OUT_DIMS))
@pytest.mark.parametrize("shape", SHAPES)
def test_feature_shape(name, shape):
    net = BACKBONES.get(name)(shape)
    assert net.out_dim == OUT_DIMS[name]
    features = net(torch.randn(2, *shape))
    assert features.shape == (2, OUT_DIMS[name])


def test_resnet32_is_the_cifar_resnet():
    net = BACKBONES.get("resnet32")((3, 32, 32))
    # stem conv + 15 blocks x 2 convs = 31; option A shortcuts add no conv
    assert n_convs(net) == 31
    assert sum(isinstance(m, BasicBlock) for m in net.modules()) == 15
    # He et al. report 0.46M with the 10-class fc (64*10 + 10 = 650 parameters)
    assert n_params(net) + 650 == pytest.approx(0.464e6, rel=0.01)


def test_resnet18_size():
    net = BACKBONES.get("resnet18")((3, 32, 32))
    # 1 stem + 8 blocks x 2 + 3 projection shortcuts
    assert n_convs(net) == 20
    assert n_params(net) + 512 * 10 + 10 == pytest.approx(11.17e6, rel=0.01)


def test_unknown_backbone_names_choices():
    with pytest.raises(ConfigError, match="resnet18"):
        build_model("vgg", (3, 32, 32))


def test_task_heads_grow_with_offsets_and_order():
    heads = TaskHeads(4)
    h = torch.randn(5, 4)
    assert heads.concat(h).shape == (5, 0)
    for size in (2, 3, 1):
        heads.add_head(size)
    assert heads.sizes == [2, 3, 1]
    assert heads.offsets == [0, 2, 5]
    per_head = heads(h)
    assert [z.shape for z in per_head] == [(5, 2), (5, 3), (5, 1)]
    joined = heads.concat(h)
    for z, start, size in zip(per_head, heads.offsets, heads.sizes):
        assert torch.equal(joined[:, start : start + size], z)


def test_incremental_net_forward_is_concat_of_heads():
    net = build_model("cnn", (1, 8, 8))
    assert isinstance(net, IncrementalNet)
    assert net.heads.sizes == []
    net.add_head(2)
    net.add_head(3)
    x = torch.randn(4, 1, 8, 8)
    assert net.features(x).shape == (4, 128)
    assert torch.allclose(net(x), torch.cat(net.head_logits(x), dim=1))
    assert net(x).shape == (4, 5)


@pytest.mark.parametrize("name", CONV)
def test_conv_features_then_pool_is_forward(name):
    net = BACKBONES.get(name)((3, 8, 8)).eval()
    x = torch.randn(2, 3, 8, 8)
    feature_map = net.conv_features(x)
    assert feature_map.dim() == 4 and feature_map.shape[1] == net.out_dim
    assert torch.equal(net(x), feature_map.mean(dim=(2, 3)))


@pytest.mark.parametrize("name", list(RELU_OUT_DIMS))
def test_leaky_backbone_differs_from_relu_only_in_activation(name):
    torch.manual_seed(0)
    relu_net = BACKBONES.get(name)((3, 8, 8))
    torch.manual_seed(0)
    leaky_net = BACKBONES.get(f"{name}-leaky")((3, 8, 8))
    # the same parameters drawn for the same seed
    relu_state, leaky_state = relu_net.state_dict(), leaky_net.state_dict()
    assert list(relu_state) == list(leaky_state)
    assert all(torch.equal(relu_state[k], leaky_state[k]) for k in relu_state)
    # the same modules, every ReLU a LeakyReLU of the chosen slope
    relu_modules, leaky_modules = dict(relu_net.named_modules()), dict(leaky_net.named_modules())
    assert list(relu_modules) == list(leaky_modules)
    swapped = [k for k in relu_modules if type(relu_modules[k]) is not type(leaky_modules[k])]
    assert swapped and all(isinstance(relu_modules[k], nn.ReLU) for k in swapped)
    assert all(isinstance(leaky_modules[k], nn.LeakyReLU) for k in swapped)
    assert all(leaky_modules[k].negative_slope == LEAKY_SLOPE for k in swapped)
    assert not any(isinstance(m, nn.ReLU) for m in leaky_net.modules())
    # which shows in the output: LeakyReLU(z) - ReLU(z) = slope * min(z, 0)
    x = torch.randn(2, 3, 8, 8)
    assert not torch.allclose(relu_net(x), leaky_net(x))


def test_leaky_relu_slope():
    act = BACKBONES.get("mlp-leaky")((1, 1, 1)).body[2]
    z = torch.tensor([-2.0, 0.0, 3.0])
    assert torch.equal(act(z), torch.tensor([-2.0 * LEAKY_SLOPE, 0.0, 3.0]))
