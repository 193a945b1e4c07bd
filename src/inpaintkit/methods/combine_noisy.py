"""combine-noisy (GradPaint paper §3.1, Eq. 4): replace the known region of x_{t-1} with the noised input.

    for t in timesteps:
        x_{t-1}  = DDPM step from x_t
        x'_{t-1} = M * x_{t-1} + (1 - M) * (sqrt(a_{t-1}) I + sqrt(1 - a_{t-1}) eps),  eps fresh   # Eq. 4

This is also the blending rule of Blended (Latent) Diffusion and of RePaint's known branch
(:func:`inpaintkit.sampling.blend_known`).
"""
from __future__ import annotations

import torch

from ..sampling import StepInfo, blend_known, denoise_step, progress, timestep_pairs
from .registry import DiffusionOptions, register


@register("combine-noisy", DiffusionOptions, "replace the known region of x_{t-1} with the noised input (GradPaint Eq. 4)",
          paper="GradPaint §3.1")
@torch.no_grad()
def combine_noisy(model, task, opts: DiffusionOptions, callback=None):
    x = task.initial_noise()
    for i, (t, t_prev) in enumerate(progress(timestep_pairs(model.schedule, opts.steps), task, "combine-noisy")):
        pred = model.predict(x, t, task.cond)
        if callback:
            callback(StepInfo(i, t, x, pred.x0))
        x_prev = denoise_step(model.schedule, task, x, pred.x0, t, t_prev, opts.eta, pred.variance_v)
        x = blend_known(model.schedule, task, x_prev, t_prev)  # Eq. 4
    return model.decode(x)
