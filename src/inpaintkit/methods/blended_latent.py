"""Blended Latent Diffusion (Avrahami et al. 2023, Alg. 1), for latent models only.

    z_init = E(x),  m_latent = downsample(m),  z_T ~ N(0, I)
    for t in timesteps:
        z_fg = denoise(z_t, t)                 # a reverse step
        z_bg = noise(z_init, t - 1)            # the input latent noised to the new level
        z_{t-1} = m_t * z_fg + (1 - m_t) * z_bg
    x_hat = D(z_0), pasted into x outside the pixel mask (done by the API for every method)

How it differs from combine-noisy: with ``mask_dilation = 0`` (the default) it does not. It is
combine-noisy (GradPaint Eq. 4) run on a latent model, step for step and draw for draw. BLD adds
two things: it refuses pixel models, and it can use progressive mask shrinking (§4.3, for thin
masks that vanish when downsampled). With shrinking, m_t starts as the latent mask dilated by
``mask_dilation`` latent cells (a square dilation) and its radius shrinks linearly to 0 at step
``shrink_until * steps``, after which m_t is the real latent mask. BLD's decoder fine-tuning for
background reconstruction (§4.2) is not implemented.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..core.geometry import dilate
from ..core.options import option
from ..sampling import StepInfo, blend_known, denoise_step, progress, timestep_pairs
from .registry import DiffusionOptions, register


@dataclass
class BlendedLatentOptions(DiffusionOptions):
    mask_dilation: int = option(0, ge=0, help="progressive mask shrinking: latent cells the mask is dilated by "
                                              "at the first step")
    shrink_until: float = option(0.5, gt=0, le=1, help="fraction of the steps over which the dilation shrinks "
                                                       "back to the real mask")


def shrinking_mask(mask_z: torch.Tensor, dilation: int, step: int, steps: int, shrink_until: float) -> torch.Tensor:
    """The latent mask of step ``step``: dilated by ``dilation`` cells at step 0, by 0 from step
    ``shrink_until * steps`` on (BLD §4.3)."""
    return dilate(mask_z, round(dilation * max(0.0, 1 - step / (shrink_until * steps))))


@register("blended-latent", BlendedLatentOptions,
          "blend the noised input latent outside the mask after every step, with progressive mask shrinking "
          "(Blended Latent Diffusion)", spaces=("latent",), paper="Avrahami et al. 2023, Alg. 1")
@torch.no_grad()
def blended_latent(model, task, opts: BlendedLatentOptions, callback=None):
    x = task.initial_noise()
    for i, (t, t_prev) in enumerate(progress(timestep_pairs(model.schedule, opts.steps), task, "blended-latent")):
        x0 = model.predict(x, t, task.cond).x0
        if callback:
            callback(StepInfo(i, t, x, x0))
        z_fg = denoise_step(model.schedule, task, x, x0, t, t_prev, opts.eta)
        mask = shrinking_mask(task.mask_z, opts.mask_dilation, i, opts.steps, opts.shrink_until)
        x = blend_known(model.schedule, task, z_fg, t_prev, mask_z=mask)  # z_bg outside the mask
    return model.decode(x)
