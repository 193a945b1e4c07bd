"""Crop geometry and mask arithmetic: a model has a fixed resolution, an image any size.

An image of any size is inpainted by cropping a padded square box around the mask, resizing it to
the model's resolution, inpainting it, and pasting only the filled region back into the
full-resolution image (optionally with a feathered edge). Known pixels are never touched unless a
feather is asked for, which blends ``feather`` pixels outward from the hole. Boxes may reach past
the image's edges (a hole touching the border, outpainting): the crop is padded there by
replicating the edge.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F



@dataclass(frozen=True)
class CropBox:
    """A square window (left, top, side) in full-image pixels; may reach outside the image (padded)."""

    left: int
    top: int
    side: int


def crop_box(mask: torch.Tensor, resolution: int, padding: float = 0.5) -> CropBox:
    """Square box around the mask's bounding box, grown by ``padding`` x its side on each side,
    at least the model's resolution (no upsampling beyond it when the image allows) and at most
    the image's longer side."""
    H, W = mask.shape[-2:]
    ys, xs = torch.nonzero(mask[0, 0] > 0, as_tuple=True)
    y0, y1, x0, x1 = ys.min().item(), ys.max().item() + 1, xs.min().item(), xs.max().item() + 1
    side = int(round(max(y1 - y0, x1 - x0) * (1 + 2 * padding)))
    side = min(max(side, resolution, y1 - y0, x1 - x0), max(H, W))
    cy, cx = (y0 + y1) / 2, (x0 + x1) / 2
    # keep the box inside the image where it fits, centred on the mask otherwise
    top = int(round(min(max(cy - side / 2, 0), H - side))) if side <= H else (H - side) // 2
    left = int(round(min(max(cx - side / 2, 0), W - side))) if side <= W else (W - side) // 2
    return CropBox(left, top, side)


def crop(x: torch.Tensor, box: CropBox, size: int, mode: str) -> torch.Tensor:
    """The box's content (edge-replicated where it leaves the image), resized to ``size``; ``mode``
    "mask" keeps every pixel the hole touches, "image" resamples bicubically."""
    H, W = x.shape[-2:]
    pad = (max(0, -box.left), max(0, box.left + box.side - W), max(0, -box.top), max(0, box.top + box.side - H))
    if any(pad):
        x = F.pad(x, pad, mode="replicate")
    top, left = box.top + pad[2], box.left + pad[0]
    x = x[..., top:top + box.side, left:left + box.side]
    if box.side == size:
        return x
    if mode == "mask":
        return (F.interpolate(x, size=(size, size), mode="area") > 0).float()  # any covered pixel is filled
    return F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False, antialias=True).clamp(-1, 1)


def feather_alpha(mask: torch.Tensor, feather: int) -> torch.Tensor:
    """1 inside the hole, falling linearly to 0 over ``feather`` pixels outside it."""
    if feather <= 0:
        return mask
    import cv2

    m = (mask[0, 0].cpu().numpy() > 0).astype(np.uint8)
    dist = cv2.distanceTransform(1 - m, cv2.DIST_L2, 5)  # distance to the hole, 0 inside it
    alpha = np.clip(1.0 - dist / (feather + 1), 0.0, 1.0)
    return torch.from_numpy(alpha)[None, None].to(mask)


def place(image: torch.Tensor, generated: torch.Tensor, box: CropBox) -> torch.Tensor:
    """``generated`` (n model-resolution crops of one image) resized into ``box`` over n copies of ``image``: the
    method's own pixels wherever its crop reaches, known region included (the result before paste-back)."""
    H, W = image.shape[-2:]
    patch = generated
    if generated.shape[-1] != box.side:
        patch = F.interpolate(generated, size=(box.side, box.side), mode="bicubic", align_corners=False,
                              antialias=True).clamp(-1, 1)
    full = image.repeat(len(generated), 1, 1, 1)
    t0, l0 = max(box.top, 0), max(box.left, 0)
    t1, l1 = min(box.top + box.side, H), min(box.left + box.side, W)
    full[..., t0:t1, l0:l1] = patch[..., t0 - box.top:t1 - box.top, l0 - box.left:l1 - box.left]
    return full


def blend(image: torch.Tensor, mask: torch.Tensor, full: torch.Tensor, feather: int = 0) -> torch.Tensor:
    """``full`` where the mask (feathered outward by ``feather`` px) says; elsewhere ``image`` exactly."""
    alpha = feather_alpha(mask, feather)
    return torch.where(alpha > 0, alpha * full + (1 - alpha) * image, image)


def paste_back(image: torch.Tensor, mask: torch.Tensor, generated: torch.Tensor, box: CropBox,
               feather: int = 0) -> torch.Tensor:
    """Full-resolution results: ``generated`` placed into ``box`` and blended into ``image`` in the hole."""
    return blend(image, mask, place(image, generated, box), feather)


# -- mask arithmetic ---------------------------------------------------------------------------
def dilate(mask: torch.Tensor, pixels: int) -> torch.Tensor:
    """Grow the hole by ``pixels`` (square structuring element, so diagonals count as one step)."""
    if pixels <= 0:
        return mask
    return F.max_pool2d(mask, 2 * pixels + 1, stride=1, padding=pixels)


def erode(mask: torch.Tensor, pixels: int) -> torch.Tensor:
    """Shrink the hole by ``pixels``; the image border does not erode it."""
    return 1 - dilate(1 - mask, pixels)


def feather(mask: torch.Tensor, pixels: int) -> torch.Tensor:
    """Soft alpha for a batch: 1 in the hole, falling linearly to 0 over ``pixels`` outside it (the alpha
    that ``Inpainter(..., feather=pixels)`` blends with)."""
    return torch.cat([feather_alpha(m[None], pixels) for m in mask])


def latent_mask(mask: torch.Tensor, size) -> torch.Tensor:
    """M on a latent grid of ``size`` (h, w): max-pooled, so that every latent cell touching the hole is
    regenerated. The one rule for every latent method, the bench and the trainers that blend latents."""
    return F.adaptive_max_pool2d(mask, size)


def hole_ratio(mask: torch.Tensor) -> float:
    return float(mask.float().mean())


def check_borders(size: tuple[int, int], left: int = 0, right: int = 0, top: int = 0, bottom: int = 0,
                  max_pixels: int | None = None) -> tuple[int, int]:
    """The (height, width) of an image of ``size`` grown by the borders; bad borders are refused."""
    from .errors import InpaintInputError

    borders = {"left": left, "right": right, "top": top, "bottom": bottom}
    if any(not isinstance(v, int) or isinstance(v, bool) or v < 0 for v in borders.values()):
        raise InpaintInputError(f"outpainting borders must be integers >= 0, got {borders}")
    if not any(borders.values()):
        raise InpaintInputError("outpainting needs a border to add (left, right, top or bottom > 0)")
    h, w = size[0] + top + bottom, size[1] + left + right
    if max_pixels is not None and h * w > max_pixels:
        raise InpaintInputError(f"the outpainted canvas {w}x{h} has more than {max_pixels:,} pixels")
    return h, w


def outpaint_canvas(image: torch.Tensor, left: int = 0, right: int = 0, top: int = 0, bottom: int = 0,
                    max_pixels: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The image (1, 3, H, W) on a canvas grown by the given borders, and the mask of those borders (1 = fill).
    The new border starts grey (0): it is what the method fills."""
    H, W = image.shape[-2:]
    h, w = check_borders((H, W), left, right, top, bottom, max_pixels)
    canvas = torch.zeros(1, 3, h, w, dtype=image.dtype)
    canvas[..., top:top + H, left:left + W] = image
    mask = torch.ones(1, 1, h, w)
    mask[..., top:top + H, left:left + W] = 0
    return canvas, mask


def borders_to(size: tuple[int, int], width: int, height: int) -> dict:
    """The borders that centre an image of ``size`` (H, W) on a ``width`` x ``height`` canvas."""
    from .errors import InpaintInputError

    H, W = size
    if width < W or height < H or (width, height) == (W, H):
        raise InpaintInputError(f"--to {width}x{height} must be larger than the image ({W}x{H}) and at least as "
                                "large in both directions")
    return {"left": (width - W) // 2, "right": width - W - (width - W) // 2,
            "top": (height - H) // 2, "bottom": height - H - (height - H) // 2}
