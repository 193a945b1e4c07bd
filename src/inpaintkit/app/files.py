"""Files for the command line: pairing image and mask folders, checking and writing outputs.

An output is written to a hidden temporary file in its own folder and renamed into place
(:mod:`inpaintkit.core.files`), so a killed run never leaves a half-written image, and an interrupted
folder run resumes by skipping the outputs that already exist.

Output formats: PNG, BMP and TIFF keep every pixel; WebP is written lossless; JPEG is lossy, so pixels
outside the mask change too (by a few levels at quality 95): it is written with a warning.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from ..core.errors import InpaintInputError
from ..core.files import save_image
from ..core.images import IMAGE_SUFFIXES
from ..data.images import list_images

LOSSY_SUFFIXES = (".jpg", ".jpeg")
SAVE_PARAMETERS = {".jpg": {"quality": 95}, ".jpeg": {"quality": 95}, ".webp": {"lossless": True}}

MASK_SUFFIX = "_mask"  # a mask may be named <stem>.png or <stem>_mask.png


@dataclass(frozen=True)
class Pair:
    """One image to inpaint, its mask, and the output files it makes (one per sample)."""

    image: Path
    mask: Path
    outputs: tuple[Path, ...]


def output_paths(out: Path, num_samples: int) -> tuple[Path, ...]:
    """``out`` itself for one sample, else ``<stem>_<k><suffix>`` for k = 0 .. num_samples - 1."""
    if num_samples == 1:
        return (out,)
    return tuple(out.with_name(f"{out.stem}_{k}{out.suffix}") for k in range(num_samples))


def image_format(path: Path) -> str:
    """PIL's format name for an output path's extension."""
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None or path.suffix.lower() not in IMAGE_SUFFIXES:
        raise InpaintInputError(f"output {path}: unsupported extension {path.suffix!r}; "
                                f"use one of {', '.join(IMAGE_SUFFIXES)}")
    return fmt


def check_writable(path: Path) -> None:
    """Raise unless ``path``'s folder exists and is writable, or could be created (its nearest existing
    ancestor is a writable folder). Creates nothing."""
    if Path(path).is_dir():
        raise InpaintInputError(f"cannot write {path}: it is a folder")
    folder = Path(path).absolute().parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise InpaintInputError(f"cannot write {path}: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InpaintInputError(f"cannot write {path}: folder {folder} is not writable")


def is_lossy(path: Path) -> bool:
    return Path(path).suffix.lower() in LOSSY_SUFFIXES


def write_output(image: Image.Image, path: str | Path) -> Path:
    """Write an output image atomically (parents created), in the format of its extension (WebP lossless)."""
    path = Path(path)
    return save_image(image, path, image_format(path), **SAVE_PARAMETERS.get(path.suffix.lower(), {}))


def pair_folders(image_dir: Path, mask_dir: Path, out_dir: Path, num_samples: int = 1,
                 ) -> tuple[list[Pair], list[str]]:
    """Pair the images of ``image_dir`` with their masks by file stem; outputs are ``out_dir/<stem>.png``.

    Returns the pairs and one warning per image that has no mask (or shares its stem with another).
    """
    same_folder = image_dir.resolve() == mask_dir.resolve()
    images = list_images(image_dir)
    masks = {p.stem: p for p in reversed(list_images(mask_dir))}  # first in sorted order wins
    if same_folder:  # masks sit beside their images: <stem>_mask.png only, and they are not images
        images = [p for p in images if not p.stem.endswith(MASK_SUFFIX)]
        masks = {stem: p for stem, p in masks.items() if stem.endswith(MASK_SUFFIX)}
    pairs, warnings, stems = [], [], set()
    for image in images:
        if image.stem in stems:
            warnings.append(f"skipping {image}: another image has the stem {image.stem!r}")
            continue
        stems.add(image.stem)
        mask = masks.get(image.stem + MASK_SUFFIX, masks.get(image.stem))
        if mask is None:
            warnings.append(f"skipping {image}: no mask {image.stem}.png or {image.stem}{MASK_SUFFIX}.png "
                            f"in {mask_dir}")
            continue
        pairs.append(Pair(image, mask, output_paths(out_dir / f"{image.stem}.png", num_samples)))
    return pairs, warnings
