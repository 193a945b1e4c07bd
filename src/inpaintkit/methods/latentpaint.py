"""LatentPaint (Corneanu, Gadde & Martinez, WACV 2024, Alg. 1): combine-noisy with the known image's U-Net
features blended into the sample's inside the network (latent-space conditioning, Eq. 11) and trained Explicit
Propagation modules at the middle block (Eq. 12).

    m = 1 - M (known), x_T ~ N(0, I)
    for t in timesteps:
        x_cond = m x_t + (1 - m) sqrt(1 - a_t) eps_c           # Alg. 1 step 2: the condition at level t
        out    = U-Net([x_t, x_cond], t) with h* = h_i (1 - D(m)) + h_c D(m) after every block   # step 3, Eq. 11
                 and h* <- EP(h*) at the middle block's input and output                         # Eq. 12
        x_{t-1} = DDPM step from x_t towards x0(out)            # step 1
        x_{t-1} = m x_{t-1} + (1 - m) (sqrt(a_{t-1}) I + sqrt(1 - a_{t-1}) eps)   # steps 2 + 4 (combine-noisy)

Readings (the paper has no public code; docs/latentpaint.md argues each):

- the condition pass runs at every step at the sample's noise level, batched with the sample (one 2B call);
  ``cond_pass="once"`` is the literal q(x_T | x0^cond): the features of one pass at t = T, reused;
- x_cond reuses the sample's known part (already the observation noised to level t) and noises the hole's
  zeros with eps_c from its own generator stream, so toggling LSC does not shift the sample's noise;
- EP is a residual with a zero-initialised last layer (an untrained EP is LSC alone), pooling from h*;
- Algorithm 1 lists the conditioning after the p-sample step; it must act inside it (the merged features
  must reach mu_theta), so the hooks run during the step's network call.

``latentpaint`` loads the EP weights shipped in the model's folder (``latentpaint/ep2.safetensors`` for ``ep=2``,
``ep1.safetensors`` for ``ep=1``: each count trained on its own) or ``ep_weights``; ``latentpaint-lsc`` is the
training-free variant. ``lsc=False, ep=0`` is combine-noisy.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ..core.errors import InpaintInputError
from ..core.options import option
from ..nets.ep_module import ep_file_name, load_ep_modules
from ..sampling import StepInfo, blend_known, denoise_step, progress, timestep_pairs
from ..sampling.latent_conditioning import EP_LOCATIONS, condition_at, lsc_output
from .registry import DiffusionOptions, register

EP_FOLDER = "latentpaint"  # inside a model folder: ep1/ep2.safetensors + their json
CONDITION_STREAM = 0x5EED  # eps_c's generator: the sample's seed xor this, a stream of its own


@dataclass
class LatentPaintLSCOptions(DiffusionOptions):
    steps: int = option(250, ge=1, help="DDPM steps (the paper's 250)")
    lsc: bool = option(True, help="latent-space conditioning (Eq. 11)")
    cond_pass: str = option("per_step", choices=("per_step", "once"), help="the condition pass at every step, or "
                                                                          "once at t = T (the literal reading)")


@dataclass
class LatentPaintOptions(LatentPaintLSCOptions):
    ep: int = option(2, ge=0, le=2, help="Explicit Propagation modules: 0, 1 (the middle block's input), 2 (and output)")
    ep_weights: str | None = option(None, help="EP weights (a safetensors file); default: the model folder's",
                                    path=True)


def ep_modules(model, count: int, weights: str | None) -> dict | None:
    """The EP modules for ``count`` locations, with their trained weights (the model folder's, or ``weights``)."""
    if count == 0:
        return None
    file = Path(weights) if weights else (model.folder / EP_FOLDER / ep_file_name(count) if model.folder else None)
    if file is None or not file.is_file():
        raise InpaintInputError(f"latentpaint with ep={count} needs trained EP weights for model {model.name!r} "
                                f"(none at {file}); use latentpaint-lsc, or train them: inpaintkit train-ep "
                                f"--modules {count}")
    modules = load_ep_modules(file, model.unet, EP_LOCATIONS[:count])
    return {location: module.to(model.device, model.dtype).eval() for location, module in modules.items()}


def condition_noise(task, like: torch.Tensor):
    """eps_c from a generator stream of each sample's own, apart from the task's."""
    generators = task.generator if isinstance(task.generator, list) else [task.generator]
    streams = [torch.Generator().manual_seed(g.initial_seed() ^ CONDITION_STREAM) for g in generators]

    def draw() -> torch.Tensor:
        if len(streams) == 1 and like.shape[0] > 1:
            return torch.randn(like.shape, generator=streams[0]).to(like)
        return torch.stack([torch.randn(like.shape[1:], generator=g) for g in streams]).to(like)
    return draw


def run(model, task, opts: LatentPaintLSCOptions, callback, ep: dict | None):
    schedule = model.schedule
    known_pixels, known_z = 1 - task.mask, 1 - task.mask_z
    cond = task.cond
    embeds = uncond = None
    guidance = 1.0
    if cond is not None:
        cond = cond.expand(task.batch_size)
        embeds, uncond, guidance = cond.embeds, cond.uncond_embeds, cond.guidance_scale
    eps_c = condition_noise(task, task.known)
    x = task.initial_noise()
    pairs = timestep_pairs(schedule, opts.steps)
    once = None
    if opts.lsc and opts.cond_pass == "once":  # the literal q(x_T | x0^cond): the condition's level-T noising, kept
        once = condition_at(x, known_z, (1 - schedule.alpha_bar(pairs[0][0], x)).sqrt(), eps_c())
    for i, (t, t_prev) in enumerate(progress(pairs, task, "latentpaint")):
        if opts.lsc or ep:
            x_cond = once if once is not None else condition_at(x, known_z, (1 - schedule.alpha_bar(t, x)).sqrt(), eps_c())
            out = lsc_output(model, x, x_cond, t, known_pixels, ep, embeds, uncond, guidance, lsc=opts.lsc)  # step 3
            x0, _ = schedule.to_x0_eps(out, x, t)
            if model.autoencoder is None:
                x0 = schedule.clip(x0)
        else:
            x0 = model.predict(x, t, cond).x0
        if callback:
            callback(StepInfo(i, t, x, x0))
        x = blend_known(schedule, task, denoise_step(schedule, task, x, x0, t, t_prev, opts.eta), t_prev)  # 1, 2, 4
    return model.decode(x)


@register("latentpaint", LatentPaintOptions, "combine-noisy with the known image's U-Net features blended in after "
          "every block and trained Explicit Propagation at the middle block (LatentPaint)",
          paper="LatentPaint (Corneanu et al. 2024), Alg. 1")
@torch.no_grad()
def latentpaint(model, task, opts: LatentPaintOptions, callback=None):
    if not hasattr(model.unet, "mid_block"):
        raise InpaintInputError("latentpaint needs a U-Net with a middle block")
    return run(model, task, opts, callback, ep_modules(model, opts.ep, opts.ep_weights))


@register("latentpaint-lsc", LatentPaintLSCOptions, "LatentPaint's latent-space conditioning alone, training-free "
          "(LatentPaint Eq. 11)", paper="LatentPaint (Corneanu et al. 2024), Table 3")
@torch.no_grad()
def latentpaint_lsc(model, task, opts: LatentPaintLSCOptions, callback=None):
    return run(model, task, opts, callback, None)
