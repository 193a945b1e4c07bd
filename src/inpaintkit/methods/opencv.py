"""Classical inpainting with OpenCV, no model: Telea's fast marching method (Telea 2004) and the
Navier-Stokes method (Bertalmio et al. 2001). Each pixel of the hole is filled from the known
pixels within ``radius`` of it; the image is processed in 8-bit, and the known pixels are returned
exactly as given.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from ..problem import InpaintInputError
from . import Options, register


@dataclass
class OpenCVOptions(Options):
    radius: int = 3  # neighbourhood, in pixels, each hole pixel is filled from


def opencv_inpaint(image: torch.Tensor, mask: torch.Tensor, radius: int, flags: int) -> torch.Tensor:
    """``cv2.inpaint`` on a (1, 3, H, W) image in [-1, 1] and a (1, 1, H, W) mask (1 = fill)."""
    if radius < 1:
        raise InpaintInputError(f"radius must be >= 1, got {radius}")
    pixels = ((image[0].permute(1, 2, 0).cpu().numpy() + 1) * 127.5).round().clip(0, 255).astype(np.uint8)
    hole = (mask[0, 0].cpu().numpy() > 0).astype(np.uint8)
    filled = cv2.inpaint(np.ascontiguousarray(pixels), hole, radius, flags)
    filled = torch.from_numpy(filled).permute(2, 0, 1)[None].to(image) / 127.5 - 1
    return torch.where(mask > 0, filled, image)


@register("opencv-telea", OpenCVOptions, "classical fast-marching inpainting (Telea 2004, OpenCV)", spaces=(),
          paper="Telea 2004")
def opencv_telea(model, image, mask, opts: OpenCVOptions):
    return opencv_inpaint(image, mask, opts.radius, cv2.INPAINT_TELEA)


@register("opencv-ns", OpenCVOptions, "classical Navier-Stokes inpainting (Bertalmio et al. 2001, OpenCV)",
          spaces=(), paper="Bertalmio et al. 2001")
def opencv_ns(model, image, mask, opts: OpenCVOptions):
    return opencv_inpaint(image, mask, opts.radius, cv2.INPAINT_NS)
