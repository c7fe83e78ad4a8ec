"""Training throughput: labkit's device-resident path against a loop written the FACIL way.

    python benchmarks/throughput.py [--device auto|cpu|cuda] [--images N] [--batch B] [--workers W]
                                    [--kfac-images K] [--repeats R] [--warmup W] [--compile] [--out PATH]

On one device, for resnet32 and resnet18 (labkit's 32x32 versions), each with one 100-way head, on
synthetic CIFAR-100-shaped data (N random uint8 32x32x3 images, 100 classes), it measures the
images per second of training:

  labkit     the runner's own `train_task` on the images held on the device (index-gather
             batches, random crop + flip on the device, bf16 autocast on CUDA, channels-last,
             torch.compile with --compile): "finetune", and "lwf" at task 1 (its teacher's forward
             on every batch included), in a data-IL scenario of two tasks over the same images;
  reference  a FACIL-style loop: a Dataset over uint8 HWC numpy images transformed per sample on
             the CPU (torchvision's RandomCrop(32, padding=4), RandomHorizontalFlip, ToTensor,
             Normalize when torchvision imports, else the same operations hand-written on CPU
             tensors), a DataLoader (shuffle, --workers, pin_memory on CUDA), fp32, NCHW, and
             `loss.item()` added to a Python float after every batch (a host sync per step);
             "finetune", and "lwf" with a frozen teacher's forward on every batch.

Each path trains --warmup epochs (default 1), then one timed epoch (CUDA synchronised around the
clock), with the same architecture, batch size and SGD settings; then the ratio labkit / reference
per backbone and method. Beside each throughput, an estimated floor: the device's measured
matrix-multiply rate (bf16 on CUDA for labkit's path, fp32 otherwise) over the FLOPs of one
training image (forward + backward, counted by FlopCounterMode). Then the linearised (JVP)
training step of resnet18-leaky against its plain step (linearized_step.py's functions), and the
time of kfac_factors on the folded resnet18-leaky over --kfac-images images.

The markdown report (device name, torch version, the command) is printed and written to --out
(default data/benchmarks/throughput-<device>.md). A benchmark, not a test: nothing is asserted.
"""
from __future__ import annotations

import argparse
import copy
import os
import platform
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from linearized_step import INPUT_SHAPE, network, timed, training_step
from torch.utils.data import DataLoader, Dataset
from torch.utils.flop_counter import FlopCounterMode

from labkit.config import RunConfig
from labkit.curvature import kfac_factors
from labkit.data.loaders import batches
from labkit.data.types import Scenario, Task
from labkit.experiment.runner import build_run_model, grow_heads, pick_device, train_task
from labkit.losses import LOSSES
from labkit.methods import METHODS, Method, TaskContext
from labkit.models import IncrementalNet, build_model, fold_batchnorm

try:
    import torchvision
    from PIL import Image
    from torchvision import transforms as T
except ImportError:  # torchvision has only CUDA builds; a CPU torch may have none beside it
    torchvision = T = None

TIMED_BACKBONES = ("resnet32", "resnet18")
CLASSES = 100
# FACIL's CIFAR-100 normalisation
MEAN = (0.5071, 0.4866, 0.4409)
STD = (0.2673, 0.2564, 0.2762)
LR, MOMENTUM = 0.01, 0.9
REPO = Path(__file__).resolve().parents[1]
# sizes per device kind: a GPU run is CIFAR-100's 50,000 training images per epoch; a CPU run is
# tiny, so the whole script takes about a minute on a 2-core machine
DEFAULTS = {"cuda": dict(images=50_000, batch=128, workers=4, kfac_images=5000, repeats=5),
            "cpu": dict(images=48, batch=16, workers=0, kfac_images=4, repeats=3)}
TIMED_METHODS = ("finetune", "lwf")
PATHS = {"labkit finetune": "labkit finetune", "labkit lwf": "labkit lwf (task 1)",
         "reference finetune": "reference finetune", "reference lwf": "reference lwf (task 1)"}
KD_LAMBDA, KD_T = 1.0, 2.0  # LwF's defaults, labkit's and FACIL's


@dataclass
class Throughput:
    """One timed training epoch of one path (a key of PATHS)."""

    backbone: str
    path: str
    images: int
    seconds: float
    floor: float  # estimated images/s at the device's matmul rate (see floor_images_per_second)

    @property
    def rate(self) -> float:
        return self.images / self.seconds


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ------------------------------------------------------------------ data
def synthetic_cifar(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n random images as CIFAR's files hold them (uint8, N x 32 x 32 x 3) and labels in 0..99."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), rng.integers(0, CLASSES, n)


def standardised(images: np.ndarray) -> torch.Tensor:
    """(x / 255 - mean) / std per channel, as (N, 3, 32, 32) float32: how labkit holds a dataset."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    return (x - torch.tensor(MEAN)[:, None, None]) / torch.tensor(STD)[:, None, None]


def synthetic_scenario(x: torch.Tensor, y: torch.Tensor, tasks: int = 2) -> Scenario:
    """A data-IL scenario of `tasks` tasks over the same images (no copies), one shared 100-way
    head, no validation or test images."""
    none_x, none_y = x[:0], y[:0]
    classes = list(range(CLASSES))
    return Scenario("data-il", [Task(t, classes, x, y, none_x, none_y, none_x, none_y) for t in range(tasks)],
                    classes, CLASSES, tuple(x.shape[1:]))


# ------------------------------------------------------------------ (a) labkit's path
def labkit_config(backbone: str, method: str, batch: int, device: torch.device, compiled: bool = False) -> RunConfig:
    """The GPU path's flags as the full presets set them (amp has effect on CUDA only)."""
    return RunConfig(dataset="cifar100", scenario="data-il", tasks=2, method=method, backbone=backbone, epochs=1,
                     batch_size=batch, lr=LR, momentum=MOMENTUM, device=device.type, knn_k=0, augment=True,
                     amp=device.type == "cuda", channels_last=True, compile=compiled).validate()


def labkit_task(config: RunConfig, scenario: Scenario, device: torch.device) -> tuple[Method, TaskContext]:
    """The runner's steps up to training the timed task: finetune at task 0; LwF at task 1, its
    teacher the model after task 0 (left untrained: the cost per batch is the same)."""
    method = METHODS.get(config.method)(**config.method_params)
    model = build_run_model(config, scenario, method, None).to(device)
    for t in range(2 if config.method == "lwf" else 1):
        ctx = TaskContext(model, scenario, t, LOSSES.get(config.loss), device, sync_free=device.type == "cuda")
        method.before_task(ctx)
        grow_heads(model, scenario, t)
        method.heads_grown(ctx)
    return method, ctx


def labkit_images_per_epoch(config: RunConfig, method: Method, ctx: TaskContext) -> int:
    """Images one epoch of train_task draws: its batches over the method's training data."""
    return sum(len(yb) for _, yb in batches(*method.training_data(ctx), config.batch_size))


def labkit_epoch_seconds(config: RunConfig, method: Method, ctx: TaskContext, warmup: int = 1) -> float:
    """Seconds of one epoch of runner.train_task, after `warmup` epochs (cuDNN's choices, the
    allocator, torch.compile's compilation), with cuDNN's autotuner on as labkit.experiment.runner.run sets it."""
    torch.backends.cudnn.benchmark = ctx.device.type == "cuda"
    for _ in range(warmup):
        train_task(config, method, ctx, lambda event: None)
    synchronize(ctx.device)
    start = time.perf_counter()
    train_task(config, method, ctx, lambda event: None)
    synchronize(ctx.device)
    return time.perf_counter() - start


# ------------------------------------------------------------------ (b) the FACIL-style reference
class HandWrittenTransform:
    """torchvision's RandomCrop(32, padding=4), RandomHorizontalFlip, ToTensor, Normalize, written
    out on the CPU tensor of one uint8 HWC image (used when torchvision is not installed)."""

    def __init__(self):
        self.mean, self.std = torch.tensor(MEAN)[:, None, None], torch.tensor(STD)[:, None, None]

    def __call__(self, image: np.ndarray) -> torch.Tensor:
        x = F.pad(torch.from_numpy(image).permute(2, 0, 1), (4, 4, 4, 4))  # black border
        top, left = torch.randint(0, 9, (2,)).tolist()
        x = x[:, top:top + 32, left:left + 32]
        if torch.rand(()) < 0.5:
            x = x.flip(-1)
        return (x.float() / 255 - self.mean) / self.std


class TorchvisionTransform:
    """FACIL's CIFAR training transform, on a PIL image made from the array (as its MemoryDataset)."""

    def __init__(self):
        self.pipeline = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor(),
                                   T.Normalize(MEAN, STD)])

    def __call__(self, image: np.ndarray) -> torch.Tensor:
        return self.pipeline(Image.fromarray(image))


def transform_kind() -> str:
    return ("torchvision transforms on PIL images" if T is not None
            else "hand-written per-sample transforms on CPU tensors (torchvision is not installed)")


class FacilStyleDataset(Dataset):
    """Images in memory as uint8 HWC arrays, transformed one sample at a time."""

    def __init__(self, images: np.ndarray, labels: np.ndarray):
        self.images, self.labels = images, labels
        self.transform = TorchvisionTransform() if T is not None else HandWrittenTransform()

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.transform(self.images[index]), int(self.labels[index])


def reference_loader(images: np.ndarray, labels: np.ndarray, batch: int, workers: int,
                     device: torch.device) -> DataLoader:
    return DataLoader(FacilStyleDataset(images, labels), batch_size=batch, shuffle=True, num_workers=workers,
                      pin_memory=device.type == "cuda")


def reference_model(backbone: str, device: torch.device) -> IncrementalNet:
    torch.manual_seed(0)
    model = build_model(backbone, INPUT_SHAPE)
    model.add_head(CLASSES)
    return model.to(device)


def distillation(student: torch.Tensor, teacher: torch.Tensor, T: float = KD_T) -> torch.Tensor:
    """LwF's knowledge distillation: CE(softmax(z_teacher / T), softmax(z_student / T))."""
    return -(teacher.div(T).softmax(1) * student.div(T).log_softmax(1)).sum(1).mean()


def reference_epoch(model: IncrementalNet, optimizer: torch.optim.Optimizer, loader: DataLoader,
                    device: torch.device, teacher: IncrementalNet | None = None) -> tuple[float, int]:
    """(seconds, images) of one FACIL-style epoch: copy each batch over, fp32 step, loss.item();
    with a teacher (LwF), its forward on every batch and the distillation term."""
    model.train()
    synchronize(device)
    start = time.perf_counter()
    total, seen = 0.0, 0
    for images, targets in loader:
        images, targets = images.to(device), targets.to(device)
        outputs = model(images)
        loss = F.cross_entropy(outputs, targets)
        if teacher is not None:
            with torch.no_grad():
                old = teacher(images)
            loss = loss + KD_LAMBDA * distillation(outputs, old)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item()  # the host waits for this step before the next batch is sent
        seen += len(targets)
    synchronize(device)
    return time.perf_counter() - start, seen


def reference_throughput(backbone: str, method: str, images: np.ndarray, labels: np.ndarray,
                         args: argparse.Namespace, device: torch.device) -> tuple[float, int]:
    """(seconds, images) of the timed epoch, after --warmup epochs; LwF's teacher is a frozen copy
    of the model as it starts (FACIL: deepcopy, eval, freeze); cuDNN at its defaults, as FACIL."""
    torch.backends.cudnn.benchmark = False
    model = reference_model(backbone, device)
    teacher = copy.deepcopy(model).eval().requires_grad_(False) if method == "lwf" else None
    optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    loader = reference_loader(images, labels, args.batch, args.workers, device)
    for _ in range(args.warmup):
        reference_epoch(model, optimizer, loader, device, teacher)
    return reference_epoch(model, optimizer, loader, device, teacher)


# ------------------------------------------------------------------ the floor estimate
def training_flops_per_image(backbone: str, method: str, batch: int = 2) -> float:
    """FLOPs of one training step's forward and backward per image, as FlopCounterMode counts them
    (matrix products and convolutions), with the method's own loss (LwF: with its teacher's
    forward). On the meta device: shapes only, nothing computed."""
    meta = torch.device("meta")
    x = torch.empty(batch, *INPUT_SHAPE, device=meta)
    y = torch.zeros(batch, dtype=torch.long, device=meta)
    config = labkit_config(backbone, method, batch, torch.device("cpu"))
    chosen, ctx = labkit_task(config, synthetic_scenario(x, y), meta)
    with FlopCounterMode(display=False) as counter:
        chosen.training_loss(ctx, x, y).backward()
    return counter.get_total_flops() / batch


def matmul_rate(device: torch.device, dtype: torch.dtype, tries: int = 10) -> float:
    """The device's peak FLOP/s at matrix products: an n x n by n x n product (2 n^3 FLOPs), the
    fastest of `tries` after 2 warm-up products."""
    n = 8192 if device.type == "cuda" else 512
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    for _ in range(2):
        a @ b
    seconds = []
    for _ in range(tries):
        synchronize(device)
        start = time.perf_counter()
        a @ b
        synchronize(device)
        seconds.append(time.perf_counter() - start)
    return 2 * n ** 3 / min(seconds)


def floor_images_per_second(rate: float, flops_per_image: float) -> float:
    """The most images a second the device could train if every FLOP ran at the matmul rate."""
    return rate / flops_per_image


# ------------------------------------------------------------------ linearised step and K-FAC
def linearised_step_seconds(batch: int, device: torch.device, warmup: int, repeats: int) -> dict[bool, float]:
    """Median seconds of one training step of resnet18-leaky, plain (False) and linearised (True)."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, *INPUT_SHAPE, generator=gen).to(device)
    y = torch.randint(0, 10, (batch,), generator=gen).to(device)
    return {linear: timed(training_step(network("resnet18-leaky", linear, device), x, y), device, warmup, repeats)
            for linear in (False, True)}


def kfac_seconds(images: int, device: torch.device, warmup: int, repeats: int) -> float:
    """Median seconds of kfac_factors (Gaussian, Monte-Carlo targets, as DLCFT) on the folded
    resnet18-leaky over `images` images."""
    net = network("resnet18-leaky", False, device)
    net.backbone = fold_batchnorm(net.backbone)
    x = torch.randn(images, *INPUT_SHAPE, generator=torch.Generator().manual_seed(1)).to(device)
    return timed(lambda: kfac_factors(net, x, likelihood="gaussian", fisher_type="mc"), device, warmup, repeats)


# ------------------------------------------------------------------ the report
def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpuinfo = Path("/proc/cpuinfo")
    names = [line.split(":", 1)[1].strip() for line in (cpuinfo.read_text().splitlines() if cpuinfo.exists() else [])
             if line.startswith("model name")]
    return (f"{names[0] if names else platform.machine()}, {os.cpu_count()} CPUs, "
            f"{torch.get_num_threads()} torch threads")


def throughput_table(rows: list[Throughput]) -> list[str]:
    lines = ["| backbone | path | images/epoch | epoch s | images/s | floor images/s (est.) | % of floor |",
             "|---|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r.backbone} | {PATHS[r.path]} | {r.images} | {r.seconds:.3f} | {r.rate:.1f} | {r.floor:.0f} | "
              f"{100 * r.rate / r.floor:.1f} |" for r in rows]
    return lines


def ratio_table(rows: list[Throughput]) -> list[str]:
    lines = ["| backbone | finetune: labkit / reference | lwf: labkit / reference |", "|---|---:|---:|"]
    for backbone in TIMED_BACKBONES:
        rate = {r.path: r.rate for r in rows if r.backbone == backbone}
        lines.append(f"| {backbone} | " + " | ".join(f"{rate[f'labkit {m}'] / rate[f'reference {m}']:.2f}x"
                                                      for m in TIMED_METHODS) + " |")
    return lines


def report(args: argparse.Namespace, device: torch.device, rows: list[Throughput], rates: dict[str, float],
           flops: dict[tuple[str, str], float], step: dict[bool, float], kfac: float | None) -> str:
    amp = "bf16 autocast" if device.type == "cuda" else "fp32 (amp is CUDA only)"
    tv = f"torchvision {torchvision.__version__}" if torchvision is not None else "torchvision not installed"
    lines = [
        f"# Training throughput on {device.type}",
        "",
        f"- device: {device_name(device)}",
        f"- torch {torch.__version__}, {tv}, Python {platform.python_version()}; {time.strftime('%Y-%m-%d %H:%M')}",
        f"- command: `python {shlex.join(sys.argv)}`",
        f"- data: synthetic CIFAR-100-shaped, {args.images} random 3x32x32 images, {CLASSES} classes; "
        f"batch {args.batch}; SGD lr {LR} momentum {MOMENTUM}",
        f"- labkit: runner.train_task, data on the device, augment (crop + flip on the device), {amp}, "
        f"channels_last, compile={args.compile}; lwf at task 1 of a data-IL scenario (teacher forward per batch)",
        f"- reference (FACIL-style): DataLoader with {args.workers} workers, pin_memory={device.type == 'cuda'}, "
        f"{transform_kind()}, fp32 NCHW, loss.item() every batch; lwf with a frozen teacher's forward per batch",
        f"- {args.warmup} warm-up epoch(s), then one timed epoch per row",
        "",
        "## Images per second",
        "",
        *throughput_table(rows),
        "",
        "## labkit / reference",
        "",
        *ratio_table(rows),
        "",
        "## Floor estimate",
        "",
        "floor images/s = matmul rate / training FLOPs per image (forward + backward of one batch, counted by "
        "torch.utils.flop_counter.FlopCounterMode, over the batch size).",
        "",
        *[f"- matmul rate, {name}: {rate / 1e12:.3f} TFLOP/s" for name, rate in rates.items()],
        *[f"- {backbone} {method}: {value / 1e9:.3f} GFLOP per training image"
          for (backbone, method), value in flops.items()],
        "",
        "## Linearised (JVP) step vs plain step, resnet18-leaky",
        "",
        f"batch {args.batch}, 10-way head, MSE, Adam; median of {args.repeats} after {args.warmup} warm-up "
        "(benchmarks/linearized_step.py's network and training_step)",
        "",
        "| step | ms | images/s |",
        "|---|---:|---:|",
        *[f"| {'linearised' if linear else 'plain'} | {1e3 * s:.1f} | {args.batch / s:.1f} |"
          for linear, s in step.items()],
        "",
        f"ratio linearised / plain: {step[True] / step[False]:.2f}x",
    ]
    if kfac is not None:
        lines += ["", "## K-FAC factors, resnet18-leaky (batch norm folded), Gaussian MC", "",
                  f"kfac_factors over {args.kfac_images} images: {kfac:.3f} s "
                  f"({1e3 * kfac / args.kfac_images:.2f} ms per image); median of {args.repeats} after "
                  f"{args.warmup} warm-up"]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ main
def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--images", type=int, help="training images per epoch (CUDA 50000, CPU 48)")
    parser.add_argument("--batch", type=int, help="batch size (CUDA 128, CPU 16)")
    parser.add_argument("--workers", type=int, help="the reference's DataLoader workers (CUDA 4, CPU 0)")
    parser.add_argument("--kfac-images", type=int, help="images of the K-FAC timing, 0 skips it (CUDA 5000, CPU 4)")
    parser.add_argument("--repeats", type=int, help="timed repeats of the step and K-FAC timings (CUDA 5, CPU 3)")
    parser.add_argument("--warmup", type=int, default=1,
                        help="warm-up epochs, and calls before the step and K-FAC timings (default 1)")
    parser.add_argument("--compile", action="store_true", help="torch.compile labkit's backbone (RunConfig.compile)")
    parser.add_argument("--out", type=Path, help="the markdown report (default data/benchmarks/throughput-<device>.md)")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available here")
    args.device = pick_device(args.device)
    for name, value in DEFAULTS[args.device.type].items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.out = args.out or REPO / "data" / "benchmarks" / f"throughput-{args.device.type}.md"
    return args


def main() -> None:
    args = parse_args()
    device = args.device
    torch.manual_seed(0)
    images, labels = synthetic_cifar(args.images)
    x, y = standardised(images).to(device), torch.from_numpy(labels).to(device)
    scenario = synthetic_scenario(x, y)
    labkit_rate = matmul_rate(device, torch.bfloat16 if device.type == "cuda" else torch.float32)
    reference_rate = matmul_rate(device, torch.float32)
    rates = {"labkit path (bf16)" if device.type == "cuda" else "labkit path (fp32)": labkit_rate,
             "reference (fp32)": reference_rate}
    rows, flops = [], {}
    for backbone in TIMED_BACKBONES:
        for method in TIMED_METHODS:
            config = labkit_config(backbone, method, args.batch, device, args.compile)
            chosen, ctx = labkit_task(config, scenario, device)
            flops[backbone, method] = training_flops_per_image(backbone, method)
            rows.append(Throughput(backbone, f"labkit {method}", labkit_images_per_epoch(config, chosen, ctx),
                                   labkit_epoch_seconds(config, chosen, ctx, args.warmup),
                                   floor_images_per_second(labkit_rate, flops[backbone, method])))
        for method in TIMED_METHODS:
            seconds, seen = reference_throughput(backbone, method, images, labels, args, device)
            rows.append(Throughput(backbone, f"reference {method}", seen, seconds,
                                   floor_images_per_second(reference_rate, flops[backbone, method])))
    step = linearised_step_seconds(args.batch, device, args.warmup, args.repeats)
    kfac = kfac_seconds(args.kfac_images, device, args.warmup, args.repeats) if args.kfac_images else None
    text = report(args, device, rows, rates, flops, step, kfac)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
