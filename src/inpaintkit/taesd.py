"""Autoencoders that a model folder names instead of shipping: TAESD and any diffusers VAE by hub id.

A latent model exported by inpaintkit carries no ``vae/`` folder; its ``inpaintkit.json`` names the
autoencoder it was trained on, the way a Stable Diffusion folder names a component that the user may
swap (``vae=AutoencoderTiny.from_pretrained("madebyollin/taesd")``)::

    "vae": {"hub_id": "madebyollin/taesd"}

:func:`load_vae_reference` resolves the reference to a local copy first: the folder named like the
hub repository (``taesd``) inside ``$INPAINTKIT_WEIGHTS``, or else inside the ``shared/weights`` folder
beside a source checkout (``../shared/weights/taesd`` from the repository root). Only when neither
exists does it fetch the hub id. A local copy is either a diffusers folder (``config.json`` +
weights) or TAESD's original release (``taesd_encoder.safetensors`` + ``taesd_decoder.safetensors``),
converted here to ``diffusers.AutoencoderTiny``.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from .data import SHARED_DIR

TAESD_HUB_ID = "madebyollin/taesd"
TAESD_FILES = ("taesd_encoder.safetensors", "taesd_decoder.safetensors")
WEIGHTS_ENV = "INPAINTKIT_WEIGHTS"


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
    """TAESD's original release (two safetensors files) as a float32 ``diffusers.AutoencoderTiny``
    with the default (= TAESD) architecture; every key must match."""
    from diffusers import AutoencoderTiny

    vae = AutoencoderTiny()
    vae.load_state_dict(taesd_state_dict(folder), strict=True)
    return vae.eval()


def load_vae(folder: str | Path, dtype: torch.dtype | None = None):
    """An autoencoder from a local folder: TAESD's original release or a diffusers folder."""
    from .models import ModelNotFoundError, _load_module

    folder = Path(folder)
    if is_taesd_release(folder):
        vae = load_taesd(folder)
        return vae.to(dtype) if dtype is not None else vae
    if (folder / "config.json").exists():
        return _load_module(folder, dtype).eval()
    raise ModelNotFoundError(f"{folder}: neither a diffusers autoencoder folder (config.json) nor TAESD's "
                             f"release ({', '.join(TAESD_FILES)})")


def local_copy(hub_id: str) -> Path | None:
    """The local folder standing in for ``hub_id``: ``<weights>/<repository name>``, in
    ``$INPAINTKIT_WEIGHTS`` or else in the ``shared/weights`` beside a source checkout."""
    name = hub_id.rsplit("/", 1)[-1]
    roots = [Path(os.environ[WEIGHTS_ENV])] if os.environ.get(WEIGHTS_ENV) else []
    for root in roots + [SHARED_DIR / "weights"]:
        if (root / name).is_dir():
            return root / name
    return None


def load_vae_reference(reference: dict, dtype: torch.dtype | None = None):
    """The autoencoder an ``inpaintkit.json`` names (``{"hub_id": ...}``): its local copy, or the hub."""
    from .models import _download

    hub_id = reference["hub_id"]
    folder = local_copy(hub_id)
    if folder is None:
        folder = _download(hub_id)
    return load_vae(folder, dtype)
