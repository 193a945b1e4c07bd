"""PILOT (Pan et al. 2024): latent optimisation under classifier-free guidance, masked attention, a blending stage
and spatial control, for text-conditioned models.

    z_T ~ N(0, I)
    for (t, t_prev) in DDIM timesteps (eta 0):
        if t < T (1 - gamma):  z = M z + (1 - M) q(z_t | z_in)                      # blending stage, Eq. 16
        elif step i % tau == 0:                                                      # latent optimisation
            v = 0; repeat n_gd times:                                                # momentum SGD on z_t itself
                x_u, x_c = x0 estimates of the unconditional and conditional branch at z   # Eq. 8-9
                L = |(1 - M)(x_u - z_in)|^2 / 4                                      # Eq. 10, background
                  + lambda(t) |(1 - M)(x_u - x_c)|^2 / |x_u - x_c|^2                 # Eq. 11-12, centralisation
                v = mu v - lr(t) grad_z L;  z = z + v
        z = DDIM step from z with eps_u + w (eps_c - eps_u)                          # the CFG step, Eq. 9
    with cross-attention masked (Eq. 14: background queries see only the first token) in every pass, and
    self-attention masked (Eq. 15: background queries do not see the hole) in the denoising passes with t >= 600

The paper-era reading of the authors' code (Lingzhi-Pan/PILOT at a6b5ba7; docs/pilot.md), each choice an option: z_t
itself is optimised (shared by both CFG branches) and the CFG step is taken from the optimised z_t; L_bg is a sum
over elements on the unclipped unconditional x0; the learning rate grows as lr 1.002^(T - t) with ``lr_warmup`` at
the first step, ported from SD's schedule to the model's by noise level (times alpha_bar(t) / alpha_bar_SD(t): 1 on
SD; the paper's rate diverges on the linear DDPM schedule); the momentum buffer restarts at every optimised
timestep; lambda(t) = coef c(t) (f_0 / f_bg)^2 N / N_SD with c(t) = 0.1 below t = 300 rising linearly to 1 at T,
f_bg the background fraction (f_0 = 1499/4096: the code's 110 at a third unmasked) and N / N_SD the size of the
model's space against SD's 4x64x64 (``lambda_rule`` "square" and "linear" are the paper's text and the 2025 code);
the masks per attention resolution keep the cells entirely inside the hole, falling back to no mask where none is;
the first token is always visible (the literal Eq. 14 gives NaN rows). The mask is inpaintkit's (1 = fill); the
authors' code uses 1 = keep. The blending stage happens at the start of a step at level t, as in the code. With a
ControlNet, its residuals (from the composite control map: the input's edges outside the hole, the user's inside)
enter every pass.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..core.errors import InpaintInputError
from ..core.images import load_image
from ..core.options import option
from ..core.schedule import SD_EPS_SCHEDULE, NoiseSchedule
from ..models.hooks import frozen
from ..sampling import StepInfo, progress, timestep_pairs
from .registry import DiffusionOptions, register

LAMBDA_RULES = ("inverse_square", "square", "linear")
REFERENCE_BACKGROUND = 1499 / 4096  # the code's std over SD's 64x64 latent grid: lambda = coef at this fraction
SD_LATENT_SIZE = 4 * 64 * 64
SD_SCHEDULE = NoiseSchedule(SD_EPS_SCHEDULE)  # the schedule the paper's learning rates were tuned on


@dataclass
class PILOTOptions(DiffusionOptions):
    steps: int = option(200, ge=1, help="DDIM steps (the paper's 200)")
    eta: float = option(0.0, ge=0, le=1, help="DDIM eta (the paper: 0)")
    guidance_scale: float = option(7.5, ge=0, le=50, help="classifier-free guidance w (the paper's 7.5)")
    gamma: float = option(1.0, ge=0, le=1, help="coherence scale: optimise over the first gamma of the trajectory, "
                                                "blend after")
    tau: int = option(10, ge=1, help="optimise at every tau-th step")
    gd_steps: int = option(10, ge=0, help="momentum SGD steps per optimised timestep")
    lr: float = option(0.03, ge=0, help="learning rate at t = T, growing as 1.002^(T - t)")
    lr_warmup: float = option(0.007, ge=0, help="learning rate at the first step")
    momentum: float = option(0.7, ge=0, lt=1)
    coef: float = option(110.0, ge=0, help="lambda's scale (Eq. 12)")
    lambda_rule: str = option("inverse_square", choices=LAMBDA_RULES, help="lambda against the background "
                                                                            "fraction (docstring)")
    cross_mask: bool = option(True, help="mask cross-attention (Eq. 14)")
    self_mask: bool = option(True, help="mask self-attention in the denoising passes with t >= self_mask_from (Eq. 15)")
    self_mask_from: int = option(600, ge=0)
    controlnet: str | None = option(None, help="a ControlNetModel folder, hub id, or the name of one shipped "
                                                 "with the model ('canny' for cifar10-text)", path=True)
    control_image: str | None = option(None, help="the control map inside the hole (an image file)", path=True)
    control_scale: float = option(1.0, ge=0, le=10)


@dataclass
class PILOTFastOptions(PILOTOptions):
    """The paper's practical setting (App. A): 30 steps, optimise every 3 with 3 gradient steps, gamma about 0.5."""

    steps: int = option(30, ge=1, help="DDIM steps")
    gamma: float = option(0.5, ge=0, le=1, help="coherence scale")
    tau: int = option(3, ge=1, help="optimise at every tau-th step")
    gd_steps: int = option(3, ge=0, help="momentum SGD steps per optimised timestep")


class MaskedAttention:
    """An attention processor computing softmax(QK^T / sqrt(d) + mask) V with PILOT's masks (Eq. 13-15), chosen by
    the query's sequence length; with masks off (or all-ones masks) it is the stock scaled-dot-product attention."""

    def __init__(self):
        self.areas: dict[int, torch.Tensor] = {}  # sequence length -> (B, L) bool, cells entirely in the hole
        self.cross = True
        self.self_attention = False

    def mask(self, batch: int, length: int, keys: int, cross: bool) -> torch.Tensor | None:
        area = self.areas.get(length)
        if area is None or not (self.cross if cross else self.self_attention):
            return None
        area = area.repeat(batch // area.shape[0], 1)  # CFG: both branches get the image's mask
        if cross:  # Eq. 14: background queries see the first token only (never an all-masked row)
            keep = area[:, :, None].expand(-1, -1, keys).clone()
            keep[:, :, 0] = True
        else:  # Eq. 15: background queries do not see hole keys
            keep = ~(~area[:, :, None] & area[:, None, :])
        return keep[:, None]

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, **kwargs):
        residual = hidden_states
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        image = hidden_states.ndim == 4
        if image:
            b, c, h, w = hidden_states.shape
            hidden_states = hidden_states.flatten(2).transpose(1, 2)
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
        cross = encoder_hidden_states is not None
        context = hidden_states if not cross else (
            attn.norm_encoder_hidden_states(encoder_hidden_states) if attn.norm_cross else encoder_hidden_states)
        query, key, value = attn.to_q(hidden_states), attn.to_k(context), attn.to_v(context)
        batch, length = query.shape[:2]
        heads = attn.heads
        split = lambda x: x.view(batch, -1, heads, x.shape[-1] // heads).transpose(1, 2)  # noqa: E731
        query, key, value = split(query), split(key), split(value)
        if attn.norm_q is not None:
            query = attn.norm_q(query)
        if attn.norm_k is not None:
            key = attn.norm_k(key)
        mask = self.mask(batch, length, key.shape[2], cross)
        out = F.scaled_dot_product_attention(query, key, value, attn_mask=mask)  # Eq. 13
        out = attn.to_out[1](attn.to_out[0](out.transpose(1, 2).reshape(batch, length, -1).to(query.dtype)))
        if image:
            out = out.transpose(1, 2).reshape(b, c, h, w)
        if attn.residual_connection:
            out = out + residual
        return out / attn.rescale_output_factor


def hole_areas(mask_z: torch.Tensor, lengths) -> dict[int, torch.Tensor]:
    """Per attention sequence length L (a square grid of side sqrt(L)): the cells entirely inside the hole, or
    every cell where none is (the paper-era fallback: no masking at that resolution)."""
    areas = {}
    for length in lengths:
        side = math.isqrt(length)
        if side * side != length:
            continue
        cells = F.interpolate(mask_z.float(), size=(side, side), mode="bilinear", align_corners=False)
        area = (cells >= 1 - 1e-6).flatten(1)
        empty = ~area.any(1, keepdim=True)
        areas[length] = area | empty
    return areas


@contextmanager
def masked_attention(model, processor: MaskedAttention):
    """The processor on every attention layer for the length of the run; the original ones restored after."""
    original = model.attn_processors
    model.set_attn_processor(processor)
    try:
        yield processor
    finally:
        model.set_attn_processor(original)


def lambda_of(opts: PILOTOptions, t: int, background: torch.Tensor, numel: int, T: int) -> torch.Tensor:
    """lambda(t) per sample (Eq. 12, App. A; docstring)."""
    ramp = 0.1 if t < 300 else 0.1 + 0.9 * (t - 300) / (T - 1 - 300)
    f = background.clamp(min=1e-6)
    shape = {"inverse_square": (REFERENCE_BACKGROUND / f) ** 2, "square": (f / REFERENCE_BACKGROUND) ** 2,
             "linear": f / REFERENCE_BACKGROUND}[opts.lambda_rule]
    return opts.coef * ramp * shape * numel / SD_LATENT_SIZE


def learning_rate(opts: PILOTOptions, i: int, t: int, schedule) -> float:
    """The paper's learning rate at step i (level t): ``lr_warmup`` at the first step, else lr 1.002^(T - t),
    ported from SD's schedule, where it was tuned, to the model's by noise level: times alpha_bar(t) /
    alpha_bar_SD(t), so that a step moves the x0 estimate as far as on SD (a step along grad_z L moves an
    eps-model's x0 by about lr / alpha_bar per unit of grad_x0 L). 1 on SD's schedule; on the linear DDPM
    schedule 0.012 at t = 957 and 0.16 at t = 600, where the paper's rate makes z diverge (docs/pilot.md)."""
    T = schedule.num_train_timesteps
    lr = opts.lr_warmup if i == 0 else opts.lr * 1.002 ** (T - t)
    t_sd = min(round(t * SD_SCHEDULE.num_train_timesteps / T), SD_SCHEDULE.num_train_timesteps - 1)
    return lr * float(schedule.alphas_cumprod[t] / SD_SCHEDULE.alphas_cumprod[t_sd])


def pair_output(model, z: torch.Tensor, t, embeds, uncond, controls) -> tuple[torch.Tensor, torch.Tensor]:
    """The unconditional and conditional network outputs at z (one batch of 2B)."""
    pairs = torch.cat([z, z])
    prompt = torch.cat([uncond, embeds])
    extra = controls(pairs, t, prompt) if controls is not None else {}
    out = model(pairs, t, prompt, **extra)
    return out.chunk(2)


def control_maps(model, task, opts: PILOTOptions):
    """The ControlNet residual function, or None: the composite control map is the input's Canny edges outside
    the hole and the user's map (``control_image``) inside it."""
    if opts.controlnet is None:
        return None
    from ..models.controlnet import canny_map, load_controlnet, residuals

    controlnet = load_controlnet(opts.controlnet, model.device, model.dtype, model.folder)
    outside = canny_map(task.image)
    if opts.control_image is not None:
        inside = (load_image(opts.control_image).to(task.image.device) + 1) / 2
        if inside.shape[-2:] != task.image.shape[-2:]:
            inside = F.interpolate(inside, size=task.image.shape[-2:], mode="bilinear", align_corners=False)
    else:
        inside = torch.zeros_like(outside)
    control = (1 - task.mask) * outside + task.mask * inside
    control = torch.cat([control, control])  # both CFG branches
    return lambda pairs, t, prompt: residuals(controlnet, pairs, t, prompt, control, opts.control_scale)


def run(model, task, opts: PILOTOptions, callback):
    if not model.is_conditional or task.cond is None:
        raise InpaintInputError(f"pilot needs a text-conditioned model and a prompt; {model.name!r} is "
                                f"{'unconditional' if not model.is_conditional else 'given no prompt'}")
    schedule, T = model.schedule, model.schedule.num_train_timesteps
    b = task.batch_size
    cond = task.cond.expand(b)
    embeds = cond.embeds
    uncond = cond.uncond_embeds if cond.uncond_embeds is not None else model.condition([""] * b).embeds
    w = opts.guidance_scale
    keep, z_in = 1 - task.mask_z, task.known
    background = keep.flatten(1).mean(1)
    numel = z_in[0].numel()
    processor = MaskedAttention()
    lengths = {s * s for s in range(1, z_in.shape[-1] + 1) if z_in.shape[-1] % s == 0}
    processor.areas = hole_areas(task.mask_z, lengths)
    processor.cross = opts.cross_mask
    controls = control_maps(model, task, opts)
    pairs = timestep_pairs(schedule, opts.steps)
    z = task.initial_noise()
    with frozen(model), masked_attention(model, processor):
        for i, (t, t_prev) in enumerate(progress(pairs, task, "pilot")):
            optimise = False
            if t < T * (1 - opts.gamma):  # Eq. 16: the blending stage
                noised = schedule.add_noise(z_in, task.randn(z_in), t)
                z = task.mask_z * z + keep * noised
            else:
                optimise = i % opts.tau == 0 and opts.gd_steps > 0
            loss = None
            if optimise:
                processor.self_attention = False
                lr = learning_rate(opts, i, t, schedule)
                lam = lambda_of(opts, t, background, numel, T)
                velocity = torch.zeros_like(z)
                for _ in range(opts.gd_steps):
                    with torch.enable_grad():
                        x = z.detach().requires_grad_(True)
                        out_u, out_c = pair_output(model, x, t, embeds, uncond, controls)
                        x_u, _ = schedule.to_x0_eps(out_u, x, t)  # Eq. 8, unclipped
                        x_c, _ = schedule.to_x0_eps(out_c, x, t)
                        l_bg = (keep * (x_u - z_in)).square().flatten(1).sum(1) / 4  # Eq. 10
                        diff = (x_u - x_c).square()
                        l_s = (keep * diff).flatten(1).sum(1) / (diff.flatten(1).sum(1) + 1e-8 * numel)  # Eq. 11
                        loss = l_bg + lam * l_s  # Eq. 12
                        (grad,) = torch.autograd.grad(loss.sum(), x)
                    model.backward_calls += 2 * b
                    velocity = opts.momentum * velocity - lr * grad
                    z = z + velocity
            processor.self_attention = opts.self_mask and t >= opts.self_mask_from  # Eq. 15, early only
            with torch.no_grad():
                out_u, out_c = pair_output(model, z, t, embeds, uncond, controls)
                out = out_u + w * (out_c - out_u)  # Eq. 9
                x0, eps = schedule.to_x0_eps(out, z, t)
                if callback:
                    callback(StepInfo(i, t, z, x0, {} if loss is None else {"loss": loss.detach()}))
                noise = task.randn(z) if opts.eta > 0 and t_prev >= 0 else None
                z = schedule.ddim_step(z, x0, eps, t, t_prev, opts.eta, noise)
    with torch.no_grad():
        return model.decode(z)


@register("pilot", PILOTOptions, "latent optimisation of z_t under classifier-free guidance with masked attention "
          "and a blending stage (PILOT)", paper="PILOT (Pan et al. 2024), Eq. 9-16")
def pilot(model, task, opts: PILOTOptions, callback=None):
    return run(model, task, opts, callback)


@register("pilot-fast", PILOTFastOptions, "PILOT's practical setting: 30 steps, optimise every 3 with 3 gradient "
          "steps, gamma 0.5 (PILOT App. A)", paper="PILOT (Pan et al. 2024), App. A")
def pilot_fast(model, task, opts: PILOTFastOptions, callback=None):
    return run(model, task, opts, callback)
