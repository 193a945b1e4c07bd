"""What the training loop draws batches from, for the three kinds of model:

- pixel (neither ``vae`` nor ``text_encoder`` in the config): a folder of images, as uint8 in memory;
- latent (``vae``, e.g. ``{"hub_id": "madebyollin/taesd"}``): autoencoder latents, encoded once into a cache
  file (``latents.safetensors``), mirrored images encoded too;
- text-conditioned (``text_encoder``, e.g. ``{"name": "minilm"}``): class-labelled images and the token
  embeddings of their class captions ("a photo of a horse"), computed once by the frozen encoder and
  cached; a caption is replaced by the empty prompt with probability ``cond_dropout``, so that the same
  network learns the unconditional branch of classifier-free guidance (Ho & Salimans 2022, Sec. 3.2).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..data.cache import load_cache, save_cache
from ..data.images import class_prompt, list_images, load_image_tensor, load_labelled_images, resolve_data
from ..models.autoencoder import Autoencoder
from ..models.loading import load_vae_reference
from ..models.text import load_text_encoder
from .config import TrainConfig


@dataclass
class Batch:
    """Clean samples x0 in the model's space and the network's conditioning keyword arguments; for the
    objectives that blend (Seamless Borders), the masks M (1 = fill), the masked images' encodings ``known``
    and, for the seam decoder (whose x0 are pixels), the images' own encodings and per-pixel loss weights;
    for a classifier, the class labels."""

    x0: torch.Tensor
    cond: dict = field(default_factory=dict)
    mask: torch.Tensor | None = None
    known: torch.Tensor | None = None
    latents: torch.Tensor | None = None
    weight: torch.Tensor | None = None
    labels: torch.Tensor | None = None  # class indices (the prompt-accuracy classifier)


@dataclass
class TrainingData:
    """``samples`` (N, C, S, S) in the model's space (float pixels, uint8 pixels or fp16 latents), the
    encoded mirror images of latents, and for text-conditioned models each sample's caption index into
    ``prompt_embeds``, whose last row is the empty prompt."""

    samples: torch.Tensor
    mirrored: torch.Tensor | None = None
    labels: torch.Tensor | None = None
    prompts: list[str] | None = None
    prompt_embeds: torch.Tensor | None = None
    model_meta: dict = field(default_factory=dict)  # what the exported inpaintkit.json needs to load the model

    def images(self, idx: torch.Tensor, flip: torch.Tensor | None) -> torch.Tensor:
        """Float samples in the model's space, mirrored where ``flip``."""
        x = self.samples[idx]
        if flip is not None:
            x_mirrored = self.mirrored[idx] if self.mirrored is not None else x.flip(-1)
            x = torch.where(flip[:, None, None, None], x_mirrored, x)
        return x.float().div(127.5).sub(1.0) if x.dtype == torch.uint8 else x.float()

    def embeds(self, idx: torch.Tensor, drop: torch.Tensor) -> torch.Tensor:
        """Prompt embeddings of the samples' captions, the empty prompt's where ``drop``."""
        rows = torch.where(drop, len(self.prompts), self.labels[idx])
        return self.prompt_embeds[rows.to(self.prompt_embeds.device)]

    def batch(self, g: torch.Generator, size: int, hflip: bool, cond_dropout: float) -> Batch:
        """A random batch, every draw from ``g``: the indices, the mirror flips, the dropped captions."""
        idx = torch.randint(0, len(self.samples), (size,), generator=g)
        flip = torch.rand(size, generator=g) < 0.5 if hflip else None
        batch = Batch(self.images(idx, flip))
        if self.labels is not None:
            batch.cond["encoder_hidden_states"] = self.embeds(idx, torch.rand(size, generator=g) < cond_dropout)
        return batch


def load_training_data(cfg: TrainConfig, out: Path, device: torch.device, progress: bool = True) -> TrainingData:
    cache_dir = Path(cfg.cache_dir) if cfg.cache_dir else out
    if cfg.vae is not None:
        return latent_data(cfg, cache_dir / "latents.safetensors", device, progress)
    if cfg.text_encoder is not None:
        return captioned_data(cfg, cache_dir / "prompts.safetensors", device, progress)
    paths = list_images(cfg.data)[:cfg.max_images]
    return TrainingData(load_image_tensor(paths, cfg.resolution, cfg.crop, progress=progress))


@torch.no_grad()
def encode_latents(paths, autoencoder: Autoencoder, resolution: int, crop: int | None, hflip: bool = True,
                   batch_size: int = 32, device="cpu", progress: bool = True) -> dict[str, torch.Tensor]:
    """The images' scaled latents in fp16 (``latents``, and ``latents_flipped`` of the mirrored images
    when ``hflip``), to encode once and cache so training never runs the encoder.

    Mirrored images are encoded, not mirrored latents: TAESD's stride-2 convolutions are not
    mirror-symmetric, and flipping its latents of a 256 px face differs from encoding the flipped face
    by ~70 % of the latents' standard deviation."""
    autoencoder = autoencoder.to(device)
    chunks: dict[str, list[torch.Tensor]] = {"latents": [], "latents_flipped": []} if hflip else {"latents": []}
    for i in tqdm(range(0, len(paths), batch_size), desc="encoding latents", disable=not progress):
        images = load_image_tensor(paths[i:i + batch_size], resolution, crop, progress=False).to(device)
        chunks["latents"].append(autoencoder.encode(images).half().cpu())
        if hflip:
            chunks["latents_flipped"].append(autoencoder.encode(images.flip(-1)).half().cpu())
    return {k: torch.cat(v).contiguous() for k, v in chunks.items()}


def latent_data(cfg: TrainConfig, cache: Path, device: torch.device, progress: bool) -> TrainingData:
    """Latents of ``cfg.data`` from the cache file, encoding them first if there is none. The cache
    records what it was made from (checked on load); the image names only while the images are there,
    so the cache can travel to a training machine without them."""
    expect = {"resolution": cfg.resolution, "crop": cfg.crop, "vae": cfg.vae, "hflip": cfg.hflip,
              "max_images": cfg.max_images}
    paths = None
    if not cache.exists() or _data_present(cfg.data):
        paths = list_images(cfg.data)[:cfg.max_images]
        expect["images"] = hashlib.sha1("\n".join(p.name for p in paths).encode()).hexdigest()
    if not cache.exists():
        latents = encode_latents(paths, load_vae_reference(cfg.vae), cfg.resolution, cfg.crop, cfg.hflip,
                                 device=device, progress=progress)
        save_cache(cache, latents, expect)
    tensors = load_cache(cache, expect)
    return TrainingData(tensors["latents"], tensors.get("latents_flipped"), model_meta={"vae": cfg.vae})


def _data_present(data: str) -> bool:
    try:
        return resolve_data(data).is_dir()
    except ValueError:
        return False


def captioned_data(cfg: TrainConfig, cache: Path, device: torch.device, progress: bool) -> TrainingData:
    """Class-labelled images, their class captions and the token embeddings of the captions and the
    empty prompt, computed once by the frozen text encoder and cached (the cache alone can travel to a
    training machine that lacks the encoder)."""
    images, labels, classes = load_labelled_images(cfg.data, cfg.resolution, progress=progress)
    prompts = [class_prompt(c, cfg.prompt_template) for c in classes]
    expect = {"prompts": prompts + [""], "text_encoder": cfg.text_encoder}
    if not cache.exists():
        with torch.no_grad():
            embeds = load_text_encoder(cfg.text_encoder)(prompts + [""]).float()
        save_cache(cache, {"embeds": embeds}, expect)
    table = load_cache(cache, expect)["embeds"].to(device)
    return TrainingData(images, labels=labels, prompts=prompts, prompt_embeds=table,
                        model_meta={"text_encoder": cfg.text_encoder, "prompts": prompts,
                                    "cond_dropout": cfg.cond_dropout})
