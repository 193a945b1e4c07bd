"""``inpaintkit demo``: the library end to end, offline, in about a minute on two CPU cores.

Sample a few images from a built-in model (faces from the default one), hide part of each (a centre
box, thick brush strokes, the right half), inpaint them with every baseline that works on the model's
space, and lay everything out as one labelled grid: original | masked input | one column per method.
A text-conditioned model samples and inpaints each row with a prompt (its class captions in turn, or
the one given) under classifier-free guidance.
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

# The methods shown, in column order, where registered and made for the model's space.
DEMO_METHODS = ("combine-noisy", "combine-image", "repaint", "blended-latent", "opencv-telea")
DEMO_MASKS = ("box-center", "thick", "half-right")  # mask sets of :mod:`inpaintkit.masks`, one per row


def masked_view(image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The input as a method sees it: the hole in mid grey."""
    return image * (1 - mask)


def demo_methods(model: DiffusionModel) -> list[str]:
    return [m for m in DEMO_METHODS if m in METHODS and (not METHODS[m].needs_model or model.space in METHODS[m].spaces)]


def demo_prompts(model: DiffusionModel, rows: int, prompt: str | None) -> list[str] | None:
    """One prompt per row for a text-conditioned model: ``prompt``, else its training captions in turn."""
    if not model.is_conditional:
        return None
    captions = [prompt] if prompt else model.info.get("prompts") or ["a photo"]
    return [captions[i % len(captions)] for i in range(rows)]


def make_demo(model: str | DiffusionModel = DEFAULT_MODEL, rows: int = 3, steps: int = 50, seed: int = 0,
              cell: int = 128, device: str = "auto", progress: bool = True, prompt: str | None = None,
              guidance_scale: float = 3.0) -> Image.Image:
    """The demo grid: ``rows`` sampled images, each with its own mask, inpainted by every demo method."""
    inpainter = Inpainter(model, device=device)
    net = inpainter.model
    methods = demo_methods(net)
    prompts = demo_prompts(net, rows, prompt)
    cond = net.condition(prompts, guidance_scale) if prompts else None
    images = sample(net, rows, steps, torch.Generator().manual_seed(seed), cond=cond, show_progress=progress).cpu()
    grid_rows = []
    bar = tqdm(total=rows * len(methods), desc="inpainting", disable=not progress)
    for i in range(rows):
        image = images[i:i + 1]
        mask = mask_from_name(DEMO_MASKS[i % len(DEMO_MASKS)], net.resolution, seed + i)
        row = [image, masked_view(image, mask)]
        for name in methods:
            fields = make_options(name).__dataclass_fields__
            opts = {"steps": steps} if "steps" in fields else {}
            if prompts and "guidance_scale" in fields:
                opts.update(prompt=prompts[i], guidance_scale=guidance_scale)
            row.append(inpainter(image, mask, method=name, seed=seed + i, progress=False, **opts)[0:1])
            bar.update(1)
        grid_rows.append(row)
    bar.close()
    labels = [DEMO_MASKS[i % len(DEMO_MASKS)] + (f": {prompts[i]}" if prompts else "") for i in range(rows)]
    return image_grid(grid_rows, col_labels=["original", "masked input", *methods], row_labels=labels, cell=cell)
