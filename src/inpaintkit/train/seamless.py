"""Training for Towards Seamless Borders (Hou, Wu et al. 2025) on a latent model: the seam-aware decoder (Eq. 6,
:class:`~.objectives.SeamDecoderObjective`) and the blend-aware two-step denoiser (Alg. 1,
:class:`~.objectives.TwoStepObjective`), each an objective of the one training loop, on the model's training
faces with masks drawn from the evaluation harness's generators (held-out faces are never seen).

    stage "decoder":  the autoencoder's decoder learns, its encoder and the denoiser frozen -> out/vae
                      (a diffusers autoencoder folder: ``load_folder(model, vae_override=out/vae)``)
    stage "two-step": the denoiser learns from the model's weights on, the autoencoder frozen -> out/model
                      (a model folder naming the same autoencoder)

Both stages draw from one cache (``latent_cache``, default ``out/seamless_latents.safetensors``): E(x) of every
face and E((1 - M_k) x) of ``masks_per_image`` masks per face, fixed by (seed, face, k) and regenerated on demand,
encoded once (a 256 px TAESD encode costs ~0.2 s on the project's CPU: two per sample at every step would be most
of either stage's time) and checked against what it was made from when read back. The decoder stage decodes
windows of those latents (:class:`EncodedFaceWindows`), the two-step stage whole latents
(:class:`EncodedMaskedFaces`).
"""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from ..core.errors import InpaintInputError
from ..core.files import atomic_folder, write_json
from ..core.geometry import latent_mask
from ..core.options import Validated, option
from ..data.cache import load_cache, save_cache
from ..data.masks import check_mask_set, draw_masks
from ..models import load_model
from ..models.export import write_model_folder
from ..models.hub import quiet_diffusers
from .config import preset_config
from .datasets import Batch, load_training_data
from .loop import LoopSettings, training_loop
from .objectives import SeamDecoderObjective, TwoStepObjective

STAGES = ("decoder", "two-step")
# inpainting masks of the harness and the outpainting border; the decoder also sees no mask at all (its
# plain round trip must not regress, every latent method decodes with it)
DEFAULT_MASKS = {"thick": 2, "medium": 1, "box-random": 1, "expand": 1}


@dataclass
class SeamlessConfig(Validated):
    stage: str = option("decoder", choices=STAGES)
    model: str = option("faces-256-latent", help="the latent model (a built-in name or folder)")
    preset: str = option("faces-256-latent", help="the recipe whose training faces the model saw")
    out: str = option("", help="run folder")
    data: str | None = option(None, help="other training images than the preset's (with resolution and crop)")
    resolution: int | None = option(None, ge=8)
    crop: int | None = option(None, ge=1)
    max_images: int | None = option(None, ge=1)
    masks: dict = field(default_factory=lambda: dict(DEFAULT_MASKS))
    no_mask_fraction: float = option(0.25, ge=0, le=1, help="decoder: samples with no mask (the plain round trip)")
    window: int = option(20, ge=5, help="decoder: latent cells per side of the windows it decodes (2 along each "
                                        "inner edge out of the loss)")
    masks_per_image: int = option(4, ge=1, help="cached masks (and masked encodings) per face")
    latent_cache: str | None = option(None, help="the masked encodings' cache file (default out/seamless_latents"
                                                 ".safetensors; one file serves both stages)")
    steps: int = option(1000, ge=1)
    batch_size: int = option(8, ge=1)
    lr: float = option(1e-4, gt=0, le=1)
    warmup_steps: int = option(50, ge=0)
    perceptual_weight: float = option(1.0, ge=0, help="decoder: LPIPS-alex weight")
    seam_weight: float = option(2.0, ge=0, help="decoder: weight of the L1 band around the hole's border")
    weight: float = option(0.5, ge=0, help="two-step: lambda of L2 (§4: 0.5)")
    stride: int = option(20, ge=1, help="two-step: s = t - stride (one step of 50 over T = 1000)")
    second_timestep: str = option("s", choices=("s", "t"), help="two-step: line 9's timestep")
    seed: int = option(0, ge=0)
    bf16: bool | None = option(None)
    device: str = option("auto")
    checkpoint_every: int = option(100, ge=1)

    def validate(self):
        for name in self.masks:
            check_mask_set(name)


@dataclass
class EncodedFaceWindows:
    """Batches for the decoder stage from the cache: a window of ``window`` x ``window`` latent cells (the whole
    grid when it is smaller) of E(x) and of E((1 - M_k) x) for a random face and one of its cached masks, with the
    pixels and the mask under it; a ``no_mask_fraction`` of samples with no mask (E(x) in both: the plain round
    trip). A window decodes at a fraction of the whole image's cost (20 of 32 cells: 0.39x) and its latents are
    the whole image's (encoding a pixel crop would change them near its edges). Along a window's inner edges the
    decoder's zero padding stands in for latents it does not see: the ``margin`` cells there have loss weight 0,
    the window's edges on the image's edge (where the whole image's decode pads too) weight 1."""

    data: object  # TrainingData of the faces (pixels), in the cache's order
    latents: torch.Tensor  # (N, C, h, w)
    masked: torch.Tensor  # (N, K, C, h, w)
    masks: dict
    seed: int
    no_mask_fraction: float = 0.0
    window: int = 20
    margin: int = 2

    def __call__(self, g: torch.Generator, size: int) -> Batch:
        n, per_image, _, h, w = self.masked.shape
        face = torch.randint(0, n, (size,), generator=g)
        k = torch.randint(0, per_image, (size,), generator=g)
        plain = torch.rand(size, generator=g) < self.no_mask_fraction
        win_h, win_w = min(self.window, h), min(self.window, w)
        top = torch.randint(0, h - win_h + 1, (size,), generator=g)
        left = torch.randint(0, w - win_w + 1, (size,), generator=g)
        x = self.data.images(face, None)
        scale = x.shape[-1] // w
        samples = []
        for i, (f, j) in enumerate(zip(face.tolist(), k.tolist())):
            mask = torch.zeros_like(x[:1, :1]) if plain[i] else cached_mask(self.masks, x.shape[-1], self.seed, f,
                                                                              j, per_image)
            rows, cols = slice(int(top[i]), int(top[i]) + win_h), slice(int(left[i]), int(left[i]) + win_w)
            pixels = (slice(rows.start * scale, rows.stop * scale), slice(cols.start * scale, cols.stop * scale))
            known = self.latents[f] if plain[i] else self.masked[f, j]
            weight = torch.ones(1, 1, win_h * scale, win_w * scale)
            cut = self.margin * scale
            if rows.start > 0:
                weight[..., :cut, :] = 0
            if rows.stop < h:
                weight[..., -cut:, :] = 0
            if cols.start > 0:
                weight[..., :, :cut] = 0
            if cols.stop < w:
                weight[..., :, -cut:] = 0
            samples.append((x[i:i + 1, :, pixels[0], pixels[1]], mask[..., pixels[0], pixels[1]],
                            known[None, :, rows, cols].float(), self.latents[f][None, :, rows, cols].float(), weight))
        x, mask, known, latents, weight = (torch.cat(parts) for parts in zip(*samples))
        return Batch(x, mask=mask, known=known, latents=latents, weight=weight)


def cached_mask(masks: dict, resolution: int, seed: int, face: int, k: int, per_image: int) -> torch.Tensor:
    """The k-th cached mask of a face: fixed by (seed, face, k), regenerated on demand (never stored)."""
    return draw_masks(masks, resolution, 1, torch.Generator().manual_seed(seed * 1_000_003 + face * per_image + k))


@dataclass
class EncodedMaskedFaces:
    """Batches for the two-step stage from the cache: z0 = E(x), known = E((1 - M_k) x) and M_k on the latent grid,
    for a random face and one of its cached masks."""

    latents: torch.Tensor  # (N, C, h, w)
    masked: torch.Tensor  # (N, K, C, h, w)
    masks: dict
    resolution: int
    seed: int

    def __call__(self, g: torch.Generator, size: int) -> Batch:
        n, per_image = self.masked.shape[:2]
        face = torch.randint(0, n, (size,), generator=g)
        k = torch.randint(0, per_image, (size,), generator=g)
        mask = torch.cat([cached_mask(self.masks, self.resolution, self.seed, int(i), int(j), per_image)
                          for i, j in zip(face.tolist(), k.tolist())])
        z0 = self.latents[face].float()
        return Batch(z0, mask=latent_mask(mask, z0.shape[-2:]), known=self.masked[face, k].float())


@torch.no_grad()
def encode_masked_faces(faces: torch.Tensor, autoencoder, masks: dict, per_image: int, seed: int,
                        progress: bool = True, batch_size: int = 16) -> dict[str, torch.Tensor]:
    """E(x) of every face and E((1 - M_k) x) of each of its ``per_image`` cached masks, in fp16."""
    from tqdm.auto import tqdm

    device = next(autoencoder.parameters()).device
    resolution = faces.shape[-1]
    latents, masked = [], []
    for start in tqdm(range(0, len(faces), batch_size), desc="encoding masked faces", disable=not progress):
        x = faces[start:start + batch_size].to(device)
        latents.append(autoencoder.encode(x).half().cpu())
        m = torch.stack([torch.cat([cached_mask(masks, resolution, seed, start + i, k, per_image)
                                    for k in range(per_image)]) for i in range(len(x))]).to(device)  # (B, K, 1, R, R)
        holes = ((1 - m) * x[:, None]).flatten(0, 1)
        masked.append(autoencoder.encode(holes).half().cpu().unflatten(0, (len(x), per_image)))
    return {"latents": torch.cat(latents), "masked": torch.cat(masked)}


def masked_latent_cache(cfg: SeamlessConfig, data_cfg, model, faces: torch.Tensor, progress: bool = True) -> dict:
    """The encodings both stages draw from (:func:`encode_masked_faces`), made once and read back checked against
    what they were made from: ``cfg.latent_cache`` (one file can serve the decoder run, the two-step run and its
    control) or ``out/seamless_latents.safetensors``."""
    path = Path(cfg.latent_cache or Path(cfg.out) / "seamless_latents.safetensors")
    expect = {"model": cfg.model, "data": data_cfg.data, "resolution": data_cfg.resolution, "crop": data_cfg.crop,
              "max_images": data_cfg.max_images, "masks": cfg.masks, "masks_per_image": cfg.masks_per_image,
              "seed": cfg.seed}
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        save_cache(path, encode_masked_faces(faces, model.autoencoder, cfg.masks, cfg.masks_per_image, cfg.seed,
                                             progress), expect)
    return load_cache(path, expect)


def train_seamless(cfg: SeamlessConfig, progress: bool = True, max_minutes: float | None = None) -> Path:
    """Train (or resume) one stage; returns the folder it exports (``out/vae`` or ``out/model``)."""
    from ..core.env import pick_device

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    device = pick_device(cfg.device)
    model = load_model(cfg.model, device=device).requires_grad_(False).eval()
    if model.autoencoder is None:
        raise InpaintInputError(f"Seamless Borders trains a latent model's decoder and denoiser; {cfg.model!r} is a "
                                "pixel model")
    overrides = {k: v for k, v in dict(data=cfg.data, resolution=cfg.resolution, crop=cfg.crop,
                                       max_images=cfg.max_images).items() if v is not None}
    data_cfg = preset_config(cfg.preset, str(out), vae=None, **overrides)  # the faces as pixels
    if data_cfg.resolution != model.resolution:
        raise InpaintInputError(f"model {cfg.model!r} makes {model.resolution} px images; the preset's faces are "
                                f"{data_cfg.resolution} px")
    faces = load_training_data(data_cfg, out, device, progress)
    write_json(out / "seamless_config.json", asdict(cfg))
    torch.manual_seed(cfg.seed)
    meta = {"stage": cfg.stage, "model": cfg.model, "masks": cfg.masks, "masks_per_image": cfg.masks_per_image,
            "faces": len(faces.samples), "batch_size": cfg.batch_size, "lr": cfg.lr}
    encoded = masked_latent_cache(cfg, data_cfg, model, faces.samples, progress)
    if cfg.stage == "decoder":
        from ..nets.lpips import LPIPS

        net = model.autoencoder
        net.vae.decoder.requires_grad_(True).train()
        lpips = LPIPS("alex", device).eval() if cfg.perceptual_weight else None
        objective = SeamDecoderObjective(cfg.perceptual_weight, cfg.seam_weight, lpips=lpips)
        draw = EncodedFaceWindows(faces, encoded["latents"], encoded["masked"], cfg.masks, cfg.seed,
                                  cfg.no_mask_fraction, cfg.window)

        def export(ema: torch.nn.Module, step: int) -> None:
            with atomic_folder(out / "vae") as tmp, quiet_diffusers():  # fp16, as the model folder's U-Net
                copy.deepcopy(ema.vae).to("cpu", torch.float16).save_pretrained(tmp, safe_serialization=True)
                write_json(tmp / "seamless.json", {**meta, "training_steps": step})
        exported = out / "vae"
    else:
        net = model.unet.requires_grad_(True).train()
        objective = TwoStepObjective(model.schedule, cfg.weight, cfg.stride, cfg.second_timestep)
        draw = EncodedMaskedFaces(encoded["latents"], encoded["masked"], cfg.masks, model.resolution, cfg.seed)

        def export(ema: torch.nn.Module, step: int) -> None:
            info = {k: v for k, v in model.info.items() if k not in ("fid", "fid_floor")}
            shipped_vae = None if "vae" in info else model.autoencoder.vae  # named by the folder, or copied
            write_model_folder(out / "model", ema, model.schedule.config, vae=shipped_vae,
                               meta={**info, "seamless": {**meta, "training_steps": step}})
        exported = out / "model"

    settings = LoopSettings(steps=cfg.steps, lr=cfg.lr, warmup_steps=cfg.warmup_steps, lr_schedule="constant",
                            ema_decay=0.999, checkpoint_every=cfg.checkpoint_every, seed=cfg.seed,
                            bf16=device.type == "cuda" if cfg.bf16 is None else cfg.bf16, max_minutes=max_minutes)
    training_loop(out, net, objective, lambda g: draw(g, cfg.batch_size), settings, export, progress)
    return exported

