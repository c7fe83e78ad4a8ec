"""Feature extractors, registered by name. Each entry is a factory
``(input_shape: (C, H, W)) -> nn.Module`` whose module maps (N, C, H, W) images to (N, out_dim)
features and carries the int attribute ``out_dim``. All accept any channel count and any
spatial size >= 8. Each comes with ReLU (``mlp``, ``cnn``, ``resnet32``, ``resnet18``) and with
LeakyReLU of slope ``LEAKY_SLOPE`` (``<name>-leaky``: DLCFT's networks to linearise); the two
variants draw the same initial parameters for a given seed. The convolutional ones (cnn,
resnet32, resnet18 and their leaky twins) also expose the last conv block's map before global
pooling: ``conv_features(x) -> (N, C, H, W)``, with ``forward(x) = pool(conv_features(x))`` (what
LwM's Grad-CAM reads)."""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from labkit.registry import Registry

BACKBONES: Registry = Registry("backbone")

InputShape = tuple[int, int, int]
Activation = Callable[[], nn.Module]

LEAKY_SLOPE = 0.01
"""Negative slope of the ``-leaky`` backbones. DLCFT (following LQF) replaces ReLU by LeakyReLU
without stating the slope; 0.01 is PyTorch's default."""


def leaky_relu() -> nn.Module:
    """LeakyReLU(x) = x if x > 0 else LEAKY_SLOPE * x."""
    return nn.LeakyReLU(LEAKY_SLOPE)


class MLP(nn.Module):
    """flatten -> Linear(C*H*W, 256) -> act -> Linear(256, 256) -> act (act = ReLU by default)."""

    def __init__(self, input_shape: InputShape, width: int = 256, activation: Activation = nn.ReLU):
        super().__init__()
        self.out_dim = width
        self.body = nn.Sequential(
            nn.Flatten(),
            nn.Linear(math.prod(input_shape), width),
            activation(),
            nn.Linear(width, width),
            activation(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class SmallCNN(nn.Module):
    """conv3x3 32 -> BN -> act -> conv3x3 64 -> BN -> act -> maxpool 2 -> conv3x3 128 -> BN -> act
    -> global average pool -> flatten (out_dim 128), act = ReLU by default. Padding 1 keeps 8x8
    inputs valid (the map is 4x4 before the pool).

    Batch norm, because without it the network hardly learns digits from scratch: at PyTorch's
    default initialisation its features have std 0.05 and its first layer a relative gradient
    10x smaller than the MLP's, so it sits on a plateau for epochs at a small step and collapses
    to chance at a large one. Measured on digits, 5 class-IL tasks of 5 epochs, seeds 0-2: with
    SGD (lr 0.005-0.05 with momentum 0.9, 0.05-0.1 without) or Adam (1e-3 to 1e-2) some task
    stayed at chance (<= 0.51; with Kaiming initialisation instead, at best 0.863; only 10
    epochs of Adam 1e-3 reached 0.944); with batch norm Adam 1e-3 learns every task to >= 0.986."""

    def __init__(self, input_shape: InputShape, activation: Activation = nn.ReLU):
        super().__init__()
        self.out_dim = 128
        self.body = nn.Sequential(
            nn.Conv2d(input_shape[0], 32, 3, padding=1, bias=False),
            nn.BatchNorm2d(32),
            activation(),
            nn.Conv2d(32, 64, 3, padding=1, bias=False),
            nn.BatchNorm2d(64),
            activation(),
            nn.MaxPool2d(2),
            nn.Conv2d(64, 128, 3, padding=1, bias=False),
            nn.BatchNorm2d(128),
            activation(),
        )
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())

    def conv_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.conv_features(x))


def conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)


class PadShortcut(nn.Module):
    """He et al.'s option A shortcut: subsample by ``stride`` and zero-pad the new channels
    (no parameters)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.stride, self.extra = stride, out_channels - in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.extra))


def projection_shortcut(in_channels: int, out_channels: int, stride: int) -> nn.Module:
    """He et al.'s option B shortcut: 1x1 convolution with stride, then batch norm."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
        nn.BatchNorm2d(out_channels),
    )


class BasicBlock(nn.Module):
    """act(bn(conv3x3(act(bn(conv3x3(x))))) + shortcut(x)), act = ReLU by default.

    The shortcut is the identity when shape is kept; otherwise option "A" (zero-pad, no
    parameters) or "B" (1x1 projection). The activation is registered last, so every batch norm
    directly follows its convolution in registration order (what ``fold_batchnorm`` relies on)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, option: str = "B",
                 activation: Activation = nn.ReLU):
        super().__init__()
        self.conv1 = conv3x3(in_channels, out_channels, stride)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = conv3x3(out_channels, out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = block_shortcut(in_channels, out_channels, stride, option)
        self.act = activation()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.act(out + self.shortcut(x))


def block_shortcut(in_channels: int, out_channels: int, stride: int, option: str) -> nn.Module:
    if stride == 1 and in_channels == out_channels:
        return nn.Identity()
    if option == "A":
        return PadShortcut(in_channels, out_channels, stride)
    if option == "B":
        return projection_shortcut(in_channels, out_channels, stride)
    raise ValueError(f"option={option!r} is not valid: choose 'A' or 'B'")


class ResNet(nn.Module):
    """3x3 stem conv (stride 1) + BN + act, then stages of BasicBlocks, then global average
    pool. ``stages`` lists (channels, blocks, stride of the first block) per stage; no fc layer:
    the heads live in TaskHeads.

    ``input_size`` (the image's smaller side, when known): a stage whose input map is already
    smaller than 4x4 keeps stride 1, so no map shrinks below 2x2. ResNet-18's three strides would
    take an 8x8 digit to 1x1 in its last stage, where a 3x3 convolution sees only its centre tap
    (8/9 of the stage's weights never get a gradient) and batch norm has one value per channel
    and image: a last batch of one image fails (measured: digits, seed 1). 32x32 inputs and
    ResNet-32 on 8x8 (8 -> 4 -> 2) keep every stride."""

    def __init__(self, in_channels: int, stem: int, stages: list[tuple[int, int, int]], option: str,
                 activation: Activation = nn.ReLU, input_size: int | None = None):
        super().__init__()
        self.stem = nn.Sequential(conv3x3(in_channels, stem), nn.BatchNorm2d(stem), activation())
        blocks, channels, size = [], stem, input_size
        for out_channels, count, stride in stages:
            if size is not None:
                stride = stride if size >= 4 else 1
                size = -(-size // stride)
            for i in range(count):
                blocks.append(BasicBlock(channels, out_channels, stride if i == 0 else 1, option, activation))
                channels = out_channels
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.out_dim = channels
        kaiming_init(self)

    def conv_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.stem(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.conv_features(x))


def kaiming_init(module: nn.Module) -> None:
    """Kaiming-normal (fan_out, ReLU) conv weights; batch norm at weight 1, bias 0."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


@BACKBONES.register("mlp", "two hidden layers of 256 ReLU units on the flattened image")
def mlp(input_shape: InputShape, activation: Activation = nn.ReLU) -> nn.Module:
    return MLP(input_shape, activation=activation)


@BACKBONES.register("mlp32", "two hidden layers of 32 ReLU units: a network small enough that its tasks compete "
                               "for it (reproduce's CPU protocol for Rethinking softmax, with its preset's SGD 0.1); "
                               "not for the defaults: at them it does not learn every digits task")
def mlp32(input_shape: InputShape, activation: Activation = nn.ReLU) -> nn.Module:
    return MLP(input_shape, width=32, activation=activation)


@BACKBONES.register("cnn", "three 3x3 conv layers (32/64/128) with batch norm, one max-pool, global average pool")
def cnn(input_shape: InputShape, activation: Activation = nn.ReLU) -> nn.Module:
    return SmallCNN(input_shape, activation)


@BACKBONES.register("resnet32", "CIFAR ResNet-32 (He et al. 2016), 0.46M parameters, out_dim 64")
def resnet32(input_shape: InputShape, activation: Activation = nn.ReLU) -> nn.Module:
    """The CIFAR ResNet-32 of He et al.: stem 16, three stages of 5 BasicBlocks with 16/32/64
    channels and strides 1/2/2, option A (zero-padding, parameter-free) shortcuts as in the
    paper's CIFAR experiments; 31 convolutions (+ the fc layer, here the task heads = 32 layers)."""
    return ResNet(input_shape[0], 16, [(16, 5, 1), (32, 5, 2), (64, 5, 2)], "A", activation, min(input_shape[1:]))


@BACKBONES.register("resnet18", "ResNet-18 for 32x32 inputs (3x3 stem, no max-pool), out_dim 512")
def resnet18(input_shape: InputShape, activation: Activation = nn.ReLU) -> nn.Module:
    """ResNet-18 adapted to 32x32: 3x3 stride-1 stem with 64 channels, no max-pool, stages of 2
    BasicBlocks with 64/128/256/512 channels and strides 1/2/2/2 (1/2/2/1 on inputs up to 12x12,
    such as digits' 8x8: see ResNet), option B (1x1 projection) shortcuts."""
    return ResNet(input_shape[0], 64, [(64, 2, 1), (128, 2, 2), (256, 2, 2), (512, 2, 2)], "B", activation,
                  min(input_shape[1:]))


def register_leaky(name: str) -> None:
    """Register ``<name>-leaky``: backbone ``name`` with every ReLU replaced by LeakyReLU."""
    relu_version = BACKBONES.get(name)

    def leaky(input_shape: InputShape) -> nn.Module:
        return relu_version(input_shape, activation=leaky_relu)

    BACKBONES.register(f"{name}-leaky", f"{name} with LeakyReLU (slope {LEAKY_SLOPE}) instead of ReLU: "
                       "DLCFT's network to linearise")(leaky)


for _name in ("mlp", "cnn", "resnet32", "resnet18"):
    register_leaky(_name)
