"""The one writer of the model-folder format that :func:`inpaintkit.models.loading.load_folder` reads:
``unet/`` + ``scheduler/`` + ``model_index.json``, and optionally ``vae/``, ``text_encoder/`` +
``tokenizer/`` (a Stable Diffusion pipeline folder) and ``inpaintkit.json`` (the model card's figures and
the components a folder names instead of shipping). Weights are safetensors; the folder appears at once,
complete (written beside it and renamed into place)."""
from __future__ import annotations

import copy
from pathlib import Path

import torch

from ..core.files import atomic_folder, write_json
from ..core.schedule import ScheduleConfig
from .hub import quiet_diffusers


def write_model_folder(folder: str | Path, unet: torch.nn.Module, schedule: ScheduleConfig, *,
                       vae: torch.nn.Module | None = None, text_encoder=None, meta: dict | None = None,
                       dtype: torch.dtype | None = torch.float16) -> Path:
    """Write a diffusers-layout model folder. ``dtype`` casts the saved U-Net (fp16 for shipped weights;
    None keeps it); ``vae`` (a diffusers autoencoder) and ``text_encoder`` (a
    :class:`~inpaintkit.models.text.PromptEncoder` with a ``transformers`` encoder, or SDXL's pair) make it a
    Stable Diffusion (XL) pipeline folder."""
    folder = Path(folder)
    unet_copy = copy.deepcopy(unet).to("cpu")
    if dtype is not None:
        with quiet_diffusers():
            unet_copy = unet_copy.to(dtype)
    sd = vae is not None or text_encoder is not None
    components = text_encoder.components() if text_encoder is not None else {}
    sdxl = "text_encoder_2" in components
    scheduler_class = "EulerDiscreteScheduler" if sdxl else "DDIMScheduler" if sd else "DDPMScheduler"
    pipeline = "StableDiffusionXLPipeline" if sdxl else "StableDiffusionPipeline" if sd else "DDPMPipeline"
    index = {"_class_name": pipeline, "unet": ["diffusers", type(unet).__name__],
             "scheduler": ["diffusers", scheduler_class]}
    if sdxl:
        index["force_zeros_for_empty_prompt"] = text_encoder.force_zeros_for_empty_prompt
    with atomic_folder(folder) as tmp:
        unet_copy.save_pretrained(tmp / "unet", safe_serialization=True)
        write_json(tmp / "scheduler" / "scheduler_config.json", {"_class_name": scheduler_class, **schedule.to_dict()})
        if vae is not None:
            vae.save_pretrained(tmp / "vae", safe_serialization=True)
            index["vae"] = ["diffusers", type(vae).__name__]
        for name, component in components.items():
            component.save_pretrained(tmp / name, **({} if name.startswith("tokenizer") else {"safe_serialization": True}))
            index[name] = ["transformers", type(component).__name__]
        write_json(tmp / "model_index.json", index)
        if meta:
            write_json(tmp / "inpaintkit.json", meta)
    return folder
