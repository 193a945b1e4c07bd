"""ControlNet (Zhang et al. 2023) as an add-on of a denoiser: a diffusers ``ControlNetModel`` whose residuals enter
the U-Net's skip connections and middle block, computed from the current sample and a conditioning image."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..core.errors import InpaintInputError
from .hub import download, load_component_class, quiet_diffusers


def load_controlnet(source: str | Path, device="cpu", dtype: torch.dtype | None = None,
                    model_folder: Path | None = None):
    """A ``ControlNetModel`` from a local folder, the model folder's ``controlnet-<source>`` (the built-in
    ``cifar10-text`` ships ``controlnet-canny``: ``source="canny"``) or a hub id."""
    from diffusers import ControlNetModel

    folder = Path(source)
    shipped = Path(model_folder) / f"controlnet-{source}" if model_folder is not None else None
    if not folder.exists() and shipped is not None and shipped.is_dir():
        folder = shipped
    if not folder.exists():
        if str(source).count("/") != 1:
            raise InpaintInputError(f"controlnet {source!r}: neither a folder, nor a ControlNet shipped with the "
                                    f"model (controlnet-<name> in its folder), nor a hub id")
        folder = download(str(source), "controlnet")
    return load_component_class(ControlNetModel, folder, dtype).to(device).eval()


def canny_map(image: torch.Tensor, low: int = 100, high: int = 200) -> torch.Tensor:
    """Canny edges of images (B, 3, H, W) in [-1, 1] as (B, 3, H, W) in [0, 1] (white edges): the control map
    ControlNets for edges are trained on."""
    import cv2

    out = []
    for x in image:
        pixels = ((x.permute(1, 2, 0).detach().cpu().numpy() + 1) * 127.5).round().clip(0, 255).astype(np.uint8)
        edges = cv2.Canny(pixels, low, high).astype(np.float32) / 255.0
        out.append(torch.from_numpy(edges)[None].expand(3, -1, -1))
    return torch.stack(out).to(image.device)


def residuals(controlnet, x: torch.Tensor, t, embeds: torch.Tensor, control: torch.Tensor, scale: float = 1.0) -> dict:
    """The U-Net keyword arguments that add the ControlNet's residuals for ``x`` at ``t``."""
    t = torch.as_tensor(t, device=x.device).reshape(-1).expand(x.shape[0])
    with quiet_diffusers():
        down, mid = controlnet(x.to(controlnet.dtype), t, encoder_hidden_states=embeds.to(controlnet.dtype),
                               controlnet_cond=control.to(x.device, controlnet.dtype), conditioning_scale=scale,
                               return_dict=False)
    return {"down_block_additional_residuals": list(down), "mid_block_additional_residual": mid}
