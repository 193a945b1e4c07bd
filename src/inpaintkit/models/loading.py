"""Loading a :class:`DiffusionModel`: a built-in name (``inpaintkit models``), a local folder in diffusers
layout (a bare ``UNet2DModel`` folder, a DDPM pipeline folder or a Stable Diffusion pipeline folder), or a
model-hub id, which needs network access the first time.

A latent model exported by inpaintkit carries no ``vae/`` folder; its ``inpaintkit.json`` names the
autoencoder it was trained on, the way a Stable Diffusion folder names a component that the user may swap::

    "vae": {"hub_id": "madebyollin/taesd"}

and :func:`load_vae_reference` resolves it to a local copy first (the folder named like the hub
repository, ``taesd``, in the places :mod:`inpaintkit.core.env` searches), else the hub. A local copy is a
diffusers folder (``config.json`` + weights) or TAESD's original release (two safetensors files).
Text encoders are named the same way (``"text_encoder": {"name": "minilm"}``, :mod:`.text`).
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..core.env import find_local, where_to_put
from ..core.errors import ModelNotFoundError
from ..core.schedule import NoiseSchedule, ScheduleConfig
from .autoencoder import Autoencoder
from .catalog import builtin_models, model_info
from .denoiser import DiffusionModel
from .hub import download, load_component, read_json
from .taesd import TAESD_FILES, is_taesd_release, load_taesd
from .text import clip_text_encoder, load_text_encoder


def load_vae(folder: str | Path, dtype: torch.dtype | None = None, allow_pickle: bool = False) -> Autoencoder:
    """An autoencoder from a local folder: TAESD's original release or a diffusers folder."""
    folder = Path(folder)
    if is_taesd_release(folder):
        vae = load_taesd(folder)
        return Autoencoder(vae.to(dtype) if dtype is not None else vae)
    if (folder / "config.json").exists():
        return Autoencoder(load_component(folder, dtype, allow_pickle))
    raise ModelNotFoundError(f"{folder}: neither a diffusers autoencoder folder (config.json) nor TAESD's "
                             f"release ({', '.join(TAESD_FILES)})")


def load_vae_reference(reference: dict, dtype: torch.dtype | None = None) -> Autoencoder:
    """The autoencoder an ``inpaintkit.json`` names (``{"hub_id": ...}``): its local copy, or the hub."""
    hub_id = reference["hub_id"]
    name = hub_id.rsplit("/", 1)[-1]
    folder = find_local("weights", name)
    if folder is None:
        folder = download(hub_id, "autoencoder", local_hint=f"put a copy (TAESD's {' + '.join(TAESD_FILES)}, or a "
                          f"diffusers folder) in one of {where_to_put('weights', name)}")
    return load_vae(folder, dtype)


def load_folder(folder: str | Path, device="cpu", dtype: torch.dtype | None = None,
                vae_override: str | Path | None = None, name: str | None = None,
                allow_pickle: bool = False) -> DiffusionModel:
    """Load a diffusers-layout folder: ``unet/`` (or the folder itself), ``scheduler/``, optional ``vae/``
    and ``text_encoder/`` + ``tokenizer/``, or the autoencoder and text encoder that ``inpaintkit.json``
    names. ``vae_override``: a local autoencoder folder to use instead."""
    root = Path(folder)
    unet_dir = root / "unet" if (root / "unet" / "config.json").exists() else root
    if not (unet_dir / "config.json").exists():
        raise ModelNotFoundError(f"{root}: no unet/config.json or config.json: not a diffusers model folder")
    unet = load_component(unet_dir, dtype, allow_pickle).to(device).eval()
    info = model_info(root)
    if vae_override or (root / "vae" / "config.json").exists():
        vae = load_vae(vae_override or root / "vae", dtype, allow_pickle)
    else:
        vae = load_vae_reference(info["vae"], dtype) if "vae" in info else None
    sched_file = root / "scheduler" / "scheduler_config.json"
    sched = read_json(sched_file) if sched_file.exists() else {}
    # diffusers' schedulers default to clipping x0 to [-1, 1], which is wrong for latents.
    sched = ScheduleConfig.from_dict({"clip_sample": vae is None, **sched})
    if (root / "text_encoder").is_dir():
        text_encoder = clip_text_encoder(root)
    else:
        text_encoder = load_text_encoder(info["text_encoder"]) if "text_encoder" in info else None
    model = DiffusionModel(unet, NoiseSchedule(sched), autoencoder=vae, text_encoder=text_encoder,
                           name=name or root.name, info=info, folder=root)
    return model.to(device)


def load_model(source: str | Path, device="cpu", dtype: torch.dtype | None = None,
               allow_pickle: bool = False) -> DiffusionModel:
    """A built-in name, a local diffusers folder, or a hub id such as ``runwayml/stable-diffusion-v1-5``."""
    builtins = builtin_models()
    if str(source) in builtins:
        return load_folder(builtins[str(source)], device, dtype, name=str(source))
    path = Path(source)
    if path.exists():
        return load_folder(path, device, dtype, allow_pickle=allow_pickle)
    if str(source).count("/") == 1 and not str(source).startswith((".", "/")):
        folder = download(str(source), "model", allow_pickle=allow_pickle)
        return load_folder(folder, device, dtype, name=str(source), allow_pickle=allow_pickle)
    known = ", ".join(builtins) or "none installed"
    raise ModelNotFoundError(f"unknown model {source!r}: not a built-in model ({known}), a local folder or a hub id")
