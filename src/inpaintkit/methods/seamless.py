"""Towards Seamless Borders (Hou, Wu et al. 2025) at inference, for latent models: Blended Latent Diffusion
(Eq. 5) run with the blend-aware two-step U-Net U' (Alg. 1), ending on the final latent blend, decoded by the
seam-aware decoder D' (Eq. 6). Each component is switchable, for the paper's Table 4 ablation:

    z_in = E((1 - M) x)                                      # the image with the hole grey (task.known)
    z_T ~ N(0, I)
    for t in timesteps:                                      # §4: 50 steps, stride 20 of T = 1000
        z_fg = denoise_U'(z_t, t)                            # two_step: U' (Alg. 1), or the model's own U-Net
        z_{t-1} = M_r z_fg + (1 - M_r) noise(z_in, t - 1)   # Eq. 5 (M_r: the mask on the latent grid, 1 = fill)
    z_0 = M_r z_0 + (1 - M_r) z_in                           # the last step's blend: the final latent blend
    x_hat = D'(z_0)                                          # decoder: D' (Eq. 6), or the model's own decoder

The known pixels are pasted back afterwards (by the API, for every method). ``final_blend=False`` keeps the
U-Net's own z_0 everywhere at the last step (the seam-aware decoder was trained on the blended one). With
``two_step="none"``, ``decoder="none"`` and the final blend this is ``blended-latent`` without mask shrinking, draw
for draw.

Where the components come from: ``"shipped"`` reads them from the model's folder (``seamless/unet`` and
``seamless/vae``, what ``inpaintkit train-seamless`` exports, for the built-in ``faces-256-latent``); a path reads
a model folder (``out/model`` of the two-step stage) or a U-Net folder, an autoencoder folder (``out/vae`` of the
decoder stage). The swapped components are the run's only: the model is restored after it, whatever happens.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ..core.errors import InpaintInputError
from ..core.options import option
from ..models.hooks import swapped_components
from ..models.loading import load_unet, load_vae
from ..sampling import StepInfo, blend_known, denoise_step, progress, timestep_pairs
from .registry import DiffusionOptions, register

SHIPPED = {"two_step": "seamless/unet", "decoder": "seamless/vae"}


@dataclass
class SeamlessOptions(DiffusionOptions):
    two_step: str = option("shipped", help="the blend-aware two-step U-Net: shipped (the model folder's "
                                           "seamless/unet), none (the model's own) or a folder")
    decoder: str = option("shipped", help="the seam-aware decoder: shipped (the model folder's seamless/vae), none "
                                          "(the model's own) or an autoencoder folder")
    final_blend: bool = option(True, help="blend the known latents into the last step's z_0 (what the seam-aware "
                                          "decoder was trained to decode)")


def component_folder(model, option_name: str, value: str) -> Path | None:
    """The folder an option names (None: the model's own component)."""
    if value == "none":
        return None
    folder = Path(model.folder or "") / SHIPPED[option_name] if value == "shipped" else Path(value)
    if not folder.is_dir():
        stage = "two-step" if option_name == "two_step" else "decoder"
        raise InpaintInputError(f"seamless: {option_name}={value!r}: no folder {folder}; train one with "
                                f"`inpaintkit train-seamless --stage {stage}` and name its output, or pass "
                                f"{option_name}=none for the model's own")
    return folder


@register("seamless", SeamlessOptions,
          "Blended Latent Diffusion with a blend-aware two-step U-Net and a seam-aware decoder (Towards Seamless "
          "Borders)", spaces=("latent",), paper="Hou, Wu et al. 2025, Eq. 5-6, Alg. 1")
@torch.no_grad()
def seamless(model, task, opts: SeamlessOptions, callback=None):
    unet_folder = component_folder(model, "two_step", opts.two_step)
    decoder_folder = component_folder(model, "decoder", opts.decoder)
    unet = load_unet(unet_folder, model.device, model.dtype) if unet_folder else None
    autoencoder = load_vae(decoder_folder, model.dtype).to(model.device) if decoder_folder else None
    with swapped_components(model, unet=unet, autoencoder=autoencoder):
        x = task.initial_noise()
        pairs = timestep_pairs(model.schedule, opts.steps)
        for i, (t, t_prev) in enumerate(progress(pairs, task, "seamless")):
            x0 = model.predict(x, t, task.cond).x0
            if callback:
                callback(StepInfo(i, t, x, x0))
            z_fg = denoise_step(model.schedule, task, x, x0, t, t_prev, opts.eta)
            last = i == len(pairs) - 1
            x = z_fg if last and not opts.final_blend else blend_known(model.schedule, task, z_fg, t_prev)  # Eq. 5
        return model.decode(x)
