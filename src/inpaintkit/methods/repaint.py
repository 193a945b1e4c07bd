"""RePaint (Lugmayr et al. 2022, Alg. 1 with the time-travel schedule of §4.2 / Fig. 9).

    x_T ~ N(0, I)
    for (t_last, t) in the time-travel schedule:
        if t < t_last:                                            # one reverse step, Alg. 1 lines 4-8
            x_known   = sqrt(a_{t-1}) I + sqrt(1 - a_{t-1}) eps             # Eq. 8, M = 1 fills
            x_unknown = DDPM step from x_t
            x_{t-1}   = (1 - M) * x_known + M * x_unknown
        else:                                                     # jump back in time, Alg. 1 line 10
            x_t ~ q(x_t | x_{t-1})

The schedule goes down ``jump_length`` steps, back up ``jump_length`` steps, and repeats each such
segment ``jump_n_sample`` times (r - 1 jumps per segment), exactly as diffusers' RePaintScheduler.
Like diffusers, it uses RePaint's own spacing t = i * (T // steps) whatever the model's
``timestep_spacing``. Differences from diffusers' scheduler, all numerically small: our reverse
step re-derives eps from the clipped x0 (diffusers keeps the raw network eps), the known region
gets fresh noise (diffusers reuses the reverse step's noise, the original RePaint code does not),
and a forward jump is one exact draw from q(x_t | x_s) (diffusers applies betas shifted by one
inference step, which only matters when T // steps > 1). A learned-variance model (guided-diffusion's
``learn_sigma`` checkpoints, which RePaint evaluates) samples its reverse steps with the learned variance
(Improved DDPM Eq. 15), as the RePaint code does.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..core.errors import InpaintInputError
from ..core.options import option
from ..sampling import StepInfo, blend_known, denoise_step, progress
from .registry import DiffusionOptions, register


@dataclass
class RePaintOptions(DiffusionOptions):
    steps: int = option(250, ge=1, help="the paper's T (Table 4: T = 250, j = 10, r = 10)")
    jump_length: int = option(10, ge=1, help="j: steps taken back up in each time-travel jump")
    jump_n_sample: int = option(10, ge=1, help="r: resamplings of each segment (r - 1 jumps)")


def repaint_schedule(steps: int, jump_length: int = 10, jump_n_sample: int = 10,
                     num_train_timesteps: int = 1000) -> list[int]:
    """The time-travel path of timesteps, identical to diffusers'
    ``RePaintScheduler.set_timesteps(steps, jump_length, jump_n_sample).timesteps``."""
    if min(steps, jump_length, jump_n_sample) < 1:
        raise InpaintInputError(f"repaint needs steps, jump_length and jump_n_sample >= 1, "
                                f"got {steps}, {jump_length}, {jump_n_sample}")
    steps = min(steps, num_train_timesteps)
    jumps_left = {i: jump_n_sample - 1 for i in range(0, steps - jump_length, jump_length)}
    path, i = [], steps
    while i >= 1:
        i -= 1
        path.append(i)
        if jumps_left.get(i, 0) > 0:
            jumps_left[i] -= 1
            path.extend(range(i + 1, i + jump_length + 1))
            i += jump_length
    stride = num_train_timesteps // steps
    return [i * stride for i in path]


@register("repaint", RePaintOptions, "DDPM sampling with known-region blending and time-travel resampling (RePaint)",
          paper="Lugmayr et al. 2022, Alg. 1")
@torch.no_grad()
def repaint(model, task, opts: RePaintOptions, callback=None):
    schedule = model.schedule
    path = repaint_schedule(opts.steps, opts.jump_length, opts.jump_n_sample, schedule.num_train_timesteps)
    stride = schedule.num_train_timesteps // min(opts.steps, schedule.num_train_timesteps)

    def after(t):  # the noise level a reverse step at t lands on; -1 = clean
        return max(t - stride, -1)

    x = task.initial_noise()
    t_last = path[0] + 1
    for i, t in enumerate(progress(path, task, "repaint")):
        if t < t_last:  # Alg. 1 lines 4-8
            pred = model.predict(x, t, task.cond)
            if callback:
                callback(StepInfo(i, t, x, pred.x0))
            x_prev = denoise_step(schedule, task, x, pred.x0, t, after(t), opts.eta, pred.variance_v)
            x = blend_known(schedule, task, x_prev, after(t))
        else:  # Alg. 1 line 10: x sits at level after(t_last); one step back up to after(t) = t_last
            x = schedule.noise_from(x, after(t_last), t_last, task.randn(x))
        t_last = t
    return model.decode(x)
