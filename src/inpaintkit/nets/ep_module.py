"""LatentPaint's Explicit Propagation module (Corneanu et al. 2024, Eq. 12): mask-wise max pooling of the two
regions of a feature map, an MLP over the two region descriptors, mask-wise unpooling.

    h_hat = gamma^-1[ phi_omega[ gamma(D(m), h) ] ]

Readings (docs/latentpaint.md): the MLP maps the two C-vectors (2C) through a hidden layer (C/4) back to 2C; with
``mode="residual"`` (the default) the unpooled vectors are added to the feature map and the last layer starts
at zero, so an untrained module is the identity; ``mode="replace"`` is the literal Eq. 12. The pooling uses the
binary downsampled known mask (D(m) >= 0.5); a region with no cell at this resolution pools to 0. The unpooling
is soft: D(m) weights the known region's vector, 1 - D(m) the hole's.

Trained modules live in a model folder's ``latentpaint/``, one file per module count (``ep1.safetensors``: the
middle block's input; ``ep2.safetensors``: its input and output), fp16, with their settings in a json beside it.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from ..core.errors import InpaintInputError
from ..core.files import save_tensors, write_json

EP_MODES = ("residual", "replace")


class ExplicitPropagation(nn.Module):
    def __init__(self, channels: int, hidden: int | None = None, mode: str = "residual"):
        super().__init__()
        if mode not in EP_MODES:
            raise ValueError(f"mode must be one of {EP_MODES}, got {mode!r}")
        hidden = hidden or max(8, channels // 4)
        self.channels, self.mode = channels, mode
        self.mlp = nn.Sequential(nn.Linear(2 * channels, hidden), nn.SiLU(), nn.Linear(hidden, 2 * channels))
        if mode == "residual":
            nn.init.zeros_(self.mlp[-1].weight)
            nn.init.zeros_(self.mlp[-1].bias)

    @staticmethod
    def region_max(h: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
        """Max over the positions of ``region`` (B, 1, H, W) of ``h`` (B, C, H, W) -> (B, C); 0 where empty."""
        pooled = h.masked_fill(~region, float("-inf")).amax(dim=(2, 3))
        return torch.where(region.flatten(1).any(1, keepdim=True), pooled, torch.zeros_like(pooled))

    def forward(self, h: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
        """``h`` (B, C, H, W) the merged features, ``known`` (B, 1, H, W) the known fraction D(m) of each cell."""
        binary = known >= 0.5
        descriptors = torch.cat([self.region_max(h, binary), self.region_max(h, ~binary)], dim=1)  # gamma
        o_known, o_hole = self.mlp(descriptors.to(self.mlp[0].weight.dtype)).to(h.dtype).chunk(2, dim=1)  # phi
        unpooled = known * o_known[..., None, None] + (1 - known) * o_hole[..., None, None]  # gamma^-1
        return h + unpooled if self.mode == "residual" else unpooled


def middle_channels(unet) -> int:
    """The channels of the U-Net's middle block, where the modules act."""
    return unet.mid_block.resnets[0].conv1.in_channels


def ep_file_name(count: int) -> str:
    """The weights of ``count`` trained modules inside a model folder's ``latentpaint/``."""
    return f"ep{count}.safetensors"


def save_ep_modules(modules: dict[str, ExplicitPropagation], folder: str | Path, meta: dict) -> Path:
    """``modules`` by location, fp16, into ``folder/ep{len(modules)}.safetensors`` + its json (their settings and
    ``meta``)."""
    first = next(iter(modules.values()))
    file = Path(folder) / ep_file_name(len(modules))
    save_tensors(file, {f"{location}.{k}": v.detach().cpu().half()
                        for location, module in modules.items() for k, v in module.state_dict().items()})
    write_json(file.with_suffix(".json"), {**meta, "locations": list(modules), "channels": first.channels,
                                           "hidden": first.mlp[0].out_features, "mode": first.mode})
    return file


def load_ep_modules(file: str | Path, unet, locations=None) -> dict[str, ExplicitPropagation]:
    """The modules at ``locations`` (default: all the file holds) from ``file`` (written by
    :func:`save_ep_modules`) for ``unet``, in fp32."""
    from safetensors.torch import load_file

    file = Path(file)
    meta_file = file.with_suffix(".json")
    meta = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
    state = load_file(str(file))
    channels = middle_channels(unet)
    modules = {}
    for location in locations or meta["locations"]:
        module = ExplicitPropagation(channels, meta.get("hidden"), meta.get("mode", EP_MODES[0]))
        prefix = f"{location}."
        weights = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        if not weights:
            raise InpaintInputError(f"{file}: no EP weights for location {location!r}")
        module.load_state_dict(weights, strict=True)
        modules[location] = module
    return modules
