"""Inference speed: the best time of a function over repeats, and a model's seconds per network call and per
generated image (decode included)."""
from __future__ import annotations

import time

import torch

from ..models.denoiser import DiffusionModel
from ..sampling import sample


def best_seconds(fn, repeats: int = 3) -> float:
    """The fastest of ``repeats`` timed calls of ``fn`` after one warm-up call (a shared machine's noise only
    ever adds time)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


@torch.no_grad()
def model_speed(model: DiffusionModel, prompt: str | None = None, guidance_scale: float = 1.0, steps: int = 50,
                calls: int = 20, images: int = 2, batch: int = 1) -> dict:
    """``ms_per_call``: one denoiser evaluation of a batch of ``batch`` (under CFG with guidance > 1 the
    conditional and unconditional branches together, as sampling runs them), after 3 warm-up calls;
    ``s_per_image``: a ``steps``-step DDPM sample of one image, decoding to pixels included (mean of
    ``images`` after one warm-up; None for ``images=0``)."""
    cond = model.condition([prompt] * batch if prompt else None, guidance_scale)
    x = torch.randn(model.latent_shape(batch), device=model.device)
    for _ in range(3):
        model.predict(x, 500, cond)
    start = time.perf_counter()
    for _ in range(calls):
        model.predict(x, 500, cond)
    result = {"ms_per_call": (time.perf_counter() - start) / calls * 1000, "batch": batch,
              "guidance_scale": guidance_scale, "steps": steps, "s_per_image": None}
    if images:
        one = model.condition([prompt] if prompt else None, guidance_scale)
        g = torch.Generator().manual_seed(0)
        sample(model, 1, steps, g, cond=one, show_progress=False)  # warm-up
        start = time.perf_counter()
        for _ in range(images):
            sample(model, 1, steps, g, cond=one, show_progress=False)
        result["s_per_image"] = (time.perf_counter() - start) / images
    return result
