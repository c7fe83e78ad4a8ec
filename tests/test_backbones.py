import pytest
import torch
from torch import nn

from labkit.models import IncrementalNet, TaskHeads, backbones, build_model
from labkit.models.backbones import BasicBlock
from labkit.registry import ConfigError

SHAPES = [(1, 8, 8), (1, 28, 28), (3, 32, 32)]
OUT_DIMS = {"mlp": 256, "cnn": 128, "resnet32": 64, "resnet18": 512}


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def n_convs(module: nn.Module) -> int:
    return sum(isinstance(m, nn.Conv2d) for m in module.modules())


def test_all_backbones_registered():
    assert set(backbones.names()) == set(OUT_DIMS)


@pytest.mark.parametrize("name", list(OUT_DIMS))
@pytest.mark.parametrize("shape", SHAPES)
def test_feature_shape(name, shape):
    net = backbones.get(name)(shape)
    assert net.out_dim == OUT_DIMS[name]
    features = net(torch.randn(2, *shape))
    assert features.shape == (2, OUT_DIMS[name])


def test_resnet32_is_the_cifar_resnet():
    net = backbones.get("resnet32")((3, 32, 32))
    # stem conv + 15 blocks x 2 convs = 31; option A shortcuts add no conv
    assert n_convs(net) == 31
    assert sum(isinstance(m, BasicBlock) for m in net.modules()) == 15
    # He et al. report 0.46M with the 10-class fc (64*10 + 10 = 650 parameters)
    assert n_params(net) + 650 == pytest.approx(0.464e6, rel=0.01)


def test_resnet18_size():
    net = backbones.get("resnet18")((3, 32, 32))
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
