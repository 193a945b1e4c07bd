"""Labelled image grids: sample sheets, method comparisons, trajectories."""
from __future__ import annotations

import torch
from PIL import Image, ImageDraw, ImageFont

from ..core.images import to_pil

LABEL_SIZE = 11


def label_font(size: int = LABEL_SIZE) -> ImageFont.ImageFont:
    """DejaVu Sans from matplotlib's data (PIL's default font at this size renders spaces almost zero wide)."""
    from pathlib import Path

    import matplotlib

    path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    return ImageFont.truetype(str(path), size) if path.is_file() else ImageFont.load_default(size)


def image_grid(rows: list[list[torch.Tensor | Image.Image]], col_labels: list[str] | None = None,
               row_labels: list[str] | None = None, cell: int = 128, pad: int = 2) -> Image.Image:
    """A grid of images (tensors in [-1, 1] or PIL), each resized to ``cell`` px (nearest when enlarging
    small images, so pixels stay visible), with optional column titles and row labels."""
    font = label_font()
    top = 16 if col_labels else 0
    left = max((int(font.getlength(s)) for s in row_labels), default=0) + 6 if row_labels else 0
    ncols = max(len(r) for r in rows)
    sheet = Image.new("RGB", (left + ncols * (cell + pad) + pad, top + len(rows) * (cell + pad) + pad), "white")
    draw = ImageDraw.Draw(sheet)
    for j, label in enumerate(col_labels or []):
        x = left + pad + j * (cell + pad) + (cell - font.getlength(label)) / 2
        draw.text((x, 2), label, fill="black", font=font)
    for i, row in enumerate(rows):
        y = top + pad + i * (cell + pad)
        if row_labels:
            draw.text((2, y + cell / 2 - 6), row_labels[i], fill="black", font=font)
        for j, im in enumerate(row):
            im = to_pil(im) if isinstance(im, torch.Tensor) else im.convert("RGB")
            resample = Image.NEAREST if im.width < cell else Image.BICUBIC
            sheet.paste(im.resize((cell, cell), resample), (left + pad + j * (cell + pad), y))
    return sheet
