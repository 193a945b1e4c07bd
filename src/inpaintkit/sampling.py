"""What every inpainting method shares: the task in the model's space, seeded noise, the reverse step.

A method is a short function ``fn(model, task, options, callback) -> images`` registered in
:mod:`inpaintkit.methods`; it reads like its paper's algorithm box and leans on these helpers only.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .models import Conditioning, DiffusionModel
from .schedule import NoiseSchedule

# callback(step_index, t, x_t, x0_hat): observe a trajectory (figures, previews).
Callback = Callable[[int, int, torch.Tensor, torch.Tensor], None]


@dataclass
class Task:
    """One batch to inpaint at the model's resolution.

    ``image``/``mask`` are pixels (B, 3, H, W) in [-1, 1] and (B, 1, H, W) with 1 = fill;
    ``known``/``known_mask`` are the same in the model's space (the encoded image and the mask
    max-pooled to the latent grid, so a latent touching the hole is regenerated; identical to the
    pixels for pixel models). ``generator`` is one generator for the batch, or one per sample, so
    that each image of a batch gets the noise it would get alone.
    """

    image: torch.Tensor
    mask: torch.Tensor
    known: torch.Tensor
    known_mask: torch.Tensor
    generator: torch.Generator | list[torch.Generator]
    cond: Conditioning | None = None
    progress: bool = True

    @classmethod
    def create(cls, model: DiffusionModel, image: torch.Tensor, mask: torch.Tensor,
               generator: torch.Generator | list[torch.Generator],
               cond: Conditioning | None = None, progress: bool = True) -> "Task":
        image, mask = image.to(model.device), mask.to(model.device)
        with torch.no_grad():
            known = model.encode(image)
        known_mask = mask if model.vae is None else F.adaptive_max_pool2d(mask, known.shape[-2:])
        return cls(image, mask, known, known_mask, generator, cond, progress)

    def randn(self, like: torch.Tensor) -> torch.Tensor:
        """Standard normal noise from the task's generator (drawn on the CPU: same seed, same noise
        on every device)."""
        if isinstance(self.generator, list):
            noise = torch.stack([torch.randn(like.shape[1:], generator=g, dtype=torch.float32) for g in self.generator])
        else:
            noise = torch.randn(like.shape, generator=self.generator, dtype=torch.float32)
        return noise.to(like.device, like.dtype)

    def initial_noise(self, model: DiffusionModel) -> torch.Tensor:
        """x_T ~ N(0, I) in the model's space."""
        return self.randn(self.known)

    def collage(self, x0: torch.Tensor) -> torch.Tensor:
        """M * x0 + (1 - M) * known in the model's space (GradPaint Eq. 3)."""
        return self.known_mask * x0 + (1 - self.known_mask) * self.known


def timestep_pairs(schedule: NoiseSchedule, steps: int) -> list[tuple[int, int]]:
    """[(t, t_prev), ...] for ``steps`` reverse steps, the last t_prev being -1 (clean)."""
    ts = schedule.timesteps(steps).tolist()
    return list(zip(ts, ts[1:] + [-1]))


def denoise_step(schedule: NoiseSchedule, task: Task, x_t: torch.Tensor, x0: torch.Tensor, t: int, t_prev: int,
                 eta: float) -> torch.Tensor:
    """x_{t_prev} from x_t and an x0 estimate: DDIM Eq. 12 with eps re-derived from x0, so that
    eta = 1 is exactly the DDPM ancestral step with x0 in the posterior mean (DDPM Eq. 7)."""
    eps = schedule.eps_from_x0(x0, x_t, t)
    noise = task.randn(x_t) if eta > 0 and t_prev >= 0 else None
    return schedule.ddim_step(x_t, x0, eps, t, t_prev, eta, noise)


def progress(pairs, task: Task, desc: str):
    return tqdm(pairs, desc=desc, disable=not task.progress, leave=False)


@torch.no_grad()
def sample(model: DiffusionModel, n: int, steps: int, generator: torch.Generator, eta: float = 1.0,
           cond: Conditioning | None = None, show_progress: bool = True) -> torch.Tensor:
    """``n`` samples from the model (DDPM ancestral steps for eta = 1, DDIM for eta = 0): inpainting
    with nothing known, so the same reverse step as every method. Returns pixels (n, 3, R, R)."""
    side = model.resolution
    task = Task.create(model, torch.zeros(n, 3, side, side), torch.ones(n, 1, side, side), generator, cond,
                       show_progress)
    x = task.initial_noise(model)
    for t, t_prev in progress(timestep_pairs(model.schedule, steps), task, "sampling"):
        x = denoise_step(model.schedule, task, x, model.predict(x, t, task.cond).x0, t, t_prev, eta)
    return model.decode(x)
