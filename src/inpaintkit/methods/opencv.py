"""Classical inpainting with OpenCV, no model: Telea's fast marching method (Telea 2004) and the
Navier-Stokes method (Bertalmio et al. 2001). Each pixel of the hole is filled from the known
pixels within ``radius`` of it; the image is processed in 8-bit, and the known pixels are returned
exactly as given. Same call shape as every method, with ``model=None`` and a pixel-space task.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from ..core.options import option
from .registry import Options, register


@dataclass
class OpenCVOptions(Options):
    radius: int = option(3, ge=1, help="neighbourhood, in pixels, each hole pixel is filled from")


def opencv_inpaint(image: torch.Tensor, mask: torch.Tensor, radius: int, flags: int) -> torch.Tensor:
    """``cv2.inpaint`` on images (B, 3, H, W) in [-1, 1] and masks (B, 1, H, W) (1 = fill)."""
    out = []
    for x, m in zip(image, mask):
        pixels = ((x.permute(1, 2, 0).cpu().numpy() + 1) * 127.5).round().clip(0, 255).astype(np.uint8)
        hole = (m[0].cpu().numpy() > 0).astype(np.uint8)
        filled = cv2.inpaint(np.ascontiguousarray(pixels), hole, radius, flags)
        out.append(torch.from_numpy(filled).permute(2, 0, 1).to(image) / 127.5 - 1)
    return torch.where(mask > 0, torch.stack(out), image)


@register("opencv-telea", OpenCVOptions, "classical fast-marching inpainting (Telea 2004, OpenCV)", spaces=(),
          paper="Telea 2004")
def opencv_telea(model, task, opts: OpenCVOptions, callback=None):
    return opencv_inpaint(task.image, task.mask, opts.radius, cv2.INPAINT_TELEA)


@register("opencv-ns", OpenCVOptions, "classical Navier-Stokes inpainting (Bertalmio et al. 2001, OpenCV)",
          spaces=(), paper="Bertalmio et al. 2001")
def opencv_ns(model, task, opts: OpenCVOptions, callback=None):
    return opencv_inpaint(task.image, task.mask, opts.radius, cv2.INPAINT_NS)
