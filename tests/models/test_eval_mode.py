"""labkit.models.eval_mode.evaluating: eval mode inside the block, every submodule's own mode
back after it (after an exception too), and batch norm's running statistics untouched inside."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from labkit.models import build_model
from labkit.models.eval_mode import evaluating


def mixed_model() -> nn.Sequential:
    """A model in training mode with one part kept in eval (as a frozen teacher or backbone is)."""
    model = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Dropout(0.5), nn.Sequential(nn.Linear(6, 3),
                                                                                             nn.BatchNorm1d(3)))
    model.train()
    model[3].eval()
    return model


def modes(model: nn.Module) -> list[bool]:
    return [m.training for m in model.modules()]


def test_inside_every_module_is_in_eval_and_afterwards_each_has_its_own_mode_back():
    model = mixed_model()
    before = modes(model)
    assert before == [True, True, True, True, False, False, False]
    with evaluating(model) as inside:
        assert inside is model and not any(modes(model))
    assert modes(model) == before  # model.train(True) would have put model[3] in training mode


def test_a_model_in_eval_mode_stays_in_eval_mode():
    model = mixed_model().eval()
    with evaluating(model):
        pass
    assert not any(modes(model))


def test_the_modes_come_back_after_an_exception_in_the_block():
    model = mixed_model()
    before = modes(model)
    with pytest.raises(RuntimeError, match="inside"):
        with evaluating(model):
            raise RuntimeError("inside")
    assert modes(model) == before


def test_batch_norm_running_statistics_are_read_not_updated_inside():
    torch.manual_seed(0)
    model = mixed_model()
    x = 3 + 2 * torch.randn(32, 4)
    model(x)  # one training step's batch: the running statistics move off their start
    stats = {n: b.clone() for n, b in model.named_buffers()}
    with evaluating(model):
        out = model(x)
    assert all(torch.equal(b, stats[n]) for n, b in model.named_buffers())
    bn = model[1]
    by_hand = (model[0](x) - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps) * bn.weight + bn.bias
    expected = model[3][1].eval()(model[3][0](by_hand))  # dropout off: the activations pass as they are
    assert torch.allclose(out, expected, atol=1e-6)
    model(x)
    assert not torch.equal(model[1].running_mean, stats["1.running_mean"])  # training mode again: it moves


def test_an_incremental_net_with_a_frozen_copy_keeps_it_frozen():
    model = build_model("mlp", (1, 8, 8))
    model.train()
    model.backbone.eval()  # a frozen backbone inside a training model
    before = modes(model)
    with evaluating(model):
        assert not any(modes(model))
    assert modes(model) == before
