"""``inpaintkit train``: one resumable training loop for every trainer, and the DDPM trainer of the built-in models.

:func:`training_loop` minimises an objective (:mod:`.objectives`) over batches drawn from data, with AdamW,
linear warm-up (then constant or cosine), gradient clipping, an EMA of the weights with warm-up, bf16
autocast, atomic checkpoints, a deadline and a progress bar. Every random draw of step k comes from a
generator seeded by (seed, k), so a run resumed from its checkpoint continues exactly as an
uninterrupted one would. Checkpoints hold tensors and plain values only and are read back with
``weights_only=True``: a checkpoint that would need pickle code execution is refused. A new trainer is a
new objective plus its data, not a new loop.

:func:`train` is the DDPM trainer: the simple objective of Ho et al. 2020 (Eq. 14) with the target set
by the schedule's prediction type (eps, v or x0), on pixels, autoencoder latents or captioned images
(:mod:`.datasets`). The exported folder names its autoencoder and text encoder in ``inpaintkit.json``
instead of shipping them. A run may start from a trained model's U-Net (``init_from``) to train it on with
a new schedule; its export counts the steps in all and names the model it started from.
"""
from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch
from tqdm.auto import tqdm

from ..core.env import pick_device
from ..core.errors import InpaintInputError
from ..core.files import torch_load, torch_save, write_json
from ..core.schedule import NoiseSchedule, ScheduleConfig
from ..models.catalog import model_info, shipped_folder
from ..models.export import write_model_folder
from ..nets.unets import build_unet
from .config import TrainConfig
from .datasets import Batch, load_training_data
from .objectives import DenoisingObjective, Objective


@dataclass
class LoopSettings:
    steps: int
    lr: float
    warmup_steps: int = 200
    lr_schedule: str = "constant"
    min_lr_ratio: float = 0.1
    ema_decay: float = 0.999
    checkpoint_every: int = 500
    seed: int = 0
    bf16: bool = False
    grad_clip: float = 1.0
    max_minutes: float | None = None

    def learning_rate(self, step: int) -> float:
        """Linear warm-up over ``warmup_steps``, then constant or cosine down to ``min_lr_ratio * lr``."""
        if step < self.warmup_steps:
            return self.lr * (step + 1) / self.warmup_steps
        if self.lr_schedule == "constant":
            return self.lr
        progress = (step - self.warmup_steps) / max(1, self.steps - self.warmup_steps)
        return self.lr * (self.min_lr_ratio + (1 - self.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def training_loop(out: Path, net: torch.nn.Module, objective: Objective, draw: Callable[[torch.Generator], Batch],
                  settings: LoopSettings, export: Callable[[torch.nn.Module, int], None],
                  progress: bool = True) -> int:
    """Train ``net`` (its parameters with ``requires_grad``) on batches ``draw(generator)`` to
    ``settings.steps``, resuming from ``out/checkpoint.pt``; ``export(ema, step)`` writes the EMA weights
    at every checkpoint. Returns the step reached (less than ``steps`` when the deadline stopped it)."""
    deadline = time.time() + 60 * settings.max_minutes if settings.max_minutes is not None else None
    device = next(net.parameters()).device
    params = [p for p in net.parameters() if p.requires_grad]
    ema = copy.deepcopy(net).requires_grad_(False)
    ema_params = [pe for pe, p in zip(ema.parameters(), net.parameters()) if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=settings.lr, weight_decay=0.0)
    step = 0
    ckpt_path = out / "checkpoint.pt"
    if ckpt_path.exists():
        state = torch_load(ckpt_path, map_location=device)
        net.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["optimizer"])
        step = state["step"]

    def save() -> None:
        torch_save({"model": net.state_dict(), "ema": ema.state_dict(), "optimizer": opt.state_dict(),
                    "step": step}, ckpt_path)
        export(ema, step)

    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=settings.bf16)
    bar = tqdm(total=settings.steps, initial=step, desc="training", disable=not progress)
    t_start, loss_avg = time.time(), None
    with open(out / "log.jsonl", "a") as log:
        while step < settings.steps:
            g = torch.Generator().manual_seed(settings.seed * 1_000_003 + step)
            for group in opt.param_groups:
                group["lr"] = settings.learning_rate(step)
            with autocast:
                loss = objective(net, draw(g), g)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, settings.grad_clip)
            opt.step()
            decay = min(settings.ema_decay, (1 + step) / (10 + step))
            with torch.no_grad():
                for pe, p in zip(ema_params, params):
                    pe.lerp_(p, 1 - decay)
            step += 1
            loss_avg = loss.item() if loss_avg is None else 0.98 * loss_avg + 0.02 * loss.item()
            bar.update(1)
            bar.set_postfix(loss=f"{loss_avg:.4f}")
            if step % 50 == 0:
                log.write(json.dumps({"step": step, "loss": round(loss_avg, 5),
                                      "lr": settings.learning_rate(step - 1),
                                      "seconds": round(time.time() - t_start, 1)}) + "\n")
                log.flush()
            out_of_time = deadline is not None and time.time() > deadline
            if step % settings.checkpoint_every == 0 or step == settings.steps or out_of_time:
                save()
                if out_of_time:
                    break
    bar.close()
    return step


def load_initial_weights(unet: torch.nn.Module, source: str) -> dict:
    """Copy the U-Net weights of the model folder ``source`` (a path, or a built-in model's name) into
    ``unet``, for a run that trains a model on; returns what its card records of the start: the source and
    the steps it had been trained."""
    from safetensors.torch import load_file

    folder = shipped_folder(source)
    files = sorted((folder / "unet" if (folder / "unet").is_dir() else folder).glob("*.safetensors"))
    if not files:
        raise InpaintInputError(f"init_from {source!r}: no U-Net weights (*.safetensors) found in {folder}")
    state = {k: v for f in files for k, v in load_file(f).items()}
    try:
        unet.load_state_dict({k: v.float() for k, v in state.items()})
    except RuntimeError as e:
        raise InpaintInputError(f"init_from {source!r}: its U-Net does not fit this run's architecture: "
                                f"{str(e).splitlines()[0]}") from None
    return {"model": str(source), "training_steps": model_info(folder).get("training_steps", 0)}


def train(cfg: TrainConfig, progress: bool = True, max_minutes: float | None = None) -> Path:
    """Train (or resume) the DDPM run in ``cfg.out``; returns its exported model folder. ``max_minutes``
    stops early, with a checkpoint, for machines leased by the minute: run again to go on."""
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    device = pick_device(cfg.device)
    schedule = NoiseSchedule(ScheduleConfig.from_dict(cfg.schedule))
    data = load_training_data(cfg, out, device, progress)
    torch.manual_seed(cfg.seed)
    embed_dim = data.prompt_embeds.shape[-1] if data.prompt_embeds is not None else None
    unet = build_unet(cfg.architecture, data.samples.shape[-1], data.samples.shape[1], embed_dim).to(device)
    start = load_initial_weights(unet, cfg.init_from) if cfg.init_from else None
    write_json(out / "train_config.json", asdict(cfg))
    meta = {"resolution": cfg.resolution, "architecture": cfg.architecture, "data": str(cfg.data),
            "batch_size": cfg.batch_size, **data.model_meta, **({"init_from": start} if start else {})}

    def export(ema: torch.nn.Module, step: int) -> None:
        steps_in_all = step + (start["training_steps"] if start else 0)
        write_model_folder(out / "model", ema, schedule.config, meta={"training_steps": steps_in_all, **meta})

    settings = LoopSettings(steps=cfg.steps, lr=cfg.lr, warmup_steps=cfg.warmup_steps, lr_schedule=cfg.lr_schedule,
                            min_lr_ratio=cfg.min_lr_ratio, ema_decay=cfg.ema_decay,
                            checkpoint_every=cfg.checkpoint_every, seed=cfg.seed,
                            bf16=device.type == "cuda" if cfg.bf16 is None else cfg.bf16, max_minutes=max_minutes)
    objective = DenoisingObjective(schedule, cfg.loss_weighting, cfg.snr_gamma)
    training_loop(out, unet, objective, lambda g: data.batch(g, cfg.batch_size, cfg.hflip, cfg.cond_dropout),
                  settings, export, progress)
    return out / "model"
