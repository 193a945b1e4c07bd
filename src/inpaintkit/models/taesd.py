"""TAESD (madebyollin/taesd), the tiny autoencoder of Stable Diffusion's latent space: its original release
(``taesd_encoder.safetensors`` + ``taesd_decoder.safetensors``) converted to ``diffusers.AutoencoderTiny``."""
from __future__ import annotations

from pathlib import Path

import torch

TAESD_HUB_ID = "madebyollin/taesd"
TAESD_FILES = ("taesd_encoder.safetensors", "taesd_decoder.safetensors")


def is_taesd_release(folder: str | Path) -> bool:
    return all((Path(folder) / f).exists() for f in TAESD_FILES)


def taesd_state_dict(folder: str | Path) -> dict[str, torch.Tensor]:
    """TAESD's original encoder/decoder weights renamed to ``AutoencoderTiny``'s keys, in float32.

    The release's encoder is a ``Sequential`` whose layer ``k`` is diffusers' ``encoder.layers.k``; its
    decoder starts with a parameter-free clamp layer that diffusers folds into ``forward``, so decoder
    layer ``i`` is ``decoder.layers.{i-1}``."""
    from safetensors.torch import load_file

    folder = Path(folder)
    encoder, decoder = (load_file(folder / f) for f in TAESD_FILES)
    state = {f"encoder.layers.{k}": v for k, v in encoder.items()}
    for key, value in decoder.items():
        index, rest = key.split(".", 1)
        state[f"decoder.layers.{int(index) - 1}.{rest}"] = value
    return {k: v.float() for k, v in state.items()}


def load_taesd(folder: str | Path):
    """TAESD's original release as a float32 ``diffusers.AutoencoderTiny`` with the default (= TAESD)
    architecture; every key must match."""
    from diffusers import AutoencoderTiny

    vae = AutoencoderTiny()
    vae.load_state_dict(taesd_state_dict(folder), strict=True)
    return vae.eval()
