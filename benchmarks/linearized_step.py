"""Cost of training the first-order Taylor model (DLCFT) against the plain network.

    python benchmarks/linearized_step.py [--device cpu] [--batch 4] [--repeats 3] [--threads N]
                                         [--kfac-images 4]

For mlp-leaky, cnn-leaky and resnet18-leaky on 32x32x3 inputs, each with a 10-way head and the MSE
loss, prints the median wall time of one training step (forward + backward + Adam step, the same
batch every time, after warm-up steps) of the plain network (batch norm in train mode) and of the
linearised one (batch norm folded, f_lin = f(x; theta0) + J delta by torch.func.jvp), and their
ratio (the goal is at most 3x). Then times kfac_factors (Gaussian likelihood, Monte-Carlo targets,
as DLCFT's K-FAC) on the folded resnet18-leaky over --kfac-images images (5,000 is the size meant for
a GPU). CUDA is synchronised before each clock read. A benchmark, not a test: nothing is asserted.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Callable

import torch

from labkit.curvature import kfac_factors
from labkit.losses import mse_onehot
from labkit.models import IncrementalNet, build_model
from labkit.models.taylor import fold_batchnorm, linearize

BACKBONES = ("mlp-leaky", "cnn-leaky", "resnet18-leaky")
INPUT_SHAPE = (3, 32, 32)
CLASSES = 10


def timed(fn: Callable[[], object], device: torch.device, warmup: int, repeats: int) -> float:
    """Median seconds of fn() over `repeats` calls, after `warmup` calls."""
    times = []
    for i in range(warmup + repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def network(name: str, linearized: bool, device: torch.device) -> IncrementalNet:
    torch.manual_seed(0)
    net = build_model(name, INPUT_SHAPE)
    net.add_head(CLASSES)
    if linearized:
        net.backbone = linearize(fold_batchnorm(net.backbone))
    return net.to(device).train()


def training_step(net: IncrementalNet, x: torch.Tensor, y: torch.Tensor) -> Callable[[], None]:
    optimizer = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=1e-4)

    def step() -> None:
        optimizer.zero_grad()
        mse_onehot(net(x), y).backward()
        optimizer.step()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--kfac-images", type=int, default=4, help="0 skips the K-FAC timing")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(args.batch, *INPUT_SHAPE, generator=gen).to(device)
    y = torch.randint(0, CLASSES, (args.batch,), generator=gen).to(device)
    print(f"device {device}, batch {args.batch}, input {INPUT_SHAPE}, median of {args.repeats} after "
          f"{args.warmup} warm-up; torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs")
    print(f"{'backbone':<16} {'params':>10} {'plain ms':>10} {'linear ms':>10} {'ratio':>7}")
    for name in BACKBONES:
        seconds, params = {}, 0
        for linearized in (False, True):
            net = network(name, linearized, device)
            seconds[linearized] = timed(training_step(net, x, y), device, args.warmup, args.repeats)
            params = params or sum(p.numel() for p in net.parameters())
        print(f"{name:<16} {params:>10,} {1e3 * seconds[False]:>10.1f} {1e3 * seconds[True]:>10.1f} "
              f"{seconds[True] / seconds[False]:>6.2f}x")
    if args.kfac_images:
        time_kfac(args, device)


def time_kfac(args: argparse.Namespace, device: torch.device) -> None:
    net = network("resnet18-leaky", False, device)
    net.backbone = fold_batchnorm(net.backbone)
    images = torch.randn(args.kfac_images, *INPUT_SHAPE, generator=torch.Generator().manual_seed(1)).to(device)
    seconds = timed(lambda: kfac_factors(net, images, likelihood="gaussian", fisher_type="mc"),
                    device, args.warmup, args.repeats)
    print(f"kfac_factors, resnet18-leaky (folded), {args.kfac_images} images, Gaussian MC: "
          f"{seconds:.2f} s ({1e3 * seconds / args.kfac_images:.1f} ms per image)")


if __name__ == "__main__":
    main()
