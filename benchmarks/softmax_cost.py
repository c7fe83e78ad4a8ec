"""Step time of the output layer and its loss against the number of classes N, on the CPU.

    python benchmarks/softmax_cost.py [--classes 1000 10000 100000] [--hidden 128] [--batch 256]
                                      [--sampled 64 256] [--repeats 7] [--threads T]

One step is the forward and backward pass of a linear output layer (d -> N, with bias) and its
loss for a batch of hidden states: full softmax CE, which scores all N classes, O(B N d), and the
sampled softmax with m negatives from the uniform proposal, which scores m + 1, O(B (m+1) d) plus
the sampler. Gradients stay dense (W.grad is (N, d)), so the sampled step still writes O(N d).
Prints the median milliseconds over the repeats after two warm-up steps. On a busy machine pass
--threads 1: torch's worker threads waiting on each other there inflate small steps many-fold.
A benchmark, not a test: nothing here asserts a time.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Callable

import torch
import torch.nn.functional as F

from labkit.losses import linear_class_logits, sampled_softmax_loss, uniform_proposal


def median_ms(step: Callable[[], torch.Tensor], params: list[torch.Tensor], repeats: int) -> float:
    """Median wall milliseconds of step() + backward, gradients cleared before each."""
    times = []
    for i in range(repeats + 2):
        for p in params:
            p.grad = None
        start = time.perf_counter()
        step().backward()
        if i >= 2:
            times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--classes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--sampled", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"output layer d={args.hidden} -> N, batch {args.batch}, forward + backward, uniform proposal; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs; "
          f"median ms of {args.repeats}")
    columns = ["full"] + [f"m={m}" for m in args.sampled]
    print(f"{'N':>8} " + " ".join(f"{c:>10}" for c in columns) + "   full / sampled")
    g = torch.Generator().manual_seed(0)
    for n in args.classes:
        hidden = torch.randn(args.batch, args.hidden, generator=g).requires_grad_(True)
        weight = (0.01 * torch.randn(n, args.hidden, generator=g)).requires_grad_(True)
        bias = torch.zeros(n, requires_grad=True)
        targets = torch.randint(0, n, (args.batch,), generator=g)
        params = [hidden, weight, bias]
        full = median_ms(lambda: F.cross_entropy(F.linear(hidden, weight, bias), targets), params, args.repeats)
        proposal = uniform_proposal(n)
        logits_of = linear_class_logits(hidden, weight, bias)
        sampled = [median_ms(lambda: sampled_softmax_loss(logits_of, targets, m, proposal, generator=g),
                             params, args.repeats) for m in args.sampled]
        ratios = " ".join(f"{full / s:6.1f}x" for s in sampled)
        print(f"{n:>8} " + " ".join(f"{t:10.2f}" for t in [full, *sampled]) + f"   {ratios}")


if __name__ == "__main__":
    main()
