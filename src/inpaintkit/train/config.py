"""What a training run is: :class:`TrainConfig`, and the recipes of the built-in models (:data:`TRAIN_PRESETS`).

Data paths of the presets are ``data:`` paths, found where :mod:`inpaintkit.core.env` looks for data
(``$INPAINTKIT_DATA``, the user cache, ``shared/data`` beside the working folder).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..core.errors import InpaintInputError
from ..core.options import Validated, option
from ..core.schedule import LATENT_SCHEDULE, ScheduleConfig
from ..data.images import CELEBA_CROP
from ..models.taesd import TAESD_HUB_ID
from ..nets.unets import UNET_PRESETS

TAESD = {"hub_id": TAESD_HUB_ID}
MINILM = {"name": "minilm", "max_length": 16}
LR_SCHEDULES = ("constant", "cosine")
LOSS_WEIGHTINGS = ("none", "min-snr")


@dataclass
class TrainConfig(Validated):
    data: str = option("", help="training images: a folder, a tar archive of class folders, or a data: path")
    out: str = option("", help="run folder: checkpoint, log, exported model")
    resolution: int = option(32, ge=8, help="image side in pixels")
    crop: int | None = option(CELEBA_CROP, ge=1, help="central square crop before resizing; None: the largest")
    architecture: str = option("face32", choices=tuple(UNET_PRESETS), help="U-Net preset")
    steps: int = option(10_000, ge=1, help="optimiser steps in all")
    batch_size: int = option(32, ge=1)
    lr: float = option(3e-4, gt=0, le=1, help="peak learning rate")
    warmup_steps: int = option(200, ge=0, help="linear learning-rate warm-up")
    lr_schedule: str = option("constant", choices=LR_SCHEDULES, help="after the warm-up: constant, or cosine "
                                                                    "decay to min_lr_ratio x lr at the last step")
    min_lr_ratio: float = option(0.1, ge=0, le=1)
    ema_decay: float = option(0.999, ge=0, lt=1, help="EMA decay, warmed up as min(decay, (1 + k) / (10 + k))")
    loss_weighting: str = option("none", choices=LOSS_WEIGHTINGS, help="per-timestep loss weights: none, or "
                                                                      "min-SNR-gamma (Hang et al. 2023)")
    snr_gamma: float = option(5.0, gt=0)
    checkpoint_every: int = option(500, ge=1)
    seed: int = option(0, ge=0)
    hflip: bool = option(True, help="mirror half of the samples (latent models: the mirrored images encoded)")
    max_images: int | None = option(None, ge=1, help="train on the first n images only (sorted by name)")
    init_from: str | None = option(None, help="start from this model folder's U-Net weights (a path, or a built-in "
                                              "model's name): training on; optimiser and schedule start afresh")
    device: str = option("auto")
    bf16: bool | None = option(None, help="bf16 autocast of the network; None: on CUDA only (CPUs with "
                                          "AVX512-BF16/AMX: ~1.9x)")
    schedule: dict = field(default_factory=lambda: ScheduleConfig().to_dict())
    vae: dict | None = None  # latent model: the autoencoder, as inpaintkit.json names it
    cache_dir: str | None = None  # where latents.safetensors / prompts.safetensors are kept [default: out]
    text_encoder: dict | None = None  # text-conditioned model: the prompt encoder, as inpaintkit.json names it
    cond_dropout: float = option(0.1, ge=0, le=1, help="probability of training on the empty prompt")
    prompt_template: str = "a photo of {article} {name}"

    def validate(self) -> None:
        if not self.out:
            raise InpaintInputError("a training run needs an output folder (out)")
        if not self.data:
            raise InpaintInputError("a training run needs data")
        ScheduleConfig.from_dict(self.schedule)  # refuses an unknown prediction type
        if self.vae is not None and self.text_encoder is not None:
            raise InpaintInputError("text-conditioned latent models are not supported by this trainer; "
                                    "set vae or text_encoder")


# The built-in models' recipes (GPU-sized; docs/training.md has the CPU variants): ``inpaintkit train
# --preset NAME --out runs/NAME``.
TRAIN_PRESETS: dict[str, dict] = {
    "faces-32": dict(data="data:celeba/train", resolution=32, crop=CELEBA_CROP, architecture="face32",
                     steps=30_000, batch_size=128, lr=3e-4),
    "faces-64": dict(data="data:celeba/train", resolution=64, crop=CELEBA_CROP, architecture="face64",
                     steps=60_000, batch_size=128, lr=2e-4),
    # 178: the whole width of the aligned 178x218 frame (hair and background included), 1.44x upsampled.
    "faces-256-latent": dict(data="data:celeba/train", resolution=256, crop=178, architecture="latent32",
                             steps=30_000, batch_size=128, lr=2e-4, vae=TAESD, schedule=LATENT_SCHEDULE.to_dict(),
                             loss_weighting="min-snr"),
    "cifar10-text": dict(data="data:cifar10/cifar10-images.tar.gz", resolution=32, crop=None,
                         architecture="text32", steps=30_000, batch_size=128, lr=2e-4, text_encoder=MINILM,
                         cond_dropout=0.1),
}


def preset_config(name: str, out: str, **overrides) -> TrainConfig:
    """The :data:`TRAIN_PRESETS` recipe ``name`` writing to ``out``, with fields replaced by ``overrides``."""
    if name not in TRAIN_PRESETS:
        raise InpaintInputError(f"unknown preset {name!r}; choose one of {', '.join(TRAIN_PRESETS)}")
    return TrainConfig(**{**TRAIN_PRESETS[name], "out": out, **overrides})
