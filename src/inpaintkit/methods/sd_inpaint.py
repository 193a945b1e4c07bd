"""Stable Diffusion's inpainting U-Nets (Rombach et al. 2022, the "inpainting" fine-tunes of SD 1.x/2.x and SDXL):
a U-Net trained with the mask and the masked image's latents as 5 more input channels, sampled as usual.

    m_z = the mask resized to the latent grid (nearest), y_z = E(I with the hole grey)
    for t in timesteps:
        eps = U-Net([z_t, m_z, y_z], t, prompt) (with classifier-free guidance)
        z_{t-1} = the reverse step
    x = D(z_0), its known pixels pasted back by the API

The baseline the seed papers compare against (LatentPaint's "SD 1.5", PILOT's "SD-Inpaint").
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..sampling import StepInfo, denoise_step, progress, timestep_pairs
from .registry import DiffusionOptions, register


@register("sd-inpaint", DiffusionOptions, "Stable Diffusion's inpainting U-Nets: the mask and the masked image's "
          "latents as extra input channels", spaces=("latent",), paper="Rombach et al. 2022 (SD inpainting)",
          inpainting_unet=True)
@torch.no_grad()
def sd_inpaint(model, task, opts: DiffusionOptions, callback=None):
    mask = F.interpolate(task.mask, size=task.known.shape[-2:], mode="nearest")
    extra = torch.cat([mask, task.known], dim=1)
    x = task.initial_noise()
    for i, (t, t_prev) in enumerate(progress(timestep_pairs(model.schedule, opts.steps), task, "sd-inpaint")):
        x0 = model.predict(x, t, task.cond, concat=extra).x0
        if callback:
            callback(StepInfo(i, t, x, x0))
        x = denoise_step(model.schedule, task, x, x0, t, t_prev, opts.eta)
    return model.decode(x)
