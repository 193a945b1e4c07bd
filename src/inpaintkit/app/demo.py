"""``inpaintkit demo``: the library end to end, offline, in under two minutes on two CPU cores (faces-64).

Take a few faces (the model's own samples shipped in its folder, ``examples/*.png``, or, for a model
without them, samples drawn now), hide part of each (a centre box, thick brush strokes, the right half),
inpaint them with every baseline that works on the model's space, and lay everything out as one
labelled grid: original | masked input | one column per method. A text-conditioned model samples and
inpaints each row with a prompt (its class captions in turn, or the one given) under classifier-free
guidance. Needs nothing but the installed package.
"""
from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image
from tqdm.auto import tqdm

from ..api import DEFAULT_MODEL, Inpainter
from ..core.images import load_image
from ..data.masks import mask_from_name
from ..evaluation.grid import image_grid
from ..methods import METHODS, DiffusionOptions, make_options
from ..models import DiffusionModel, builtin_models
from ..sampling import sample

DEMO_MODEL = DEFAULT_MODEL

# The methods shown, in column order, where registered and made for the model's space.
DEMO_METHODS = ("combine-noisy", "combine-image", "repaint", "gradpaint-fast", "blended-latent", "opencv-telea")
# Beyond the shared ``steps``: RePaint resamples each segment 5 times, not 10 (the bench's tables' setting, half
# the calls), so the demo stays within a few minutes on two CPU cores.
DEMO_OPTIONS = {"repaint": {"jump_n_sample": 5}}
DEMO_MASKS = ("box-center", "thick", "half-right")  # mask sets of :mod:`inpaintkit.masks`, one per row


def shipped_examples(model: DiffusionModel) -> list[Path]:
    """The model's own samples shipped in its built-in folder (``examples/*.png``), if any."""
    folder = builtin_models().get(model.name)
    return sorted((folder / "examples").glob("*.png")) if folder is not None else []


def demo_images(model: DiffusionModel, rows: int, steps: int, seed: int, cond, progress: bool) -> torch.Tensor:
    """``rows`` images at the model's resolution: shipped examples first, samples drawn for the rest."""
    files = shipped_examples(model)[:rows] if cond is None else []
    images = [load_image(f) for f in files]
    missing = rows - len(images)
    if missing:
        generators = [torch.Generator().manual_seed(seed + i) for i in range(missing)]
        images.append(sample(model, missing, steps, generators, cond=cond, show_progress=progress).cpu())
    return torch.cat(images)


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
    inpainter = Inpainter(model, device=device, threads=None)
    net = inpainter.model
    methods = demo_methods(net)
    prompts = demo_prompts(net, rows, prompt)
    cond = net.condition(prompts, guidance_scale) if prompts else None
    images = demo_images(net, rows, steps, seed, cond, progress)
    grid_rows = []
    bar = tqdm(total=rows * len(methods), desc="inpainting", disable=not progress)
    for i in range(rows):
        image = images[i:i + 1]
        mask = mask_from_name(DEMO_MASKS[i % len(DEMO_MASKS)], net.resolution, seed + i)
        row = [image, image * (1 - mask)]  # the observation: the hole in mid grey
        for name in methods:
            diffusion = isinstance(make_options(name), DiffusionOptions)
            opts = {"steps": steps, **DEMO_OPTIONS.get(name, {})} if diffusion else {}
            if prompts and diffusion:
                opts.update(prompt=prompts[i], guidance_scale=guidance_scale)
            row.append(inpainter(image, mask, method=name, seed=seed + i, progress=False, **opts)[0:1])
            bar.update(1)
        grid_rows.append(row)
    bar.close()
    labels = [DEMO_MASKS[i % len(DEMO_MASKS)] + (f": {prompts[i]}" if prompts else "") for i in range(rows)]
    return image_grid(grid_rows, col_labels=["original", "masked input", *methods], row_labels=labels, cell=cell)
