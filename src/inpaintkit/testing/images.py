"""Test images and masks, made from a seed: smooth colour fields (natural enough for inpainting to have
something to continue) and square holes, as tensors, uint8 arrays or PIL images."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..core.images import to_uint8


def smooth_image(height: int, width: int | None = None, seed: int = 0, batch: int = 1, noise: float = 0.0,
                 cells: int = 4) -> torch.Tensor:
    """(batch, 3, H, W) in [-1, 1]: a random ``cells`` x ``cells`` colour field upsampled bicubically,
    plus Gaussian ``noise``."""
    width = width or height
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(batch, 3, cells, cells, generator=g) * 2 - 1
    x = F.interpolate(low, size=(height, width), mode="bicubic", align_corners=False)
    if noise:
        x = x + noise * torch.randn(x.shape, generator=g)
    return x.clamp(-1, 1)


def smooth_array(height: int, width: int | None = None, seed: int = 0) -> np.ndarray:
    """:func:`smooth_image` as an HxWx3 uint8 array, as a file would hold it."""
    return to_uint8(smooth_image(height, width, seed, noise=0.04))


def smooth_pil(height: int, width: int | None = None, seed: int = 0) -> Image.Image:
    return Image.fromarray(smooth_array(height, width, seed))


def square_hole(height: int, width: int | None = None, batch: int = 1, top: float = 0.25, left: float = 0.25,
                size: float = 0.375) -> torch.Tensor:
    """(batch, 1, H, W) with 1 = fill on a square of ``size`` x the shorter side at (``top``, ``left``)
    (fractions of the height and width)."""
    width = width or height
    side = max(1, round(size * min(height, width)))
    y0, x0 = round(top * height), round(left * width)
    mask = torch.zeros(batch, 1, height, width)
    mask[..., y0:y0 + side, x0:x0 + side] = 1
    return mask


def hole_array(height: int, width: int | None = None, value: int = 255, **where) -> np.ndarray:
    """:func:`square_hole` as an HxW uint8 array (``value`` in the hole, 0 elsewhere)."""
    return (square_hole(height, width, **where)[0, 0].numpy() * value).astype(np.uint8)


def noise_pil(height: int, width: int, seed: int = 0) -> Image.Image:
    """Uniform random RGB noise (an image no method can continue: for I/O tests)."""
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8))


def labelled_noise_folders(root: Path, size: int, classes: tuple[str, ...] = ("cat", "dog"),
                           per_split: dict[str, int] | None = None) -> Path:
    """A tiny labelled set, ``root/<split>/<class>/<k>.png`` of :func:`noise_pil` images (``per_split``: images
    per class of each split, train 3 and test 3 by default), as the CIFAR-10 trainers and cards read it."""
    for split, per_class in (per_split or {"train": 3, "test": 3}).items():
        for c, name in enumerate(classes):
            (root / split / name).mkdir(parents=True, exist_ok=True)
            for k in range(per_class):
                noise_pil(size, size, seed=10 * c + k).save(root / split / name / f"{k}.png")
    return root
