"""Memory options for large models (Stable Diffusion class), each independent of the others:

- ``unet_dtype`` / ``vae_dtype`` / ``text_dtype``: the weights of each component in fp16, bf16 or fp32
  (half precision halves a component's memory; the samples and the schedule's arithmetic stay fp32);
- ``vae_tiling``: encode and decode in overlapping tiles (the activations of one tile at a time: large images
  decode in bounded memory; results differ slightly at tile seams, blended by the autoencoder's own overlap);
- ``vae_slicing``: one image of a batch at a time through the autoencoder (exact);
- ``cpu_offload``: the components stay in CPU memory and each moves to the GPU for its own forward pass, the
  previous one back (accelerate's ``cpu_offload_with_hook``, diffusers' model offload; the peak GPU memory is the
  largest component's; exact);
- ``channels_last``: the U-Net's convolutions in the NHWC layout (faster with half precision on GPUs; exact up
  to rounding).

PyTorch's scaled-dot-product attention, which diffusers uses by default, already avoids materialising the
attention matrix where a fused kernel exists.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..core.errors import InpaintInputError
from .hub import quiet_diffusers

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


@dataclass
class MemoryOptions:
    unet_dtype: str | None = None
    vae_dtype: str | None = None
    text_dtype: str | None = None
    vae_tiling: bool = False
    vae_slicing: bool = False
    cpu_offload: bool = False
    channels_last: bool = False


    @classmethod
    def parse(cls, items: list[str]) -> "MemoryOptions":
        """From the CLI's ``--memory`` words: ``cpu-offload``, ``vae-tiling``, ``vae-slicing``, ``channels-last``,
        ``unet=DTYPE``, ``vae=DTYPE``, ``text=DTYPE`` (DTYPE one of fp32, fp16, bf16)."""
        options = cls()
        for item in items:
            key, _, value = item.partition("=")
            key = key.strip().replace("-", "_")
            if value and key in ("unet", "vae", "text"):
                dtype_of(value.strip())
                setattr(options, f"{key}_dtype", value.strip())
            elif not value and key in ("cpu_offload", "vae_tiling", "vae_slicing", "channels_last"):
                setattr(options, key, True)
            else:
                raise InpaintInputError(f"--memory {item!r}: expected cpu-offload, vae-tiling, vae-slicing, "
                                        f"channels-last, unet=DTYPE, vae=DTYPE or text=DTYPE ({', '.join(DTYPES)})")
        return options


def dtype_of(name: str | None) -> torch.dtype | None:
    if name is None:
        return None
    if name not in DTYPES:
        raise InpaintInputError(f"dtype must be one of {', '.join(DTYPES)}, got {name!r}")
    return DTYPES[name]


def apply_memory_options(model, options: MemoryOptions, device: torch.device) -> None:
    """Apply ``options`` to ``model`` (in place)."""
    with quiet_diffusers():
        if options.unet_dtype:
            model.unet.to(dtype_of(options.unet_dtype))
        if options.vae_dtype and model.autoencoder is not None:
            model.autoencoder.vae.to(dtype_of(options.vae_dtype))
        if options.text_dtype and model.text_encoder is not None:
            model.text_encoder.to(dtype_of(options.text_dtype))
        if options.channels_last:
            model.unet.to(memory_format=torch.channels_last)
    vae = model.autoencoder.vae if model.autoencoder is not None else None
    if options.vae_tiling:
        if vae is None:
            raise InpaintInputError("vae_tiling: the model has no autoencoder")
        vae.enable_tiling()
    if options.vae_slicing:
        if vae is None:
            raise InpaintInputError("vae_slicing: the model has no autoencoder")
        vae.enable_slicing()
    if options.cpu_offload:
        from accelerate import cpu_offload_with_hook

        hook = None
        for module in (getattr(model.text_encoder, "encoder", None), model.unet, vae):
            if module is not None:
                module.to("cpu")
                _, hook = cpu_offload_with_hook(module, execution_device=device, prev_module_hook=hook)
        model.execution_device = device
