"""combine-image (GradPaint paper §3.1, Eq. 3): replace the known region of each x0 estimate.

    for t in timesteps:
        x0_hat = D(x_t, t)
        x0'    = M * x0_hat + (1 - M) * I        # Eq. 3
        x_{t-1} = DDPM step from x_t towards x0'  # Eq. 2 with x0' in place of x0_hat
"""
from __future__ import annotations

import torch

from ..sampling import StepInfo, denoise_step, progress, timestep_pairs
from .registry import DiffusionOptions, register


@register("combine-image", DiffusionOptions, "replace the known region of every x0 estimate (GradPaint Eq. 3)",
          paper="GradPaint §3.1")
@torch.no_grad()
def combine_image(model, task, opts: DiffusionOptions, callback=None):
    x = task.initial_noise()
    for i, (t, t_prev) in enumerate(progress(timestep_pairs(model.schedule, opts.steps), task, "combine-image")):
        pred = model.predict(x, t, task.cond)
        x0 = task.collage(pred.x0)  # Eq. 3
        if callback:
            callback(StepInfo(i, t, x, x0))
        x = denoise_step(model.schedule, task, x, x0, t, t_prev, opts.eta, pred.variance_v)  # Eq. 2
    return model.decode(x)
