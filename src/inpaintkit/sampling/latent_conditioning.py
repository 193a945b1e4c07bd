"""Latent-space conditioning (LatentPaint, Corneanu et al. 2024, Eq. 11-12): one U-Net pass on the sample and the
noised condition together (a batch of 2B), the condition's features blended into the sample's after every block,

    h* = h_infr (1 - D(m)) + h_cond D(m)                                            # Eq. 11

and, at the input and the output of the middle block, an Explicit Propagation module (Eq. 12) on h*. ``m`` is
the *known* mask (the paper's convention; inpaintkit's M = 1 fills, so m = 1 - M), D(m) its average over each
feature cell (non-binary at the border). Shared by the method and the trainer of the EP modules.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..core.geometry import latent_mask
from ..models.hooks import block_outputs, forward_hooks

EP_LOCATIONS = ("pre_mid", "post_mid")  # one module: the input of the middle block; two: and its output


def lsc_output(model, x: torch.Tensor, x_cond: torch.Tensor, t, known: torch.Tensor, ep: dict | None = None,
               embeds: torch.Tensor | None = None, uncond: torch.Tensor | None = None, guidance: float = 1.0,
               lsc: bool = True) -> torch.Tensor:
    """The network's output for the sample ``x`` (B, ...) under latent-space conditioning on ``x_cond``, the
    condition at the same noise level. ``known``: the known mask m in pixels (B, 1, H, W). ``ep``: modules by
    location (:data:`EP_LOCATIONS`). Under classifier-free guidance the unconditional and conditional branches
    each get their pair: one batch of 4B."""
    b = x.shape[0]
    pairs = torch.cat([x, x_cond])
    groups = 1
    if embeds is not None and uncond is not None and guidance != 1.0:
        pairs, groups = torch.cat([pairs, pairs]), 2
        prompt = torch.cat([uncond, uncond, embeds, embeds])
    elif embeds is not None:
        prompt = torch.cat([embeds, embeds])
    else:
        prompt = None
    cells: dict[tuple[int, int], torch.Tensor] = {}

    def fraction(h: torch.Tensor) -> torch.Tensor:  # D(m) at this feature map's size
        size = tuple(h.shape[-2:])
        if size not in cells:
            cells[size] = F.adaptive_avg_pool2d(known.to(h.device, torch.float32), size).to(h.dtype)
        return cells[size]

    def merge(location: str | None):
        def hook(h: torch.Tensor) -> torch.Tensor:
            view = h.view(groups, 2, b, *h.shape[1:])
            d = fraction(h)
            merged = view[:, 0] * (1 - d) + view[:, 1] * d  # Eq. 11
            if location is not None and ep and location in ep:
                merged = torch.stack([ep[location](g, d) for g in merged])  # Eq. 12
            return torch.stack([merged, view[:, 1]], dim=1).reshape(h.shape)
        return hook

    def propagate(location: str):
        def hook(h: torch.Tensor) -> torch.Tensor:
            view = h.view(groups, 2, b, *h.shape[1:])
            merged = torch.stack([ep[location](g, fraction(h)) for g in view[:, 0]])  # Eq. 12
            return torch.stack([merged, view[:, 1]], dim=1).reshape(h.shape)
        return hook

    hooks, pre_hooks = [], []
    if lsc:
        hooks = [(module, merge("post_mid" if name == "mid_block" else None)) for name, module in block_outputs(model.unet)]
    if ep and "pre_mid" in ep:
        pre_hooks = [(model.unet.mid_block, propagate("pre_mid"))]
    if isinstance(t, torch.Tensor) and t.numel() > 1:  # one timestep per sample: the same for its pair
        t = t.reshape(-1).repeat(2 * groups)
    with forward_hooks(hooks, pre_hooks):
        out = model(pairs, t, prompt)
    out = out.view(groups, 2, b, *out.shape[1:])[:, 0]
    if groups == 2:
        return out[0] + guidance * (out[1] - out[0])
    return out[0]


def condition_at(x: torch.Tensor, known_z: torch.Tensor, noise_level: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """The condition x_cond at the sample's noise level: the sample's known part (already the observation noised
    to this level) and, in the hole, the observation's zeros noised: sqrt(1 - alpha_bar) eps_c."""
    return known_z * x + (1 - known_z) * noise_level * noise


def training_pair(schedule, x0: torch.Tensor, mask: torch.Tensor, t: torch.Tensor, noise: torch.Tensor,
                  noise_c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For EP training and its diagnostics: x_t ~ q(x_t | x0), its condition as a reverse step forms it
    (:func:`condition_at`), and the mask ``mask`` (pixels, 1 = fill) on x0's grid."""
    mask_z = latent_mask(mask, x0.shape[-2:])
    x_t = schedule.add_noise(x0, noise, t)
    return x_t, condition_at(x_t, 1 - mask_z, (1 - schedule.alpha_bar(t, x_t)).sqrt(), noise_c), mask_z
