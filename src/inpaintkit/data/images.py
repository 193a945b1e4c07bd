"""Training and evaluation images: folders of photos, CelebA's aligned-face crop, class-labelled archives,
and the data sets that live outside the package (``data:`` paths)."""
from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from ..core.env import require_local
from ..core.errors import InpaintInputError
from ..core.images import IMAGE_SUFFIXES, load_image, open_image

# The usual CelebA crop (used by DDPM/DDIM on CelebA 64): the central 140x140 of the 178x218 frame.
CELEBA_CROP = 140
DATA_PREFIX = "data:"  # "data:celeba/test": a data set found by inpaintkit.core.env (INPAINTKIT_DATA, shared/data, ...)
DATA_SETS = {"celeba": "the CelebA faces (celeba/{train,validation,test}/*.jpg)",
             "masks": "the NVIDIA irregular masks (masks/nvidia-irregular/*.png)",
             "cifar10": "CIFAR-10 (cifar10/cifar10-images.tar.gz)"}


def resolve_data(path: str | Path) -> Path:
    """A path as given, or for ``data:<set>/<rest>`` the local copy of that data set (an error that says where
    to put it when there is none)."""
    text = str(path)
    if not text.startswith(DATA_PREFIX):
        return Path(path)
    relative = text[len(DATA_PREFIX):]
    what = DATA_SETS.get(relative.split("/", 1)[0], relative)
    return require_local("data", relative, f"{what}, {relative},")


def list_images(folder: str | Path) -> list[Path]:
    """The image files of a folder (or a ``data:`` path), sorted by name."""
    folder = resolve_data(folder)
    if not folder.is_dir():
        raise InpaintInputError(f"image folder not found: {folder}")
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
        out[i] = np.asarray(center_crop_resize(open_image(p).convert("RGB"), size, crop))
    return torch.from_numpy(out).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def prepare_ground_truth(path: str | Path, resolution: int, crop: int | None) -> torch.Tensor:
    """One evaluation image: its central ``crop`` square resized to ``resolution``, (1, 3, R, R) in [-1, 1]."""
    return load_image(center_crop_resize(open_image(path).convert("RGB"), resolution, crop))


def labelled_files(source: str | Path, split: str = "train") -> list[tuple[str, str, bytes]]:
    """(class, file name, bytes) of every image of a folder of ``<class>/<image>`` folders (or its ``<split>/``
    subfolder) or of a tar archive of ``<split>/<class>/<image>`` files, in (class, name) order."""
    source = resolve_data(source)
    if source.is_dir():
        root = source / split if (source / split).is_dir() else source
        files = [(p.parent.name, p.name, p.read_bytes()) for d in sorted(root.iterdir()) if d.is_dir()
                 for p in list_images(d)]
    elif tarfile.is_tarfile(source):
        with tarfile.open(source) as archive:  # read in archive order: a compressed tar cannot seek back cheaply
            files = [(parts[1], parts[2], archive.extractfile(m).read()) for m in archive
                     if m.isfile() and len(parts := m.name.split("/")) == 3 and parts[0] == split
                     and Path(parts[2]).suffix.lower() in IMAGE_SUFFIXES]
    else:
        raise InpaintInputError(f"labelled images not found: {source} (a folder of class folders or a tar archive)")
    if not files:
        raise InpaintInputError(f"{source}: no images in class folders{'' if source.is_dir() else f' under {split}/'}")
    return sorted(files, key=lambda f: f[:2])


def balanced_order(labels: list[int], n: int | None = None) -> list[int]:
    """Indices of the first ``n`` items (all for None) taking the classes in turn: each class's first item in
    label order, then each class's second, and so on (the first ``n`` items for one class)."""
    seen: dict[int, int] = {}
    ranked = []
    for i, label in enumerate(labels):
        seen[label] = seen.get(label, 0) + 1
        ranked.append((seen[label], label, i))
    return [i for _, _, i in sorted(ranked)[:n]]


def load_labelled_images(source: str | Path, size: int, split: str = "train",
                         progress: bool = True) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Class-labelled images as ((N, 3, size, size) uint8, (N,) labels, sorted class names), from
    :func:`labelled_files` (CIFAR-10's tar in ``../shared/data/cifar10``, or class folders). Images of another
    size are cropped to their central square and resized."""
    files = labelled_files(source, split)
    classes = sorted({f[0] for f in files})
    out = np.empty((len(files), size, size, 3), dtype=np.uint8)
    for i, (_, _, data) in enumerate(tqdm(files, desc="decoding images", disable=not progress)):
        img = Image.open(io.BytesIO(data)).convert("RGB")
        out[i] = np.asarray(img if img.size == (size, size) else center_crop_resize(img, size, None))
    labels = torch.tensor([classes.index(f[0]) for f in files])
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous(), labels, classes


def class_prompt(class_name: str, template: str = "a photo of {article} {name}") -> str:
    """The caption of a class-labelled image: ``a photo of a horse``, ``a photo of an airplane``."""
    name = class_name.replace("_", " ")
    return template.format(article="an" if name[:1].lower() in "aeiou" else "a", name=name)
