"""Inpainting masks for evaluation: white / 1 = the region to fill, every generator seeded.

Each generator returns a (1, 1, H, W) float tensor of 0/1 and draws its randomness only from the
``numpy.random.Generator`` it is given, so ``mask_from_name(name, size, seed)`` is reproducible on
every machine. Mask sets by name (:data:`MASK_SETS`, ``mask_from_name``):

- ``thin``, ``medium``, ``thick``: LaMa's random masks (Suvorov et al. 2022), the protocol of the
  LatentPaint and GradPaint papers; see :data:`LAMA_SETTINGS`;
- ``nvidia-00-10`` ... ``nvidia-50-60``: the NVIDIA irregular test masks (Liu et al. 2018) whose
  hole ratio lies in the named bin;
- ``box-center``, ``box-random``, ``half-left/right/top/bottom``, ``expand`` (outpainting border),
  ``lines`` (alternating rows), ``pixels-80`` (each pixel filled with probability 80 %, GradPaint
  §4.4; any ``pixels-NN`` works).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from ..core.errors import InpaintInputError
from ..core.geometry import hole_ratio
from ..core.images import resize_mask
from .images import resolve_data

LAMA_CANVAS = 256  # LaMa's settings are for images whose shorter side is 256 px
MAX_HOLE_RATIO = 0.5  # LaMa's ``max_tamper_area``: masks covering more are drawn again
NVIDIA_MASKS = "data:masks/nvidia-irregular"  # found where inpaintkit.core.env looks for data
NVIDIA_BIN_FILES = 2000  # the test set holds 2,000 masks per 10 % hole-ratio bin, numbered in ratio order


@dataclass(frozen=True)
class Strokes:
    """``irregular_kwargs`` of LaMa's RandomIrregularMaskGenerator (lengths in px at 256)."""

    min_times: int
    max_times: int
    max_width: int
    max_angle: int
    max_len: int


@dataclass(frozen=True)
class Boxes:
    """``box_kwargs`` of LaMa's RandomRectangleMaskGenerator (sizes in px at 256)."""

    margin: int
    min_size: int
    max_size: int
    min_times: int
    max_times: int


@dataclass(frozen=True)
class LamaSettings:
    strokes: Strokes
    boxes: Boxes | None
    box_proba: float  # relative weight of the box generator against the strokes' weight of 1


# The values of LaMa's configs/data_gen/random_{thin,medium,thick}_256.yaml (github.com/advimman/lama),
# used by its bin/gen_mask_dataset.py to make the thin/medium/thick evaluation sets at 256x256.
LAMA_SETTINGS: dict[str, LamaSettings] = {
    "thin": LamaSettings(Strokes(min_times=4, max_times=50, max_width=10, max_angle=4, max_len=40), None, 0.0),
    "medium": LamaSettings(Strokes(min_times=4, max_times=5, max_width=50, max_angle=4, max_len=100),
                           Boxes(margin=0, min_size=10, max_size=50, min_times=1, max_times=5), 0.3),
    "thick": LamaSettings(Strokes(min_times=1, max_times=5, max_width=100, max_angle=4, max_len=200),
                          Boxes(margin=10, min_size=30, max_size=150, min_times=1, max_times=3), 0.3),
}


def _size(size) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


def _tensor(mask: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(mask > 0)).float()[None, None]


# -- LaMa random masks ------------------------------------------------------------------------
def _strokes(shape, s: Strokes, rng: np.random.Generator) -> np.ndarray:
    """Random polylines as LaMa's make_random_irregular_mask draws them: each stroke has 1-5 segments
    turning by 0.01 + {0..max_angle-1} rad (mirrored on even strokes), 10 + U{0..max_len-1} px long and
    5 + U{0..max_width-1} px wide. The stroke count is U{min_times..max_times + 1}, as the generator's
    ramp-free call passes max_times + 1."""
    h, w = shape
    mask = np.zeros((h, w), np.float32)
    for i in range(rng.integers(s.min_times, s.max_times + 2)):
        x, y = int(rng.integers(w)), int(rng.integers(h))
        for _ in range(1 + rng.integers(5)):
            angle = 0.01 + rng.integers(s.max_angle)
            if i % 2 == 0:
                angle = 2 * 3.1415926 - angle
            length = 10 + rng.integers(s.max_len)
            width = 5 + int(rng.integers(s.max_width))
            x_end = int(np.clip(int(x + length * np.sin(angle)), 0, w))
            y_end = int(np.clip(int(y + length * np.cos(angle)), 0, h))
            cv2.line(mask, (x, y), (x_end, y_end), 1.0, width)
            x, y = x_end, y_end
    return mask


def _boxes(shape, b: Boxes, rng: np.random.Generator) -> np.ndarray:
    """U{min_times..max_times} axis-aligned boxes with sides U{min_size..max_size}, ``margin`` px from the
    border (LaMa's make_random_rectangle_mask as its generator calls it)."""
    h, w = shape
    mask = np.zeros((h, w), np.float32)
    max_size = min(b.max_size + 1, h - 2 * b.margin, w - 2 * b.margin)
    for _ in range(rng.integers(b.min_times, b.max_times + 1)):
        bw, bh = int(rng.integers(b.min_size, max_size)), int(rng.integers(b.min_size, max_size))
        x0 = int(rng.integers(b.margin, w - b.margin - bw + 1))
        y0 = int(rng.integers(b.margin, h - b.margin - bh + 1))
        mask[y0:y0 + bh, x0:x0 + bw] = 1
    return mask


def lama_mask(kind: str, size, rng: np.random.Generator) -> torch.Tensor:
    """A LaMa ``thin`` / ``medium`` / ``thick`` mask.

    As in LaMa's bin/gen_mask_dataset.py: the mask is drawn on a canvas whose shorter side is 256 px
    (the image's aspect ratio kept), by the strokes generator or, with odds ``box_proba`` : 1, the box
    generator (LaMa's MixedMaskGenerator); a mask covering more than :data:`MAX_HOLE_RATIO` is drawn
    again (``max_tamper_area``). Other sizes: the 256-px mask is resized with :func:`resize_mask`.
    """
    settings = LAMA_SETTINGS[kind]
    h, w = _size(size)
    scale = LAMA_CANVAS / min(h, w)
    canvas = (round(h * scale), round(w * scale))
    while True:
        use_boxes = settings.boxes is not None and rng.random() < settings.box_proba / (1 + settings.box_proba)
        m = _boxes(canvas, settings.boxes, rng) if use_boxes else _strokes(canvas, settings.strokes, rng)
        if m.mean() <= MAX_HOLE_RATIO:
            break
    mask = _tensor(m)
    return mask if canvas == (h, w) else resize_mask(mask, (h, w))


# -- NVIDIA irregular masks -------------------------------------------------------------------
def nvidia_mask(ratio_bin: int, size, rng: np.random.Generator, folder: str | Path = NVIDIA_MASKS) -> torch.Tensor:
    """A random NVIDIA irregular test mask whose hole ratio lies in [10 * bin, 10 * (bin + 1)) %.

    The files are numbered in order of hole ratio, 2,000 per bin; a mask is drawn from its bin's
    files and drawn again until its measured ratio (at 512x512) lies in the bin. The mask is then
    resized to ``size`` with :func:`resize_mask`.
    """
    folder = resolve_data(folder)
    lo, hi = ratio_bin / 10, (ratio_bin + 1) / 10
    for _ in range(100):
        index = ratio_bin * NVIDIA_BIN_FILES + int(rng.integers(NVIDIA_BIN_FILES))
        with Image.open(folder / f"{index:05d}.png") as im:
            m = np.asarray(im.convert("L")) >= 128
        if lo <= m.mean() < hi:
            return resize_mask(_tensor(m), _size(size))
    raise ValueError(f"no mask of {folder} in the {lo:.0%}-{hi:.0%} bin after 100 draws")


# -- geometric masks --------------------------------------------------------------------------
def box_mask(size, side: float = 0.5, rng: np.random.Generator | None = None) -> torch.Tensor:
    """A box of ``side`` x the image's height and width, centred (``rng`` None) or placed uniformly."""
    h, w = _size(size)
    bh, bw = round(h * side), round(w * side)
    y0, x0 = ((h - bh) // 2, (w - bw) // 2) if rng is None else (int(rng.integers(h - bh + 1)), int(rng.integers(w - bw + 1)))
    m = np.zeros((h, w), bool)
    m[y0:y0 + bh, x0:x0 + bw] = True
    return _tensor(m)


def half_mask(size, side: str) -> torch.Tensor:
    """The ``left``, ``right``, ``top`` or ``bottom`` half (the larger half for odd sizes)."""
    h, w = _size(size)
    m = np.zeros((h, w), bool)
    cut = {"left": (slice(None), slice(0, (w + 1) // 2)), "right": (slice(None), slice(w // 2, None)),
           "top": (slice(0, (h + 1) // 2), slice(None)), "bottom": (slice(h // 2, None), slice(None))}
    m[cut[side]] = True
    return _tensor(m)


def expand_mask(size, border: float = 0.25) -> torch.Tensor:
    """Outpainting: a border of ``border`` x the side on all four sides is filled, the centre kept."""
    h, w = _size(size)
    bh, bw = round(h * border), round(w * border)
    m = np.ones((h, w), bool)
    m[bh:h - bh, bw:w - bw] = False
    return _tensor(m)


def lines_mask(size, period: int = 2) -> torch.Tensor:
    """Alternating lines: every ``period``-th row (rows 1, 1 + period, ...) is filled."""
    h, w = _size(size)
    m = np.zeros((h, w), bool)
    m[1::period] = True
    return _tensor(m)


def random_pixels_mask(size, ratio: float, rng: np.random.Generator) -> torch.Tensor:
    """Each pixel filled independently with probability ``ratio`` (GradPaint's 80 % masks: 0.8)."""
    return _tensor(rng.random(_size(size)) < ratio)


# -- mask sets by name ------------------------------------------------------------------------
NVIDIA_SETS = [f"nvidia-{10 * b:02d}-{10 * (b + 1):02d}" for b in range(6)]
MASK_SETS = ["thin", "medium", "thick", *NVIDIA_SETS, "box-center", "box-random", "half-left", "half-right",
             "half-top", "half-bottom", "expand", "lines", "pixels-80"]


def _pixels_ratio(name: str) -> float | None:
    """The fill probability of a ``pixels-NN`` set name, None for other names."""
    if name.startswith("pixels-") and name[7:].isdigit() and 0 < int(name[7:]) < 100:
        return int(name[7:]) / 100
    return None


def check_mask_set(name: str) -> None:
    """Refuse an unknown mask-set name (before any work is done)."""
    if name not in MASK_SETS and _pixels_ratio(name) is None:
        raise InpaintInputError(f"unknown mask set {name!r}; available: {', '.join(MASK_SETS)} (or pixels-NN)")


def mask_from_name(name: str, size, seed: int) -> torch.Tensor:
    """The mask of set ``name`` (:data:`MASK_SETS`, or ``pixels-NN`` for any NN %) drawn with ``seed``."""
    check_mask_set(name)
    rng = np.random.default_rng(seed)
    if name in LAMA_SETTINGS:
        return lama_mask(name, size, rng)
    if name in NVIDIA_SETS:
        return nvidia_mask(NVIDIA_SETS.index(name), size, rng)
    if name in ("box-center", "box-random"):
        return box_mask(size, rng=None if name == "box-center" else rng)
    if name.startswith("half-"):
        return half_mask(size, name[5:])
    if name == "expand":
        return expand_mask(size)
    if name == "lines":
        return lines_mask(size)
    return random_pixels_mask(size, _pixels_ratio(name), rng)


def hole_ratio_stats(name: str, size=256, n: int = 1000, seed: int = 0) -> tuple[float, float]:
    """Mean and standard deviation of the hole ratio of ``n`` masks of set ``name`` (seeds seed..seed+n-1)."""
    ratios = np.array([hole_ratio(mask_from_name(name, size, seed + i)) for i in range(n)])
    return float(ratios.mean()), float(ratios.std())


__all__ = ["LAMA_SETTINGS", "MASK_SETS", "mask_from_name", "lama_mask", "nvidia_mask", "box_mask", "half_mask",
           "expand_mask", "lines_mask", "random_pixels_mask", "hole_ratio_stats", "check_mask_set"]


def draw_masks(weights: dict[str, float], resolution: int, n: int, generator: torch.Generator) -> torch.Tensor:
    """n masks (n, 1, R, R), 1 = fill, each from a set drawn with probability proportional to ``weights``
    ({set name: weight}) and its own seed, every draw from ``generator`` (training: a resumed run draws the same)."""
    names = list(weights)
    choice = torch.multinomial(torch.tensor([float(weights[k]) for k in names]), n, replacement=True,
                               generator=generator)
    seeds = torch.randint(0, 2**31 - 1, (n,), generator=generator)
    return torch.cat([mask_from_name(names[c], resolution, int(s)) for c, s in zip(choice.tolist(), seeds.tolist())])
