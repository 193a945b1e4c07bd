"""``inpaintkit train``: a resumable DDPM trainer (EMA, atomic checkpoints, bf16 autocast on CUDA).

The loss is the simple objective of Ho et al. 2020 (Eq. 14), with the target set by the schedule's
prediction type (eps, v or x0). Every random draw of step k comes from a generator seeded by
(seed, k), so a run resumed from a checkpoint continues exactly as an uninterrupted one would.

Three kinds of model, by what the config names:

- pixel (neither ``vae`` nor ``text_encoder``): a ``UNet2DModel`` on a folder of images;
- latent (``vae``, e.g. ``{"hub_id": "madebyollin/taesd"}``): a ``UNet2DModel`` on autoencoder
  latents, encoded once into a cache file (:func:`inpaintkit.data.encode_latents`);
- text-conditioned (``text_encoder``, e.g. ``{"name": "minilm"}``): a ``UNet2DConditionModel``
  cross-attending to the token embeddings of a class caption ("a photo of a horse") of class-labelled
  images, replaced by the empty prompt with probability ``cond_dropout`` so that the same network
  also learns the unconditional branch of classifier-free guidance (Ho & Salimans 2022, Sec. 3.2).

The exported folder names its autoencoder and text encoder in ``inpaintkit.json`` instead of
shipping them; :func:`inpaintkit.models.load_folder` resolves them.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .data import (CELEBA_CROP, SHARED_DIR, encode_latents, list_images, load_cache, load_image_tensor,
                   load_labelled_images, save_cache)
from .schedule import NoiseSchedule, ScheduleConfig
from .taesd import TAESD_HUB_ID

# U-Net architectures, by name (``UNet2DConditionModel`` for those with cross-attention blocks).
# "face32" is the CPU-sized architecture of the shipped faces-32 model: 3.9 M parameters, ~17 ms per call
# at batch 1 on 2 CPU cores.
UNET_PRESETS: dict[str, dict] = {
    "face32": dict(
        block_out_channels=(32, 64, 128),
        down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
        layers_per_block=2,
        norm_num_groups=16,
    ),
    "face64": dict(
        block_out_channels=(64, 128, 128, 256),
        down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "AttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
        layers_per_block=2,
        norm_num_groups=32,
    ),
    "tiny": dict(
        block_out_channels=(8, 16),
        down_block_types=("DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D"),
        layers_per_block=1,
        norm_num_groups=4,
    ),
    # 4x32x32 TAESD latents of 256 px faces. 13.5 M parameters (27 MB in fp16), self-attention at 16x16 and 8x8.
    "latent32": dict(
        block_out_channels=(96, 160, 192),
        down_block_types=("DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
        layers_per_block=2,
        norm_num_groups=32,
        attention_head_dim=32,
    ),
    # The same on 2 CPU cores: 3.8 M parameters.
    "latent32-cpu": dict(
        block_out_channels=(48, 96, 96),
        down_block_types=("DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
        layers_per_block=2,
        norm_num_groups=16,
        attention_head_dim=32,
    ),
    # Text-conditioned (``UNet2DConditionModel``: cross-attention blocks) 32 px CIFAR-10. For this class
    # ``attention_head_dim`` is diffusers' legacy name for the number of heads: 32 channels per head.
    "text32": dict(  # 10.8 M parameters with 384-d prompt embeddings (22 MB in fp16)
        block_out_channels=(64, 128, 128),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        layers_per_block=2,
        norm_num_groups=32,
        attention_head_dim=(2, 4, 4),
    ),
    "text32-cpu": dict(  # 4.2 M parameters
        block_out_channels=(48, 96, 96),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        layers_per_block=1,
        norm_num_groups=16,
        attention_head_dim=(1, 3, 3),
    ),
    "tiny-text": dict(
        block_out_channels=(8, 16),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        layers_per_block=1,
        norm_num_groups=4,
        attention_head_dim=2,
    ),
}

# Stable Diffusion's training schedule (LDM's "scaled linear" betas), with v-prediction as in SD 2 and
# the Seamless Borders paper: x0 = sqrt(ab) x_t - sqrt(1 - ab) v stays well-conditioned at high noise,
# where eps-prediction divides by sqrt(ab) -> 0, and every inpainting method here reads x0 estimates.
LATENT_SCHEDULE = ScheduleConfig(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                                 prediction_type="v_prediction", clip_sample=False)
TAESD = {"hub_id": TAESD_HUB_ID}
MINILM = {"name": "minilm", "max_length": 16}

# The built-in models' recipes (GPU-sized; docs/training.md has the CPU variants): ``inpaintkit train
# --preset NAME --out runs/NAME``. Data paths are the shared/ folder beside a source checkout.
TRAIN_PRESETS: dict[str, dict] = {
    "faces-32": dict(data=str(SHARED_DIR / "data" / "celeba" / "train"), resolution=32, crop=CELEBA_CROP,
                      architecture="face32", steps=30_000, batch_size=128, lr=3e-4),
    # 178: the whole width of the aligned 178x218 frame (hair and background included), 1.44x upsampled.
    "faces-256-latent": dict(data=str(SHARED_DIR / "data" / "celeba" / "train"), resolution=256, crop=178,
                              architecture="latent32", steps=30_000, batch_size=128, lr=2e-4, vae=TAESD,
                              schedule=LATENT_SCHEDULE.to_dict()),
    "cifar10-text": dict(data=str(SHARED_DIR / "data" / "cifar10" / "cifar10-images.tar.gz"), resolution=32,
                         crop=None, architecture="text32", steps=30_000, batch_size=128, lr=2e-4,
                         text_encoder=MINILM, cond_dropout=0.1),
}


@dataclass
class TrainConfig:
    data: str
    out: str
    resolution: int = 32
    crop: int | None = CELEBA_CROP
    architecture: str = "face32"
    steps: int = 10_000
    batch_size: int = 32
    lr: float = 3e-4
    warmup_steps: int = 200
    ema_decay: float = 0.999
    checkpoint_every: int = 500
    seed: int = 0
    hflip: bool = True
    max_images: int | None = None  # train on the first n images only (sorted by name); None: all
    device: str = "auto"
    bf16: bool | None = None  # bf16 autocast of the U-Net; None: on CUDA only (CPUs with AVX512-BF16/AMX: ~1.8x)
    schedule: dict = field(default_factory=lambda: ScheduleConfig().to_dict())
    vae: dict | None = None  # latent model: the autoencoder, as inpaintkit.json names it
    cache_dir: str | None = None  # where latents.safetensors / prompts.safetensors are kept [default: out]
    text_encoder: dict | None = None  # text-conditioned model: the prompt encoder, as inpaintkit.json names it
    cond_dropout: float = 0.1  # probability of training on the empty prompt
    prompt_template: str = "a photo of {article} {name}"


def preset_config(name: str, out: str, **overrides) -> TrainConfig:
    """The :data:`TRAIN_PRESETS` recipe ``name`` writing to ``out``, with fields replaced by ``overrides``."""
    if name not in TRAIN_PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(TRAIN_PRESETS)}")
    return TrainConfig(**{**TRAIN_PRESETS[name], "out": out, **overrides})


def pick_device(device: str = "auto") -> torch.device:
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(device)


def is_text_architecture(architecture: str) -> bool:
    return "CrossAttnDownBlock2D" in UNET_PRESETS[architecture]["down_block_types"]


def build_unet(architecture: str, resolution: int, channels: int = 3, cross_attention_dim: int | None = None):
    """A random-weight U-Net of a :data:`UNET_PRESETS` architecture: a ``UNet2DModel``, or for the
    cross-attention presets a ``UNet2DConditionModel`` attending to ``cross_attention_dim``-wide tokens."""
    from diffusers import UNet2DConditionModel, UNet2DModel

    if architecture not in UNET_PRESETS:
        raise ValueError(f"unknown architecture {architecture!r}; choose one of {sorted(UNET_PRESETS)}")
    shape = dict(sample_size=resolution, in_channels=channels, out_channels=channels)
    if not is_text_architecture(architecture):
        if cross_attention_dim is not None:
            raise ValueError(f"architecture {architecture!r} has no cross-attention; a text-conditioned model "
                             "needs one of " + ", ".join(a for a in UNET_PRESETS if is_text_architecture(a)))
        return UNet2DModel(**shape, **UNET_PRESETS[architecture])
    if cross_attention_dim is None:
        raise ValueError(f"architecture {architecture!r} cross-attends to prompts: train it with a text encoder")
    return UNet2DConditionModel(**shape, cross_attention_dim=cross_attention_dim, **UNET_PRESETS[architecture])


def _atomic_torch_save(obj, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def export_model(unet, schedule: ScheduleConfig, folder: Path, meta: dict | None = None) -> Path:
    """Write a diffusers-layout model folder (unet/ + scheduler/) with fp16 safetensors."""
    folder = Path(folder)
    tmp = folder.with_name(folder.name + ".tmp")
    if tmp.exists():
        import shutil

        shutil.rmtree(tmp)
    copy.deepcopy(unet).to("cpu", torch.float16).save_pretrained(tmp / "unet", safe_serialization=True)
    (tmp / "scheduler").mkdir(parents=True)
    sched = {"_class_name": "DDPMScheduler", **schedule.to_dict()}
    (tmp / "scheduler" / "scheduler_config.json").write_text(json.dumps(sched, indent=2))
    index = {"_class_name": "DDPMPipeline", "unet": ["diffusers", type(unet).__name__],
             "scheduler": ["diffusers", "DDPMScheduler"]}
    (tmp / "model_index.json").write_text(json.dumps(index, indent=2))
    if meta:
        (tmp / "inpaintkit.json").write_text(json.dumps(meta, indent=2))
    if folder.exists():
        import shutil

        shutil.rmtree(folder)
    os.replace(tmp, folder)
    return folder


@dataclass
class TrainingData:
    """What the training loop draws from: ``samples`` (N, C, S, S) in the model's space (float pixels,
    uint8 pixels or fp16 latents), the encoded mirror images of latents, and for text-conditioned
    models each sample's caption index into ``prompt_embeds``, whose last row is the empty prompt."""

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


def load_training_data(cfg: TrainConfig, out: Path, device: torch.device, progress: bool = True) -> TrainingData:
    if cfg.vae is not None and cfg.text_encoder is not None:
        raise ValueError("text-conditioned latent models are not supported by this trainer; set vae or text_encoder")
    cache_dir = Path(cfg.cache_dir) if cfg.cache_dir else out
    if cfg.vae is not None:
        return _latent_data(cfg, cache_dir / "latents.safetensors", device, progress)
    if cfg.text_encoder is not None:
        return _captioned_data(cfg, cache_dir / "prompts.safetensors", device, progress)
    return TrainingData(load_image_tensor(list_images(cfg.data)[:cfg.max_images], cfg.resolution, cfg.crop, progress=progress))


def _latent_data(cfg: TrainConfig, cache: Path, device: torch.device, progress: bool) -> TrainingData:
    """Latents of ``cfg.data`` from the cache file, encoding them first if there is none. The cache
    records what it was made from (checked on load); the image names only while the images are there,
    so the cache can travel to a training machine without them."""
    from .taesd import load_vae_reference

    expect = {"resolution": cfg.resolution, "crop": cfg.crop, "vae": cfg.vae, "hflip": cfg.hflip,
              "max_images": cfg.max_images}
    paths = list_images(cfg.data)[:cfg.max_images] if Path(cfg.data).is_dir() or not cache.exists() else None
    if paths is not None:
        expect["images"] = hashlib.sha1("\n".join(p.name for p in paths).encode()).hexdigest()
    if not cache.exists():
        latents = encode_latents(paths, load_vae_reference(cfg.vae), cfg.resolution, cfg.crop, cfg.hflip,
                                 device=device, progress=progress)
        save_cache(cache, latents, expect)
    tensors = load_cache(cache, expect)
    return TrainingData(tensors["latents"], tensors.get("latents_flipped"), model_meta={"vae": cfg.vae})


def _captioned_data(cfg: TrainConfig, cache: Path, device: torch.device, progress: bool) -> TrainingData:
    """Class-labelled images, their class captions and the token embeddings of the captions and the
    empty prompt, computed once by the frozen text encoder and cached (the cache alone can travel to a
    training machine that lacks the encoder)."""
    from .text import class_prompt, load_text_encoder

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


def train(cfg: TrainConfig, progress: bool = True, max_minutes: float | None = None) -> Path:
    """Train (or resume) the run in ``cfg.out``; returns its exported model folder. ``max_minutes``
    stops early, with a checkpoint, for machines leased by the command: run again to go on."""
    deadline = time.time() + 60 * max_minutes if max_minutes is not None else None
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    device = pick_device(cfg.device)
    schedule = NoiseSchedule(ScheduleConfig.from_dict(cfg.schedule))
    data = load_training_data(cfg, out, device, progress)

    torch.manual_seed(cfg.seed)
    embed_dim = data.prompt_embeds.shape[-1] if data.prompt_embeds is not None else None
    unet = build_unet(cfg.architecture, data.samples.shape[-1], data.samples.shape[1], embed_dim).to(device)
    ema = copy.deepcopy(unet).requires_grad_(False)
    opt = torch.optim.AdamW(unet.parameters(), lr=cfg.lr, weight_decay=0.0)
    step = 0
    ckpt_path = out / "checkpoint.pt"
    if ckpt_path.exists():
        state = torch.load(ckpt_path, map_location=device, weights_only=False)
        unet.load_state_dict(state["unet"])
        ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["opt"])
        step = state["step"]
    (out / "train_config.json").write_text(json.dumps(asdict(cfg), indent=2))

    def save() -> None:
        _atomic_torch_save({"unet": unet.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(),
                            "step": step}, ckpt_path)
        export_model(ema, schedule.config, out / "model",
                     meta={"training_steps": step, "resolution": cfg.resolution, "architecture": cfg.architecture,
                           "data": str(cfg.data), "batch_size": cfg.batch_size, **data.model_meta})

    bf16 = device.type == "cuda" if cfg.bf16 is None else cfg.bf16
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)
    acp = schedule.alphas_cumprod.float().to(device)
    log = open(out / "log.jsonl", "a")
    bar = tqdm(total=cfg.steps, initial=step, desc="training", disable=not progress)
    t_start, loss_avg = time.time(), None
    while step < cfg.steps:
        g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)
        idx = torch.randint(0, len(data.samples), (cfg.batch_size,), generator=g)
        flip = torch.rand(cfg.batch_size, generator=g) < 0.5 if cfg.hflip else None
        x0 = data.images(idx, flip)
        t = torch.randint(0, schedule.num_train_timesteps, (cfg.batch_size,), generator=g)
        noise = torch.randn(x0.shape, generator=g)
        embeds = None
        if data.labels is not None:  # drawn last: pixel and latent runs keep the draws they always had
            embeds = data.embeds(idx, torch.rand(cfg.batch_size, generator=g) < cfg.cond_dropout)
        x0, t, noise = x0.to(device), t.to(device), noise.to(device)
        ab = acp[t].view(-1, 1, 1, 1)
        x_t = ab.sqrt() * x0 + (1 - ab).sqrt() * noise
        kind = schedule.config.prediction_type
        target = noise if kind == "epsilon" else x0 if kind == "sample" else ab.sqrt() * noise - (1 - ab).sqrt() * x0

        for group in opt.param_groups:
            group["lr"] = cfg.lr * min(1.0, (step + 1) / max(1, cfg.warmup_steps))
        with autocast:
            pred = unet(x_t, t).sample if embeds is None else unet(x_t, t, encoder_hidden_states=embeds).sample
        loss = torch.nn.functional.mse_loss(pred.float(), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        opt.step()
        decay = min(cfg.ema_decay, (1 + step) / (10 + step))
        with torch.no_grad():
            for pe, p in zip(ema.parameters(), unet.parameters()):
                pe.lerp_(p, 1 - decay)
        step += 1
        loss_avg = loss.item() if loss_avg is None else 0.98 * loss_avg + 0.02 * loss.item()
        bar.update(1)
        bar.set_postfix(loss=f"{loss_avg:.4f}")
        if step % 50 == 0:
            log.write(json.dumps({"step": step, "loss": round(loss_avg, 5), "seconds": round(time.time() - t_start, 1)}) + "\n")
            log.flush()
        out_of_time = deadline is not None and time.time() > deadline
        if step % cfg.checkpoint_every == 0 or step == cfg.steps or out_of_time:
            save()
            if out_of_time:
                break
    bar.close()
    log.close()
    return out / "model"
