"""Data augmentation for whole batches on their own device (no worker processes, no PIL)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def random_crop_flip(x: torch.Tensor, padding: int = 4) -> torch.Tensor:
    """Per image: pad by ``padding`` on every side, crop back to H x W at an offset drawn
    uniformly from {0..2 padding}^2, and mirror left-right with probability 1/2 (torchvision's
    RandomCrop(H, padding) + RandomHorizontalFlip, the CIFAR protocol), for a (N, C, H, W) batch in
    one gather. The padding is 0, which after labkit's per-channel standardisation is the mean
    colour (torchvision pads the raw image with black). Random numbers come from torch's
    generator of x's device, so a seeded run draws the same crops every time."""
    n, c, h, w = x.shape
    device = x.device
    padded = F.pad(x, (padding, padding, padding, padding))
    top = torch.randint(0, 2 * padding + 1, (n, 1), device=device)
    left = torch.randint(0, 2 * padding + 1, (n, 1), device=device)
    rows = (top + torch.arange(h, device=device))[:, None, :, None]
    cols = (left + torch.arange(w, device=device))[:, None, None, :]
    images = torch.arange(n, device=device)[:, None, None, None]
    channels = torch.arange(c, device=device)[None, :, None, None]
    cropped = padded[images, channels, rows, cols]
    flip = torch.rand(n, device=device) < 0.5
    return torch.where(flip[:, None, None, None], cropped.flip(-1), cropped)
