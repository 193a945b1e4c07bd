"""The inpainting problem: an image, a mask (white / 1 = the region to fill) and an optional prompt.

The forward operator is A(x) = (1 - M) * x: we observe the pixels outside the mask. A model has a
fixed resolution, so an image of any size is handled by cropping a padded square box around the
mask, resizing it to the model's resolution, inpainting it, and pasting only the filled region back
into the full-resolution image (optionally with a feathered edge). Known pixels are never touched
unless a feather is asked for, which blends ``feather`` pixels outward from the hole.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

MASK_THRESHOLD = 0.5  # non-binary masks: a pixel is filled where its value (scaled to [0, 1]) is >= 0.5


class InpaintInputError(ValueError):
    """Bad user input: one clear line, nothing written."""


ImageLike = "str | Path | Image.Image | np.ndarray | torch.Tensor"


def _to_array(src, what: str) -> np.ndarray:
    """HWC or HW float array in [0, 1] from a path, PIL image, uint8/float array or tensor."""
    if isinstance(src, (str, Path)):
        path = Path(src)
        if not path.is_file():
            raise InpaintInputError(f"{what} not found: {path}")
        try:
            with Image.open(path) as im:
                src = im.convert("L" if what == "mask" else "RGB")
                src.load()
        except (UnidentifiedImageError, OSError) as e:
            raise InpaintInputError(f"{what} is not a readable image: {path} ({e})") from None
    if isinstance(src, Image.Image):
        src = src.convert("L" if what == "mask" else "RGB")
        return np.asarray(src, dtype=np.float32) / 255.0
    if isinstance(src, torch.Tensor):
        t = src.detach().cpu().float()
        if t.ndim == 4:
            if t.shape[0] != 1:
                raise InpaintInputError(f"{what} tensor must hold one image, got batch {t.shape[0]}")
            t = t[0]
        if t.ndim == 3:  # CHW in [-1, 1] for images, [0, 1] for masks
            t = t.permute(1, 2, 0)
            if what == "image":
                t = (t + 1) / 2
        return t.numpy()
    if isinstance(src, np.ndarray):
        a = src.astype(np.float32)
        return a / 255.0 if src.dtype == np.uint8 else a
    raise InpaintInputError(f"{what}: unsupported type {type(src).__name__}")


def load_image(src) -> torch.Tensor:
    """(1, 3, H, W) float tensor in [-1, 1]. Tensors are taken as CHW in [-1, 1]."""
    a = _to_array(src, "image")
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=-1)
    if a.ndim != 3 or a.shape[-1] not in (3, 4):
        raise InpaintInputError(f"image must be HxWx3, got shape {a.shape}")
    return torch.from_numpy(np.ascontiguousarray(a[..., :3])).permute(2, 0, 1)[None].clamp(0, 1) * 2 - 1


def load_mask(src, size: tuple[int, int] | None = None, resize: bool = False) -> torch.Tensor:
    """(1, 1, H, W) binary float mask, 1 = fill. Values are scaled to [0, 1] and thresholded at 0.5.

    ``size`` is the image's (H, W): a mask of another size is an error unless ``resize`` is set,
    in which case it is resized (bilinear) before thresholding.
    """
    a = _to_array(src, "mask")
    if a.ndim == 3:
        a = a.mean(-1)
    m = torch.from_numpy(np.ascontiguousarray(a))[None, None].float()
    if size is not None and tuple(m.shape[-2:]) != tuple(size):
        if not resize:
            raise InpaintInputError(f"mask size {m.shape[-1]}x{m.shape[-2]} differs from image size "
                                    f"{size[1]}x{size[0]} (use --resize-mask to resize it)")
        m = F.interpolate(m, size=size, mode="bilinear", align_corners=False)
    return (m >= MASK_THRESHOLD).float()


def to_pil(image: torch.Tensor) -> Image.Image:
    """(1, 3, H, W) or (3, H, W) tensor in [-1, 1] to an RGB PIL image."""
    x = image[0] if image.ndim == 4 else image
    a = ((x.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
    return Image.fromarray(a)


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
    """The box's content (reflect/replicate padded where it leaves the image), resized to ``size``."""
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


def paste_back(image: torch.Tensor, mask: torch.Tensor, generated: torch.Tensor, box: CropBox,
               feather: int = 0) -> torch.Tensor:
    """Full-resolution result: ``generated`` (the model-resolution crop) resized into ``box`` and
    blended in where the mask (feathered outward by ``feather`` px) says; elsewhere ``image`` exactly."""
    H, W = image.shape[-2:]
    patch = generated
    if generated.shape[-1] != box.side:
        patch = F.interpolate(generated, size=(box.side, box.side), mode="bicubic", align_corners=False,
                              antialias=True).clamp(-1, 1)
    full = image.clone()
    t0, l0 = max(box.top, 0), max(box.left, 0)
    t1, l1 = min(box.top + box.side, H), min(box.left + box.side, W)
    full[..., t0:t1, l0:l1] = patch[..., t0 - box.top:t1 - box.top, l0 - box.left:l1 - box.left]
    alpha = feather_alpha(mask, feather)
    return torch.where(alpha > 0, alpha * full + (1 - alpha) * image, image)
