"""DPS, Diffusion Posterior Sampling (Chung et al., ICLR 2023, Alg. 1) for inpainting.

    y = (1 - M) * I,   A(x) = (1 - M) * x                       # the known pixels
    for t in timesteps:
        x0_hat  = D(x_t, t)                                      # with autograd on x_t
        x'_{t-1} = DDPM step from x_t towards x0_hat              # Alg. 1 lines 4-6
        x_{t-1} = x'_{t-1} - zeta * grad_{x_t} ||y - A(decode(x0_hat))||_2      # Alg. 1 line 7

Alg. 1 steps along the gradient of the squared residual with zeta_i = zeta' / ||y - A(x0_hat)||
(§4); that is a step along the gradient of the residual norm itself, which is what the authors'
code takes and what ``zeta`` scales here (zeta = 2 zeta'). For latent models the residual is in
pixels, through the decoder. The norm is per sample; DPS applies no paste-back of its own.

The default ``zeta`` = 5 comes from a sweep on our 32 px face model (100 steps, 8 faces, thick
masks; docs/gradpaint.md): LPIPS falls from zeta = 1 to 5 and is flat after, while the error of the
raw output on the known pixels is lowest at 2 and grows quickly past 5. It does not carry over to
latent models, whose residual is over the decoded pixels: on the 256 px latent face model, zeta = 1
(swept over 0.3, 1, 3; benchmarks/configs/dps-latent-zeta.yaml).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..core.options import option
from ..models.hooks import frozen
from ..sampling import StepInfo, denoise_step, progress, timestep_pairs, x0_with_gradient
from .registry import GradientOptions, register


@dataclass
class DPSOptions(GradientOptions):
    zeta: float = option(5.0, ge=0, help="step size on the gradient of the residual norm")


def residual_norm(model, task):
    """x0_hat -> ||y - A(decode(x0_hat))||_2 per sample, y = A(I)."""
    return lambda x0: task.residual(model.decode(x0)).flatten(1).norm(dim=1)


@register("dps", DPSOptions, "diffusion posterior sampling: a step down the gradient of the known-pixel residual "
          "through the x0 estimate (Chung et al. 2023, Alg. 1)", paper="DPS (Chung et al. 2023)")
@torch.no_grad()
def dps(model, task, opts: DPSOptions, callback=None):
    x = task.initial_noise()
    with frozen(model, opts.gradient_checkpointing):
        for i, (t, t_prev) in enumerate(progress(timestep_pairs(model.schedule, opts.steps), task, "dps")):
            x0, loss, grad = x0_with_gradient(model, task, x, t, residual_norm(model, task), opts.autocast)  # l. 4-5
            if callback:
                callback(StepInfo(i, t, x, x0, {"residual": loss}))
            x = denoise_step(model.schedule, task, x, x0, t, t_prev, opts.eta) - opts.zeta * grad  # l. 6-7
    return model.decode(x)
