"""Training a ControlNet (Zhang et al. 2023) on Canny edges for a text-conditioned pixel model (PILOT's spatial
control, made real offline) with the one training loop:

    x0, prompt ~ data (10 % of prompts dropped, as the base model was trained); c = Canny(x0)
    x_t = sqrt(a_t) x0 + sqrt(1 - a_t) eps
    L   = |target - U(x_t, t, prompt; residuals = C(x_t, t, prompt, c))|^2        # the base U-Net U frozen

The ControlNet C is a copy of the base U-Net's encoder with zero convolutions on its outputs
(``ControlNetModel.from_unet``): at step 0 it changes nothing. The control map is at the sample's resolution
(a pixel model: no downsampling conditioning embedding). Exports ``out/controlnet``, a diffusers
``ControlNetModel`` folder that PILOT's ``controlnet=`` option loads.
"""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ..core.errors import InpaintInputError
from ..core.files import atomic_folder, write_json
from ..core.options import Validated, option
from ..models import load_model
from ..models.controlnet import canny_map
from ..models.hub import quiet_diffusers
from .config import preset_config
from .datasets import Batch, load_training_data
from .loop import LoopSettings, training_loop


@dataclass
class ControlNetConfig(Validated):
    model: str = option("cifar10-text", help="the text-conditioned pixel model (a built-in name or folder)")
    preset: str = option("cifar10-text", help="the recipe whose data the model was trained on")
    out: str = option("", help="run folder")
    data: str | None = option(None, help="other labelled images than the preset's")
    prompt_template: str | None = option(None, help="captions of the classes [the preset's]")
    cache_dir: str | None = None
    steps: int = option(2000, ge=1)
    batch_size: int = option(32, ge=1)
    lr: float = option(1e-4, gt=0, le=1)
    warmup_steps: int = option(100, ge=0)
    canny_low: int = option(100, ge=0, le=255)
    canny_high: int = option(200, ge=0, le=255)
    seed: int = option(0, ge=0)
    bf16: bool | None = option(None)
    device: str = option("auto")
    checkpoint_every: int = option(250, ge=1)


@dataclass
class ControlNetObjective:
    """The base model's denoising loss with the ControlNet's residuals added (the base U-Net frozen)."""

    model: torch.nn.Module
    canny_low: int = 100
    canny_high: int = 200

    def __call__(self, net: torch.nn.Module, batch: Batch, g: torch.Generator) -> torch.Tensor:
        unet, schedule = self.model.unet, self.model.schedule
        x0 = batch.x0
        t = torch.randint(0, schedule.num_train_timesteps, (len(x0),), generator=g)
        noise = torch.randn(x0.shape, generator=g)
        device = next(net.parameters()).device
        x0, noise, t = x0.to(device), noise.to(device), t.to(device)
        control = canny_map(x0, self.canny_low, self.canny_high)
        embeds = batch.cond["encoder_hidden_states"].to(device)
        x_t = schedule.add_noise(x0, noise, t)
        down, mid = net(x_t, t, encoder_hidden_states=embeds, controlnet_cond=control, return_dict=False)
        pred = unet(x_t, t, encoder_hidden_states=embeds, down_block_additional_residuals=list(down),
                    mid_block_additional_residual=mid).sample
        return (pred.float() - schedule.training_target(x0, noise, t)).square().mean()


def train_controlnet(cfg: ControlNetConfig, progress: bool = True, max_minutes: float | None = None) -> Path:
    """Train (or resume) a Canny ControlNet for ``cfg.model``; returns ``out/controlnet``."""
    from diffusers import ControlNetModel

    from ..core.env import pick_device

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    device = pick_device(cfg.device)
    model = load_model(cfg.model, device=device).requires_grad_(False).eval()
    if not model.is_conditional or model.autoencoder is not None:
        raise InpaintInputError(f"train-controlnet trains a ControlNet for a text-conditioned pixel model; "
                                f"{cfg.model!r} is a {'text-conditioned ' if model.is_conditional else ''}"
                                f"{model.space} model")
    overrides = {k: v for k, v in dict(data=cfg.data, cache_dir=cfg.cache_dir, prompt_template=cfg.prompt_template,
                                       text_encoder=model.info.get("text_encoder")).items() if v is not None}
    data_cfg = preset_config(cfg.preset, str(out), resolution=model.resolution, **overrides)
    data = load_training_data(data_cfg, out, device, progress)
    torch.manual_seed(cfg.seed)
    with quiet_diffusers():  # the conditioning at the sample's resolution: one embedding block, no downsampling
        net = ControlNetModel.from_unet(model.unet, conditioning_channels=3,
                                        conditioning_embedding_out_channels=(16,)).to(device).train()
    write_json(out / "controlnet_config.json", asdict(cfg))
    meta = {"model": cfg.model, "control": "canny", "canny_low": cfg.canny_low, "canny_high": cfg.canny_high,
            "batch_size": cfg.batch_size, "lr": cfg.lr, "data": data_cfg.data}

    def export(ema: torch.nn.Module, step: int) -> None:
        with atomic_folder(out / "controlnet") as tmp, quiet_diffusers():
            copy.deepcopy(ema).half().save_pretrained(tmp, safe_serialization=True)
            write_json(tmp / "controlnet.json", {**meta, "training_steps": step})

    settings = LoopSettings(steps=cfg.steps, lr=cfg.lr, warmup_steps=cfg.warmup_steps, lr_schedule="constant",
                            ema_decay=0.999, checkpoint_every=cfg.checkpoint_every, seed=cfg.seed,
                            bf16=device.type == "cuda" if cfg.bf16 is None else cfg.bf16, max_minutes=max_minutes)
    objective = ControlNetObjective(model, cfg.canny_low, cfg.canny_high)
    training_loop(out, net, objective, lambda g: data.batch(g, cfg.batch_size, data_cfg.hflip, data_cfg.cond_dropout),
                  settings, export, progress)
    return out / "controlnet"
