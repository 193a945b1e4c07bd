"""Loading a :class:`DiffusionModel`: a built-in name (``inpaintkit models``), a local folder in diffusers
layout (a bare ``UNet2DModel`` folder, a DDPM pipeline folder, a Stable Diffusion (XL) pipeline folder), a
guided-diffusion ``.pt``, a single-file Stable Diffusion (XL) checkpoint (``.safetensors``, with the configs
of a local diffusers folder of its kind), or a model-hub id, which needs network access the first time.

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
from .hub import HubOptions, download, hub_reachable, load_component, read_json
from .taesd import TAESD_FILES, is_taesd_release, load_taesd
from .text import PromptEncoder, SDXLPromptEncoder, clip_text_encoder, load_text_encoder


def load_vae(folder: str | Path, dtype: torch.dtype | None = None, allow_pickle: bool = False,
             variant: str | None = None) -> Autoencoder:
    """An autoencoder from a local folder: TAESD's original release or a diffusers folder."""
    folder = Path(folder)
    if is_taesd_release(folder):
        vae = load_taesd(folder)
        return Autoencoder(vae.to(dtype) if dtype is not None else vae)
    if (folder / "config.json").exists():
        return Autoencoder(load_component(folder, dtype, allow_pickle, variant))
    raise ModelNotFoundError(f"{folder}: neither a diffusers autoencoder folder (config.json) nor TAESD's "
                             f"release ({', '.join(TAESD_FILES)})")


def load_unet(folder: str | Path, device="cpu", dtype: torch.dtype | None = None, allow_pickle: bool = False,
              variant: str | None = None) -> torch.nn.Module:
    """The denoiser of a diffusers-layout model folder (``unet/``), or of a U-Net folder itself."""
    root = Path(folder)
    unet_dir = root / "unet" if (root / "unet" / "config.json").exists() else root
    if not (unet_dir / "config.json").exists():
        raise ModelNotFoundError(f"{root}: no unet/config.json or config.json: not a diffusers model folder")
    return load_component(unet_dir, dtype, allow_pickle, variant).to(device).eval()


def load_vae_reference(reference: dict, dtype: torch.dtype | None = None) -> Autoencoder:
    """The autoencoder an ``inpaintkit.json`` names (``{"hub_id": ...}``): its local copy, or the hub."""
    hub_id = reference["hub_id"]
    name = hub_id.rsplit("/", 1)[-1]
    folder = find_local("weights", name)
    if folder is None:
        folder = download(hub_id, "autoencoder", local_hint=f"put a copy (TAESD's {' + '.join(TAESD_FILES)}, or a "
                          f"diffusers folder) in one of {where_to_put('weights', name)}")
    return load_vae(folder, dtype)


def assemble(unet, scheduler_config: dict, vae: Autoencoder | None, text_encoder, name: str, info: dict | None = None,
             folder: Path | None = None, device="cpu") -> DiffusionModel:
    """A :class:`DiffusionModel` from loaded components and the scheduler's config (diffusers' keys)."""
    # diffusers' schedulers default to clipping x0 to [-1, 1], which is wrong for latents.
    schedule = ScheduleConfig.from_dict({"clip_sample": vae is None, **scheduler_config})
    model = DiffusionModel(unet.eval(), NoiseSchedule(schedule), autoencoder=vae, text_encoder=text_encoder,
                           name=name, info=info, folder=folder)
    return model.to(device)


def load_folder(folder: str | Path, device="cpu", dtype: torch.dtype | None = None,
                vae_override: str | Path | None = None, name: str | None = None,
                allow_pickle: bool = False, variant: str | None = None) -> DiffusionModel:
    """Load a diffusers-layout folder: ``unet/`` (or the folder itself), ``scheduler/``, optional ``vae/``
    and ``text_encoder/`` + ``tokenizer/`` (and SDXL's ``text_encoder_2/`` + ``tokenizer_2/``), or the
    autoencoder and text encoder that ``inpaintkit.json`` names. ``vae_override``: a local autoencoder
    folder to use instead; ``variant``: weights such as ``*.fp16.safetensors`` where a component has them."""
    root = Path(folder)
    unet = load_unet(root, device, dtype, allow_pickle, variant)
    info = model_info(root)
    if vae_override or (root / "vae" / "config.json").exists():
        vae = load_vae(vae_override or root / "vae", dtype, allow_pickle, variant)
    else:
        vae = load_vae_reference(info["vae"], dtype) if "vae" in info else None
    sched_file = root / "scheduler" / "scheduler_config.json"
    if (root / "text_encoder").is_dir():
        text_encoder = clip_text_encoder(root, variant)
    else:
        text_encoder = load_text_encoder(info["text_encoder"]) if "text_encoder" in info else None
    return assemble(unet, read_json(sched_file) if sched_file.exists() else {}, vae, text_encoder, name or root.name,
                    info, root, device)


def load_single_file(path: Path, hub: HubOptions, device="cpu", dtype: torch.dtype | None = None) -> DiffusionModel:
    """An original-format Stable Diffusion 1.x / 2.x / XL checkpoint in one ``.safetensors`` file, through
    diffusers' ``from_single_file``: the model kind is read off its keys, its configs come from ``hub.config``
    (a local diffusers folder of that kind: only its configs are read) or, online, from the hub."""
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline
    from diffusers.loaders.single_file_utils import DIFFUSERS_DEFAULT_PIPELINE_PATHS, infer_diffusers_model_type
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        shapes = _Shapes({k: f.get_slice(k) for k in f.keys()})
        if not any(k.startswith("model.diffusion_model.") for k in shapes):
            raise ModelNotFoundError(f"{path}: not a single-file Stable Diffusion checkpoint (no model.diffusion_model.* "
                                     "keys); a diffusers component's weights go in a folder with its config.json")
        kind = infer_diffusers_model_type(shapes)
    repo = DIFFUSERS_DEFAULT_PIPELINE_PATHS[kind]["pretrained_model_name_or_path"]
    if hub.config is None and not hub_reachable():
        raise ModelNotFoundError(f"{path}: a single-file checkpoint ({kind}) needs the configs of {repo} and the hub "
                                 f"is not reachable (offline): pass --config FOLDER (config=), a local diffusers folder "
                                 f"of {repo} (its weights are not read)")
    pipeline_class = StableDiffusionXLPipeline if kind.startswith("xl") else StableDiffusionPipeline
    pipe = pipeline_class.from_single_file(str(path), config=hub.config, local_files_only=hub.config is not None,
                                           torch_dtype=dtype)
    if kind.startswith("xl"):
        text_encoder = SDXLPromptEncoder([pipe.tokenizer, pipe.tokenizer_2], [pipe.text_encoder, pipe.text_encoder_2],
                                         pipe.config.get("force_zeros_for_empty_prompt", True))
    else:
        text_encoder = PromptEncoder(pipe.tokenizer, pipe.text_encoder)
    return assemble(pipe.unet, dict(pipe.scheduler.config), Autoencoder(pipe.vae), text_encoder.eval(), path.stem,
                    {"source": {"single_file": path.name, "kind": kind}}, None, device)


class _Shapes(dict):
    """Tensor slices that answer ``.shape`` without reading the tensors (what diffusers' model-kind test asks)."""

    def __getitem__(self, key):
        return _Shaped(super().__getitem__(key).get_shape())


class _Shaped:
    def __init__(self, shape):
        self.shape = tuple(shape)


def load_model(source: str | Path, device="cpu", dtype: torch.dtype | None = None,
               allow_pickle: bool = False, hub: HubOptions | None = None) -> DiffusionModel:
    """A built-in name, a local diffusers folder, a guided-diffusion ``.pt`` (ADM's published 256 px settings;
    other architectures via ``inpaintkit convert guided-diffusion``), a single-file SD / SDXL ``.safetensors``
    (with ``hub.config``), or a hub id such as ``stable-diffusion-v1-5/stable-diffusion-v1-5`` (``hub``:
    variant, revision, cache folder)."""
    hub = hub or HubOptions()
    builtins = builtin_models()
    if str(source) in builtins:
        return load_folder(builtins[str(source)], device, dtype, name=str(source))
    path = Path(source)
    if path.is_file() and path.suffix in (".pt", ".pth"):  # a guided-diffusion checkpoint, converted as it loads
        from .guided_diffusion import load_checkpoint

        unet, schedule, arch = load_checkpoint(path)
        model = DiffusionModel(unet.to(dtype) if dtype is not None else unet, NoiseSchedule(schedule), name=path.stem,
                               info={"source": {"guided_diffusion": path.name}})
        return model.to(device)
    if path.is_file() and path.suffix == ".safetensors":
        return load_single_file(path, hub, device, dtype)
    if path.exists():
        return load_folder(path, device, dtype, allow_pickle=allow_pickle, variant=hub.variant)
    if str(source).count("/") == 1 and not str(source).startswith((".", "/")):
        folder = download(str(source), "model", allow_pickle=allow_pickle, hub=hub)
        return load_folder(folder, device, dtype, name=str(source), allow_pickle=allow_pickle, variant=hub.variant)
    known = ", ".join(builtins) or "none installed"
    raise ModelNotFoundError(f"unknown model {source!r}: not a built-in model ({known}), a local folder or a hub id")
