"""Training LatentPaint's Explicit Propagation modules (Corneanu et al. 2024, Eq. 12) as an objective of the
one training loop: the denoiser frozen, only the EP modules learn, with the simple eps (or v) loss under the
LatentPaint forward pass (latent-space conditioning + EP), on masks drawn from the evaluation harness's
generators. The paper gives no objective, data or schedule; these are ours (docs/latentpaint.md).

    x0 ~ data, M ~ masks, t ~ U{0..T-1}, eps, eps_c ~ N(0, I)
    x_t    = sqrt(a_t) x0 + sqrt(1 - a_t) eps
    x_cond = (1 - M) x_t + M sqrt(1 - a_t) eps_c                  # as at inference
    L      = mean_M |out - target|^2 / mean(M) + w_known mean_{1-M} |out - target|^2   (hole-weighted)
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from ..core.errors import InpaintInputError
from ..core.files import write_json
from ..core.options import Validated, option
from ..data.masks import check_mask_set, draw_masks
from ..models import load_model
from ..nets.ep_module import EP_MODES, ExplicitPropagation, middle_channels, save_ep_modules
from ..sampling.latent_conditioning import EP_LOCATIONS, lsc_output, training_pair
from .config import preset_config
from .datasets import Batch, load_training_data
from .loop import LoopSettings, training_loop

DEFAULT_MASKS = {"thick": 3, "medium": 1, "thin": 1, "box-random": 1, "half-left": 0.5, "half-right": 0.5,
                 "half-top": 0.5, "half-bottom": 0.5}


@dataclass
class EPConfig(Validated):
    model: str = option("faces-32", help="the denoiser the modules are trained for (a built-in name or folder)")
    preset: str = option("faces-32", help="the training recipe whose data the denoiser was trained on")
    out: str = option("", help="run folder")
    cache_dir: str | None = None
    data: str | None = option(None, help="other training images than the preset's (with resolution and crop)")
    resolution: int | None = option(None, ge=8)
    crop: int | None = option(None, ge=1)
    max_images: int | None = option(None, ge=1, help="the first n training images only (latent models encode them)")
    modules: int = option(2, ge=1, le=2, help="EP modules: the middle block's input (1) and output (2)")
    hidden: int | None = option(None, ge=1, help="the MLP's hidden width; None: a quarter of the channels")
    mode: str = option("residual", choices=EP_MODES)
    steps: int = option(1500, ge=1)
    batch_size: int = option(32, ge=1)
    lr: float = option(1e-3, gt=0, le=1)
    warmup_steps: int = option(50, ge=0)
    known_weight: float = option(0.1, ge=0, help="weight of the known region in the loss (1: the plain mean)")
    masks: dict = field(default_factory=lambda: dict(DEFAULT_MASKS))
    seed: int = option(0, ge=0)
    bf16: bool | None = option(None)
    device: str = option("auto")
    checkpoint_every: int = option(250, ge=1)

    def validate(self):
        for name in self.masks:
            check_mask_set(name)


@dataclass
class EPObjective:
    """The denoising loss of the frozen ``model`` under latent-space conditioning and the EP modules being trained."""

    model: torch.nn.Module
    mask_weights: dict[str, float]
    known_weight: float = 0.1

    def __call__(self, net: torch.nn.ModuleDict, batch: Batch, g: torch.Generator) -> torch.Tensor:
        model, schedule = self.model, self.model.schedule
        x0 = batch.x0
        n = len(x0)
        mask = draw_masks(self.mask_weights, self.model.resolution, n, g)
        t = torch.randint(0, schedule.num_train_timesteps, (n,), generator=g)
        noise, noise_c = torch.randn(x0.shape, generator=g), torch.randn(x0.shape, generator=g)
        device = model.device
        x0, noise, noise_c, mask, t = (v.to(device) for v in (x0, noise, noise_c, mask, t))
        x_t, x_cond, mask_z = training_pair(schedule, x0, mask, t, noise, noise_c)
        embeds = batch.cond.get("encoder_hidden_states")
        out = lsc_output(model, x_t, x_cond, t, 1 - mask, dict(net.items()), embeds=embeds).float()
        error = (out - schedule.training_target(x0, noise, t)).square()
        hole = mask_z.expand_as(error)
        per_sample = (error * hole).flatten(1).sum(1) / hole.flatten(1).sum(1).clamp(min=1)
        per_sample = per_sample + self.known_weight * (error * (1 - hole)).flatten(1).mean(1)
        return per_sample.mean()


def train_ep(cfg: EPConfig, progress: bool = True, max_minutes: float | None = None) -> Path:
    """Train (or resume) EP modules for ``cfg.model``; writes ``out/latentpaint/ep{modules}.safetensors`` + its
    json, the folder to copy into the model's folder (where the ``latentpaint`` method finds it)."""
    from ..core.env import pick_device

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    device = pick_device(cfg.device)
    model = load_model(cfg.model, device=device).requires_grad_(False).eval()
    overrides = {k: v for k, v in dict(data=cfg.data, resolution=cfg.resolution, crop=cfg.crop,
                                           max_images=cfg.max_images).items() if v is not None}
    data_cfg = preset_config(cfg.preset, str(out), cache_dir=cfg.cache_dir, **overrides)
    side = model.sample_size
    if data_cfg.resolution // model.vae_scale != side:
        raise InpaintInputError(f"model {cfg.model!r} denoises {model.resolution} px images; the data is prepared at "
                                f"{data_cfg.resolution} px (set the resolution)")
    data = load_training_data(data_cfg, out, device, progress)
    channels = middle_channels(model.unet)
    torch.manual_seed(cfg.seed)
    locations = EP_LOCATIONS[:cfg.modules]
    net = torch.nn.ModuleDict({loc: ExplicitPropagation(channels, cfg.hidden, cfg.mode) for loc in locations}).to(device)
    objective = EPObjective(model, {k: float(w) for k, w in cfg.masks.items()}, cfg.known_weight)
    write_json(out / "ep_config.json", asdict(cfg))
    meta = {"model": cfg.model, "masks": cfg.masks, "known_weight": cfg.known_weight, "batch_size": cfg.batch_size,
            "lr": cfg.lr, "data": data_cfg.data, "max_images": data_cfg.max_images}

    def export(ema: torch.nn.Module, step: int) -> None:
        save_ep_modules(dict(ema.items()), out / "latentpaint", {**meta, "training_steps": step})

    settings = LoopSettings(steps=cfg.steps, lr=cfg.lr, warmup_steps=cfg.warmup_steps, lr_schedule="cosine",
                            ema_decay=0.99, checkpoint_every=cfg.checkpoint_every, seed=cfg.seed,
                            bf16=device.type == "cuda" if cfg.bf16 is None else cfg.bf16, max_minutes=max_minutes)
    training_loop(out, net, objective, lambda g: data.batch(g, cfg.batch_size, data_cfg.hflip, data_cfg.cond_dropout),
                  settings, export, progress)
    return out / "latentpaint"
