"""``inpaintkit demo``: the library end to end, offline, in about a minute on two CPU cores.

Sample a few faces from the built-in model, hide part of each (a centre box, thick brush strokes,
the right half), inpaint them with several methods, and lay everything out as one labelled grid:
original | masked input | one column per method.
"""
from __future__ import annotations

import torch
from PIL import Image
from tqdm.auto import tqdm

from .api import DEFAULT_MODEL, Inpainter
from .grid import image_grid
from .masks import mask_from_name
from .methods import METHODS, make_options
from .models import DiffusionModel
from .sampling import sample

# The methods shown, in column order, where registered.
DEMO_METHODS = ("combine-noisy", "combine-image", "repaint", "opencv-telea")
DEMO_MASKS = ("box-center", "thick", "half-right")  # mask sets of :mod:`inpaintkit.masks`, one per row


def masked_view(image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The input as a method sees it: the hole in mid grey."""
    return image * (1 - mask)


def make_demo(model: str | DiffusionModel = DEFAULT_MODEL, rows: int = 3, steps: int = 50, seed: int = 0,
              cell: int = 128, device: str = "auto", progress: bool = True) -> Image.Image:
    """The demo grid: ``rows`` sampled faces, each with its own mask, inpainted by every demo method."""
    inpainter = Inpainter(model, device=device)
    net = inpainter.model
    methods = [m for m in DEMO_METHODS if m in METHODS]
    faces = sample(net, rows, steps, torch.Generator().manual_seed(seed), show_progress=progress).cpu()
    grid_rows = []
    bar = tqdm(total=rows * len(methods), desc="inpainting", disable=not progress)
    for i in range(rows):
        face = faces[i:i + 1]
        mask = mask_from_name(DEMO_MASKS[i % len(DEMO_MASKS)], net.resolution, seed + i)
        row = [face, masked_view(face, mask)]
        for name in methods:
            opts = {"steps": steps} if "steps" in make_options(name).__dataclass_fields__ else {}
            row.append(inpainter(face, mask, method=name, seed=seed + i, progress=False, **opts)[0:1])
            bar.update(1)
        grid_rows.append(row)
    bar.close()
    return image_grid(grid_rows, col_labels=["original", "masked input", *methods],
                      row_labels=[DEMO_MASKS[i % len(DEMO_MASKS)] for i in range(rows)], cell=cell)
