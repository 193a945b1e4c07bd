"""Training and evaluation images: folders of photos, CelebA's aligned-face crop."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
# The usual CelebA crop (used by DDPM/DDIM on CelebA 64): the central 140x140 of the 178x218 frame.
CELEBA_CROP = 140


def list_images(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder not found: {folder}")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def center_crop_resize(img: Image.Image, size: int, crop: int | None = CELEBA_CROP) -> Image.Image:
    """Central ``crop`` square (or the largest central square if ``crop`` is None), resized to ``size``."""
    w, h = img.size
    c = min(w, h) if crop is None else min(crop, w, h)
    left, top = (w - c) // 2, (h - c) // 2
    return img.crop((left, top, left + c, top + c)).resize((size, size), Image.BICUBIC)


def load_image_tensor(paths, size: int, crop: int | None = CELEBA_CROP, progress: bool = True) -> torch.Tensor:
    """Images as one (N, 3, size, size) float tensor in [-1, 1]."""
    out = np.empty((len(paths), size, size, 3), dtype=np.uint8)
    for i, p in enumerate(tqdm(paths, desc="loading images", disable=not progress)):
        out[i] = np.asarray(center_crop_resize(Image.open(p).convert("RGB"), size, crop))
    return torch.from_numpy(out).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)
