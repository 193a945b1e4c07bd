"""Precision of the networks: fp32, or the bf16 fast path (``precision="bf16"``, or ``"auto"``: bf16 where the
hardware computes it natively, a GPU or a CPU with AVX512-BF16 / AMX, fp32 elsewhere).

The bf16 path casts the U-Net and the autoencoder's weights to bf16 and runs them channels-last (the layout
oneDNN's bf16 convolutions are fastest in); what needs fp32 stays fp32: the samples x_t and every step of the
schedule's arithmetic, the losses of gradient methods, the known-region paste-back, and the text encoder.
Its quality cost on the project's tables and its speed are in docs/speed.md.
"""
from __future__ import annotations

import torch

from ..core.errors import InpaintInputError
from .hub import quiet_diffusers

PRECISIONS = ("fp32", "bf16", "auto")


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 natively (CUDA with bf16, or a CPU oneDNN runs bf16 on)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return False


def resolve_precision(precision: str, device: torch.device) -> torch.dtype:
    if precision not in PRECISIONS:
        raise InpaintInputError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "auto":
        return torch.bfloat16 if native_bf16(device) else torch.float32
    return torch.bfloat16 if precision == "bf16" else torch.float32


def set_precision(model, precision: str) -> torch.dtype:
    """Cast ``model``'s U-Net and autoencoder for ``precision``; returns the dtype chosen."""
    dtype = resolve_precision(precision, model.device)
    layout = torch.channels_last if dtype == torch.bfloat16 else torch.contiguous_format
    with quiet_diffusers():
        model.unet.to(dtype=dtype, memory_format=layout)
        if model.autoencoder is not None:
            model.autoencoder.vae.to(dtype=dtype, memory_format=torch.channels_last)
    return dtype
