"""The steps every sampler takes: the timestep pairs of a trajectory, the reverse step, the known-region
blend, and plain sampling (inpainting with nothing known)."""
from __future__ import annotations

import torch

from ..core.schedule import NoiseSchedule
from ..models.denoiser import Conditioning, DiffusionModel
from .task import Task, progress


def timestep_pairs(schedule: NoiseSchedule, steps: int) -> list[tuple[int, int]]:
    """[(t, t_prev), ...] for ``steps`` reverse steps, the last t_prev being -1 (clean)."""
    ts = schedule.timesteps(steps).tolist()
    return list(zip(ts, ts[1:] + [-1]))


def denoise_step(schedule: NoiseSchedule, task: Task, x_t: torch.Tensor, x0: torch.Tensor, t: int, t_prev: int,
                 eta: float, variance_v: torch.Tensor | None = None) -> torch.Tensor:
    """x_{t_prev} from x_t and an x0 estimate: DDIM Eq. 12 with eps re-derived from x0, so that
    eta = 1 is exactly the DDPM ancestral step with x0 in the posterior mean (DDPM Eq. 7).
    ``variance_v``: a learned-variance model's output (``Prediction.variance_v``); at eta = 1 the step's
    variance is then the learned one (Improved DDPM Eq. 15), as RePaint and DPS sample ADM models."""
    noise = task.randn(x_t) if eta > 0 and t_prev >= 0 else None
    if variance_v is not None and eta == 1:
        mean = schedule.ddpm_step(x_t, x0, t, t_prev, None)
        if noise is None:
            return mean
        return mean + (0.5 * schedule.learned_log_variance(variance_v.to(x_t), t, t_prev)).exp() * noise
    eps = schedule.eps_from_x0(x0, x_t, t)
    return schedule.ddim_step(x_t, x0, eps, t, t_prev, eta, noise)


def blend_known(schedule: NoiseSchedule, task: Task, x_prev: torch.Tensor, t_prev: int,
                mask_z: torch.Tensor | None = None) -> torch.Tensor:
    """GradPaint Eq. 4 / RePaint Eq. 8 / Blended Latent Diffusion: the known region of x_{t_prev} taken
    from the observation noised to level t_prev with fresh noise (``mask_z``: another mask than the task's)."""
    m = task.mask_z if mask_z is None else mask_z
    noised = schedule.add_noise(task.known, task.randn(task.known), t_prev)
    return m * x_prev + (1 - m) * noised


@torch.no_grad()
def sample(model: DiffusionModel, n: int, steps: int, generator: torch.Generator | list[torch.Generator],
           eta: float = 1.0, cond: Conditioning | None = None, show_progress: bool = True) -> torch.Tensor:
    """``n`` samples from the model (DDPM ancestral steps for eta = 1, DDIM for eta = 0): inpainting
    with nothing known, so the same reverse step as every method. Returns pixels (n, 3, R, R)."""
    side = model.resolution
    task = Task.create(model, torch.zeros(n, 3, side, side), torch.ones(n, 1, side, side), generator, cond,
                       show_progress)
    x = task.initial_noise()
    for t, t_prev in progress(timestep_pairs(model.schedule, steps), task, "sampling"):
        pred = model.predict(x, t, task.cond)
        x = denoise_step(model.schedule, task, x, pred.x0, t, t_prev, eta, pred.variance_v)
    return model.decode(x)
