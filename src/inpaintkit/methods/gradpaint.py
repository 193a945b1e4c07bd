"""GradPaint (Grechka, Couairon & Cord, §3.2): combine-image plus one gradient step per reverse step.

    for t in timesteps:
        x0_hat  = D(x_t, t)                                      # with autograd on x_t
        L       = L_mse(I, x0_hat, M) + lambda_al * L_al(M * x0_hat + (1 - M) * I, M)     # Eq. 5-8
        x0'     = M * x0_hat + (1 - M) * I                       # Eq. 3 (combine-image)
        x_{t-1} = DDPM step from x_t towards x0'
        x_{t-1} = x_{t-1} - lr * normalise(grad_{x_t} L)         # Eq. 9

Defaults are the paper's (§4.1): 100 DDPM steps, lambda_al = 400 during the first 45 % of them,
lr = 0.005. GradPaint-Fast (App. B) takes gradient steps only over the first ``grad_stop`` of the
trajectory (50 %) and runs plain combine-image after. GradPaint-latent (§4.1) works on a latent
model with the masked MSE to the encoded input only: the alignment loss is meaningless on latents.

Eq. 9 says "normalized gradient", ``g / ||g||_2``. Over a whole 256x256x3 tensor that moves x_t by
0.005 in L2 norm, about 1e-5 of its norm (~443): no effect at all. We read the normalisation per
element instead (``normalization="rms"``, the default): ``g / ||g||_2 * sqrt(numel)``, a step of
unit root-mean-square per element, so each element of x_t moves by ~lr. ``"sign"`` (``g / |g|``
element-wise, the other per-element reading, same step size) and the literal ``"global"`` reading
are options; ``benchmarks/gradpaint_ablation.py`` compares the three (docs/gradpaint.md).
The norm is taken per sample, so a batch behaves like its images run one by one.

The gradient machinery (:func:`inpaintkit.sampling.x0_with_gradient`) is shared with DPS.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..core.options import option
from ..models.hooks import frozen
from ..sampling import (NORMALIZATIONS, StepInfo, denoise_step, normalize_gradient, progress, timestep_pairs,
                        x0_with_gradient)
from .registry import GradientOptions, register

# Image differences below one 8-bit grey level (2/255 in [-1, 1]) count as flat in the alignment
# loss's normalised gradients (Eq. 7): a smooth stand-in for its "if ||grad I|| > 0" case.
FLAT_GRADIENT = 2 / 255


@dataclass
class GradPaintLatentOptions(GradientOptions):
    lr: float = option(0.005, ge=0, help="alpha of Eq. 9")
    grad_stop: float = option(1.0, ge=0, le=1, help="fraction of the steps with a gradient step "
                                                    "(GradPaint-Fast: 0.5)")
    normalization: str = option("rms", choices=NORMALIZATIONS, help="Eq. 9's normalised gradient (module "
                                                                    "docstring)")


@dataclass
class GradPaintOptions(GradPaintLatentOptions):
    lambda_al: float = option(400.0, ge=0, help="weight of the alignment loss (Eq. 8); 0 = GradPaint without it")
    align_stop: float = option(0.45, ge=0, le=1, help="fraction of the steps with the alignment loss on "
                                                      "(the paper: 45 of 100)")


@dataclass
class GradPaintFastOptions(GradPaintOptions):
    grad_stop: float = option(0.5, ge=0, le=1, help="fraction of the steps with a gradient step (App. B: 0.5)")


# -- GradPaint's losses ------------------------------------------------------------------------
def masked_mse(x0, task) -> torch.Tensor:
    """Eq. 5 per sample: mean squared error to the known input outside the mask, in the model's space."""
    return task.residual_z(x0).square().flatten(1).mean(1)


def normalized_image_gradients(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 7: forward differences (zero past the last row / column), scaled to unit length per
    pixel and channel; differences far below :data:`FLAT_GRADIENT` give ~0."""
    dx = F.pad(image[..., :, 1:] - image[..., :, :-1], (0, 1, 0, 0))
    dy = F.pad(image[..., 1:, :] - image[..., :-1, :], (0, 0, 0, 1))
    length = (dx.square() + dy.square() + FLAT_GRADIENT**2).sqrt()
    return dx / length, dy / length


def alignment_loss(image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Eq. 6 per sample, averaged over colour channels: the squared cosine between the image's
    gradient and the mask's gradient, i.e. how much the image changes across the mask boundary."""
    ix, iy = normalized_image_gradients(image)
    mx, my = normalized_image_gradients(1 - mask)
    return (ix * mx + iy * my).square().flatten(1).mean(1)


def gradpaint_loss(task, lambda_al: float):
    """Eq. 8 as a function of x0_hat; the alignment term on the pixel collage (pixel models only)."""
    if lambda_al == 0:
        return lambda x0: masked_mse(x0, task)
    return lambda x0: masked_mse(x0, task) + lambda_al * alignment_loss(task.collage(x0), task.mask)


def gradpaint_sampling(model, task, opts: GradPaintLatentOptions, callback, lambda_al: float, align_stop: float,
                       desc: str):
    pairs = timestep_pairs(model.schedule, opts.steps)
    grad_steps, align_steps = round(opts.grad_stop * len(pairs)), round(align_stop * len(pairs))
    x = task.initial_noise()
    with frozen(model, opts.gradient_checkpointing):
        for i, (t, t_prev) in enumerate(progress(pairs, task, desc)):
            loss = None
            if i < grad_steps:
                loss_fn = gradpaint_loss(task, lambda_al if i < align_steps else 0.0)  # Eq. 8
                x0, loss, grad = x0_with_gradient(model, task, x, t, loss_fn, opts.autocast)
            else:
                x0 = model.predict(x, t, task.cond).x0
            x0 = task.collage(x0)  # Eq. 3
            if callback:
                callback(StepInfo(i, t, x, x0, {} if loss is None else {"loss": loss}))
            x = denoise_step(model.schedule, task, x, x0, t, t_prev, opts.eta)
            if i < grad_steps:
                x = x - opts.lr * normalize_gradient(grad, opts.normalization)  # Eq. 9
    return model.decode(x)


@register("gradpaint", GradPaintOptions, "combine-image + a gradient step on x_t towards the known pixels and "
          "a seamless boundary (GradPaint Eq. 5-9)", spaces=("pixel",), paper="GradPaint §3.2")
@register("gradpaint-fast", GradPaintFastOptions, "GradPaint with gradient steps over the first half of the "
          "trajectory only (GradPaint App. B)", spaces=("pixel",), paper="GradPaint App. B")
@torch.no_grad()
def gradpaint(model, task, opts: GradPaintOptions, callback=None):
    return gradpaint_sampling(model, task, opts, callback, opts.lambda_al, opts.align_stop, "gradpaint")


@register("gradpaint-latent", GradPaintLatentOptions, "GradPaint on a latent model: masked MSE to the encoded "
          "input only (GradPaint §4.1)", spaces=("latent",), paper="GradPaint §4.1")
@torch.no_grad()
def gradpaint_latent(model, task, opts: GradPaintLatentOptions, callback=None):
    return gradpaint_sampling(model, task, opts, callback, 0.0, 0.0, "gradpaint-latent")
