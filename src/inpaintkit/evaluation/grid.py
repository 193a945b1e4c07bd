"""Labelled image grids: sample sheets, method comparisons, trajectories."""
from __future__ import annotations

import torch
from PIL import Image, ImageDraw, ImageFont

from ..core.images import to_pil

LABEL_SIZE = 11
LINE_HEIGHT = 14  # px per line of a wrapped column title


def label_font(size: int = LABEL_SIZE) -> ImageFont.ImageFont:
    """DejaVu Sans from matplotlib's data (PIL's default font at this size renders spaces almost zero wide)."""
    from pathlib import Path

    import matplotlib

    path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    return ImageFont.truetype(str(path), size) if path.is_file() else ImageFont.load_default(size)


def image_grid(rows: list[list[torch.Tensor | Image.Image]], col_labels: list[str] | None = None,
               row_labels: list[str] | None = None, cell: int = 128, pad: int = 2) -> Image.Image:
    """A grid of images (tensors in [-1, 1] or PIL), each resized to ``cell`` px (nearest when enlarging
    small images, so pixels stay visible), with optional column titles (wrapped at spaces to the cell's width)
    and row labels."""
    font = label_font()
    titles = [_wrap(label, font, cell) for label in col_labels or []]
    top = LINE_HEIGHT * max(map(len, titles)) + 2 if titles else 0
    left = max((int(font.getlength(s)) for s in row_labels), default=0) + 6 if row_labels else 0
    ncols = max(len(r) for r in rows)
    sheet = Image.new("RGB", (left + ncols * (cell + pad) + pad, top + len(rows) * (cell + pad) + pad), "white")
    draw = ImageDraw.Draw(sheet)
    for j, lines in enumerate(titles):
        for k, line in enumerate(lines):
            x = left + pad + j * (cell + pad) + (cell - font.getlength(line)) / 2
            draw.text((x, 2 + LINE_HEIGHT * k), line, fill="black", font=font)
    for i, row in enumerate(rows):
        y = top + pad + i * (cell + pad)
        if row_labels:
            draw.text((2, y + cell / 2 - 6), row_labels[i], fill="black", font=font)
        for j, im in enumerate(row):
            im = to_pil(im) if isinstance(im, torch.Tensor) else im.convert("RGB")
            resample = Image.NEAREST if im.width < cell else Image.BICUBIC
            sheet.paste(im.resize((cell, cell), resample), (left + pad + j * (cell + pad), y))
    return sheet


def _wrap(text: str, font: ImageFont.ImageFont, width: int) -> list[str]:
    """Greedy word wrap to ``width`` px (a single word wider than that keeps its own line)."""
    lines: list[str] = []
    for word in text.split(" "):
        if lines and font.getlength(f"{lines[-1]} {word}") <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines or [""]
