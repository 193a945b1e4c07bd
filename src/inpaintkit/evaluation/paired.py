"""Paired differences between two rows of a bench, image by image.

Rows of one run see the same images, masks, seeds and noise, so the difference of a metric between two rows is
best read image by image: the mean of the per-image differences, its standard error, and the number of images
on which the row does better than the base row. An image's value is the mean over its completions (several per
image in a VIPaint run). A base row may come from another run of the same images, masks and seeds (the bench's
noise depends on the seed and the image, not on the method): the images are checked to be the same files.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.errors import InpaintInputError

# (per-image metric, markdown header, direction: -1 = lower is better, format of the difference)
PAIRED_METRICS = [("lpips_alex", "LPIPS-alex", -1, "{:+.4f} ± {:.4f}"),
                  ("lpips_vgg", "LPIPS-vgg", -1, "{:+.4f} ± {:.4f}"),
                  ("color_distance", "CD", -1, "{:+.2f} ± {:.2f}"),
                  ("ssim_hole", "SSIM hole", 1, "{:+.4f} ± {:.4f}"),
                  ("prompt_accuracy", "prompt acc.", 1, "{:+.3f} ± {:.3f}")]


def image_means(entries: list[dict], values: dict[str, np.ndarray]) -> dict[tuple, dict[str, float]]:
    """Each (ground-truth image, seed)'s metrics, the mean over its completions; ``values`` are per entry."""
    by_image: dict[tuple, list[int]] = {}
    for i, e in enumerate(entries):
        by_image.setdefault((e["gt"], e["seed"]), []).append(i)
    return {key: {m: float(np.mean(values[m][rows])) for m, *_ in PAIRED_METRICS if values.get(m) is not None}
            for key, rows in by_image.items()}


def check_same_images(base_root: Path, base: list[dict], root: Path, entries: list[dict]) -> None:
    """Rows from two runs pair only where they hold the same ground truth and mask files (each image read once,
    however many rows ``entries`` hold)."""
    masks = {(e["gt"], e["seed"]): e["mask"] for e in base}
    for key, e in {(e["gt"], e["seed"]): e for e in entries}.items():
        if key not in masks:
            continue
        for a, b in ((base_root / e["gt"], root / e["gt"]), (base_root / masks[key], root / e["mask"])):
            if a.read_bytes() != b.read_bytes():
                raise InpaintInputError(f"{a} and {b} differ: the two runs do not share their images and masks")


def paired_difference(base: dict[tuple, dict[str, float]], row: dict[tuple, dict[str, float]]) -> dict:
    """Per metric: the mean of row - base over the images both have, its standard error, and the images on
    which the row is better; None for a metric either side lacks."""
    shared = sorted(set(base) & set(row))
    out: dict = {"n": len(shared)}
    for metric, _, direction, _ in PAIRED_METRICS:
        if len(shared) < 2 or any(metric not in base[k] or metric not in row[k] for k in shared):
            out[metric] = None
            continue
        d = np.array([row[k][metric] - base[k][metric] for k in shared])
        d = d[np.isfinite(d)]  # an image with an empty hole has no SSIM there (NaN): left out
        out[metric] = {"mean": float(d.mean()), "se": float(d.std(ddof=1) / np.sqrt(len(d))),
                       "better": int((direction * d > 0).sum()), "n": len(d)}
    return out


def markdown_paired(base_label: str, rows: list[dict]) -> str:
    """A table of paired differences: one line per (mask set, method), each cell mean ± s.e. (images better)."""
    metrics = [m for m in PAIRED_METRICS if any(r[m[0]] is not None for r in rows)]
    lines = [f"## Paired against {base_label}\n",
             "| masks | method | n | " + " | ".join(f"Δ {h}" for _, h, _, _ in metrics) + " |",
             "|" + "---|" * (3 + len(metrics))]
    for r in rows:
        cells = ["-" if r[m] is None else fmt.format(r[m]["mean"], r[m]["se"]) + f" ({r[m]['better']})"
                 for m, _, _, fmt in metrics]
        lines.append(f"| {r['mask_set']} | {r['method']} | {r['n']} | " + " | ".join(cells) + " |")
    lines.append(f"\nThe row minus {base_label}, image by image over the n images both have: mean ± its standard "
                 "error, and in brackets the images on which the row is better (lower LPIPS and CD, higher SSIM "
                 "and prompt accuracy).")
    return "\n".join(lines) + "\n"
