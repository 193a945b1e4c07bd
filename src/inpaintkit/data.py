"""Training and evaluation images: folders of photos, CelebA's aligned-face crop, class-labelled archives,
and autoencoder latents cached once for latent-model training."""
from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import save_file
from tqdm.auto import tqdm

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
# The usual CelebA crop (used by DDPM/DDIM on CelebA 64): the central 140x140 of the 178x218 frame.
CELEBA_CROP = 140
# The read-only data and weights beside a source checkout: <checkout>/../shared (see its README.md).
SHARED_DIR = Path(__file__).resolve().parents[3] / "shared"


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


def load_labelled_images(source: str | Path, size: int, split: str = "train",
                         progress: bool = True) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Class-labelled images as ((N, 3, size, size) uint8, (N,) labels, sorted class names), from a
    folder of ``<class>/<image>`` folders (or its ``<split>/`` subfolder) or straight from a tar archive of
    ``<split>/<class>/<image>`` files, CIFAR-10's layout in ``../shared/data/cifar10``. Images of another
    size are cropped to their central square and resized."""
    source = Path(source)
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
        raise FileNotFoundError(f"labelled images not found: {source} (a folder of class folders or a tar archive)")
    if not files:
        raise FileNotFoundError(f"{source}: no images in class folders{'' if source.is_dir() else f' under {split}/'}")
    files.sort(key=lambda f: f[:2])
    classes = sorted({f[0] for f in files})
    out = np.empty((len(files), size, size, 3), dtype=np.uint8)
    for i, (_, _, data) in enumerate(tqdm(files, desc="decoding images", disable=not progress)):
        img = Image.open(io.BytesIO(data)).convert("RGB")
        out[i] = np.asarray(img if img.size == (size, size) else center_crop_resize(img, size, None))
    labels = torch.tensor([classes.index(f[0]) for f in files])
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous(), labels, classes


@torch.no_grad()
def encode_latents(paths, vae, resolution: int, crop: int | None, hflip: bool = True, batch_size: int = 32,
                   device="cpu", progress: bool = True) -> dict[str, torch.Tensor]:
    """The images' scaled latents in fp16 (``latents``, and ``latents_flipped`` of the mirrored images
    when ``hflip``), to encode once and cache (:func:`save_cache`) so training never runs the encoder.

    Mirrored images are encoded, not mirrored latents: TAESD's stride-2 convolutions are not
    mirror-symmetric, and flipping its latents of a 256 px face differs from encoding the flipped face
    by ~70 % of the latents' standard deviation."""
    from .models import DiffusionModel
    from .schedule import NoiseSchedule

    autoencoder = DiffusionModel(None, NoiseSchedule(), vae=vae.to(device).eval())  # only encode() is used
    chunks: dict[str, list[torch.Tensor]] = {"latents": [], "latents_flipped": []} if hflip else {"latents": []}
    for i in tqdm(range(0, len(paths), batch_size), desc="encoding latents", disable=not progress):
        images = load_image_tensor(paths[i:i + batch_size], resolution, crop, progress=False).to(device)
        chunks["latents"].append(autoencoder.encode(images).half().cpu())
        if hflip:
            chunks["latents_flipped"].append(autoencoder.encode(images.flip(-1)).half().cpu())
    return {k: torch.cat(v).contiguous() for k, v in chunks.items()}


def save_cache(path: str | Path, tensors: dict[str, torch.Tensor], meta: dict) -> Path:
    """Tensors computed once for training (latents, prompt embeddings) as a safetensors file that
    records ``meta``, what they were computed from (checked by :func:`load_cache`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file({k: v.contiguous() for k, v in tensors.items()}, tmp, metadata={"inpaintkit": json.dumps(meta)})
    os.replace(tmp, path)
    return path


def load_cache(path: str | Path, expect: dict | None = None) -> dict[str, torch.Tensor]:
    """The tensors of :func:`save_cache`; raises if the recorded ``meta`` differs from ``expect``
    (latents of other images, another crop or another autoencoder; embeddings of other prompts)."""
    with safe_open(str(path), "pt") as f:
        stored = json.loads((f.metadata() or {}).get("inpaintkit", "{}"))
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    stale = {k: (stored.get(k), v) for k, v in (expect or {}).items() if stored.get(k) != v}
    if stale:
        details = "; ".join(f"{k}: cache has {a!r}, run wants {b!r}" for k, (a, b) in stale.items())
        raise ValueError(f"cache {path} was made from other inputs ({details}); delete it to recompute")
    return tensors
