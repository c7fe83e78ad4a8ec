"""A model in eval mode for the length of a block, then every module's own mode back:

    with evaluating(model):
        features = model.features(x)   # batch norm reads its running statistics, dropout is off

On entry model.eval() (so every submodule, through each one's own train(), e.g. Linearized keeping
its frozen copy in eval); on the way out, after an exception too, each submodule's `training`
flag is set back to what it was, one by one: a model whose parts were in different modes (a
frozen part kept in eval inside a training model) comes back exactly so, which
model.train(was_training) would not give. Modules added inside the block keep the mode they got.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from torch import nn


@contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """Run the block with `model` in eval mode and yield it; then restore every submodule's own
    train/eval flag as it was, whether the block ends or raises."""
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, mode in modes:
            module.training = mode
