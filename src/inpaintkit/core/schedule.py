"""Diffusion math shared by every method: noise schedules, timestep spacings, q(x_t | x_0),
conversions between eps-, v- and x0-prediction, and the DDPM / DDIM update rules.

Notation follows Ho et al. 2020 (DDPM) and Song et al. 2021 (DDIM): alpha_bar_t is the cumulative
product of (1 - beta_t); x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps.
Timesteps are integer indices in [0, T); the "previous" timestep of the last step is -1, whose
alpha_bar is 1 (a clean image), as in diffusers' schedulers with ``set_alpha_to_one=True``.
The betas and their cumulative product are computed in float32 exactly as diffusers computes them:
that table, not a more precise one, is what diffusers-trained models saw.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

from .errors import InpaintInputError

BETA_SCHEDULES = ("linear", "scaled_linear", "squaredcos_cap_v2")
SPACINGS = ("leading", "trailing", "linspace")
PREDICTION_TYPES = ("epsilon", "v_prediction", "sample")


def make_betas(kind: str, num_train_timesteps: int, beta_start: float, beta_end: float) -> torch.Tensor:
    """beta_1..beta_T in float32, as diffusers builds them. ``squaredcos_cap_v2`` is the cosine
    schedule of Nichol & Dhariwal 2021."""
    T = num_train_timesteps
    if kind == "linear":
        return torch.linspace(beta_start, beta_end, T, dtype=torch.float32)
    if kind == "scaled_linear":  # Stable Diffusion's schedule
        return torch.linspace(beta_start**0.5, beta_end**0.5, T, dtype=torch.float32) ** 2
    if kind in ("squaredcos_cap_v2", "cosine"):
        f = lambda t: math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
        return torch.tensor([min(1 - f((i + 1) / T) / f(i / T), 0.999) for i in range(T)], dtype=torch.float32)
    raise ValueError(f"unknown beta schedule {kind!r}; choose one of {BETA_SCHEDULES}")


@dataclass(frozen=True)
class ScheduleConfig:
    """The training schedule of a model; field names match diffusers' scheduler_config.json."""

    num_train_timesteps: int = 1000
    beta_schedule: str = "linear"
    beta_start: float = 0.0001
    beta_end: float = 0.02
    prediction_type: str = "epsilon"
    clip_sample: bool = True
    clip_sample_range: float = 1.0
    timestep_spacing: str = "leading"
    steps_offset: int = 0
    variance_type: str = "fixed_small"  # "learned_range": the network also outputs v of Improved DDPM Eq. 15

    @classmethod
    def from_dict(cls, d: dict) -> "ScheduleConfig":
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in d.items() if k in known})

    def __post_init__(self):
        if self.prediction_type not in PREDICTION_TYPES:
            raise InpaintInputError(f"prediction type {self.prediction_type!r}: choose one of "
                                    f"{', '.join(PREDICTION_TYPES)}")

    def to_dict(self) -> dict:
        return asdict(self)


# Stable Diffusion's training schedule (LDM's "scaled linear" betas); latents are never clipped.
SD_EPS_SCHEDULE = ScheduleConfig(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, clip_sample=False)
# The same betas with v-prediction, as in SD 2 and the Seamless Borders paper: the schedule of the latent
# face model. x0 = sqrt(ab) x_t - sqrt(1 - ab) v stays well conditioned at high noise, where
# eps-prediction divides by sqrt(ab) -> 0, and every inpainting method here reads x0 estimates.
LATENT_SCHEDULE = ScheduleConfig(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                                 prediction_type="v_prediction", clip_sample=False)


class NoiseSchedule:
    """alpha_bar_t for a trained model plus the update rules that use it."""

    def __init__(self, config: ScheduleConfig | None = None, **overrides):
        config = config or ScheduleConfig()
        if overrides:
            config = ScheduleConfig(**{**config.to_dict(), **overrides})
        self.config = config
        self.num_train_timesteps = config.num_train_timesteps
        betas = make_betas(config.beta_schedule, config.num_train_timesteps, config.beta_start, config.beta_end)
        self.betas = betas.double()
        self.alphas_cumprod = torch.cumprod(1.0 - betas, dim=0).double()  # the float32 table, held in float64
        self._scalar_cache: dict = {}

    # -- timesteps -------------------------------------------------------------------------
    def timesteps(self, num_steps: int) -> torch.Tensor:
        """Descending inference timesteps with diffusers' spacing rules (Lin et al. 2024, Table 2)."""
        T, spacing = self.num_train_timesteps, self.config.timestep_spacing
        if not 1 <= num_steps <= T:
            raise ValueError(f"steps must be in [1, {T}], got {num_steps}")
        if spacing == "leading":
            ts = torch.arange(num_steps) * (T // num_steps) + self.config.steps_offset
        elif spacing == "trailing":
            ts = torch.round(torch.arange(T, 0, -T / num_steps, dtype=torch.float64)).long().flip(0) - 1
        elif spacing == "linspace":
            ts = torch.round(torch.linspace(0, T - 1, num_steps, dtype=torch.float64)).long()
        else:
            raise ValueError(f"unknown timestep spacing {spacing!r}; choose one of {SPACINGS}")
        return ts.flip(0).long()

    def alpha_bar(self, t, like: torch.Tensor) -> torch.Tensor:
        """alpha_bar_t broadcast to ``like``'s shape; t = -1 gives 1.  t: int or (B,) tensor.

        For a Python int (every sampler's case) the value is a cached 0-dim tensor: the reverse loop
        then spends its time in the network, not in building coefficients."""
        if isinstance(t, int):
            key = (t, like.device, like.dtype)
            if key not in self._scalar_cache:
                value = 1.0 if t < 0 else self.alphas_cumprod[t].item()
                self._scalar_cache[key] = torch.tensor(value, device=like.device, dtype=like.dtype)
            return self._scalar_cache[key]
        t = torch.as_tensor(t, device=self.alphas_cumprod.device).long().reshape(-1)
        ab = torch.where(t >= 0, self.alphas_cumprod[t.clamp(min=0)], torch.ones((), dtype=torch.float64))
        ab = ab.to(device=like.device, dtype=like.dtype)
        return ab.reshape(-1, *([1] * (like.ndim - 1)))

    # -- forward process -------------------------------------------------------------------
    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t) -> torch.Tensor:
        """Sample q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I)."""
        ab = self.alpha_bar(t, x0)
        return ab.sqrt() * x0 + (1 - ab).sqrt() * noise

    def noise_from(self, x_s: torch.Tensor, s, t, noise: torch.Tensor) -> torch.Tensor:
        """Sample q(x_t | x_s) for t > s: the forward jump RePaint's time travel uses."""
        ratio = self.alpha_bar(t, x_s) / self.alpha_bar(s, x_s)
        return ratio.sqrt() * x_s + (1 - ratio).sqrt() * noise

    def velocity(self, x0: torch.Tensor, noise: torch.Tensor, t) -> torch.Tensor:
        """v = sqrt(alpha_bar) eps - sqrt(1 - alpha_bar) x0 (Salimans & Ho 2022)."""
        ab = self.alpha_bar(t, x0)
        return ab.sqrt() * noise - (1 - ab).sqrt() * x0

    def training_target(self, x0: torch.Tensor, noise: torch.Tensor, t) -> torch.Tensor:
        """What the network learns to output at (x_t = add_noise(x0, noise, t), t): eps, v or x0, by the
        schedule's prediction type (DDPM Eq. 14's target for eps)."""
        kind = self.config.prediction_type
        if kind == "epsilon":
            return noise
        if kind == "v_prediction":
            return self.velocity(x0, noise, t)
        return x0

    def snr(self, t) -> torch.Tensor:
        """Signal-to-noise ratio alpha_bar / (1 - alpha_bar) at integer timesteps ``t`` (a (B,) tensor)."""
        ab = self.alphas_cumprod[torch.as_tensor(t).long().cpu()]
        return ab / (1 - ab)

    # -- parameterisations -----------------------------------------------------------------
    def to_x0_eps(self, model_output: torch.Tensor, x_t: torch.Tensor, t) -> tuple[torch.Tensor, torch.Tensor]:
        """(x0_hat, eps_hat) from a network output of the schedule's prediction type (of a learned-variance
        output, its first ``x_t.shape[1]`` channels: the variance half is :meth:`learned_log_variance`'s)."""
        model_output = model_output[:, :x_t.shape[1]]
        ab = self.alpha_bar(t, x_t)
        a, s = ab.sqrt(), (1 - ab).sqrt()
        kind = self.config.prediction_type
        if kind == "epsilon":
            eps = model_output
            x0 = (x_t - s * eps) / a
        elif kind == "v_prediction":
            x0 = a * x_t - s * model_output
            eps = a * model_output + s * x_t
        else:  # "sample"
            x0 = model_output
            eps = (x_t - a * x0) / s
        return x0, eps

    def eps_from_x0(self, x0: torch.Tensor, x_t: torch.Tensor, t) -> torch.Tensor:
        ab = self.alpha_bar(t, x_t)
        return (x_t - ab.sqrt() * x0) / (1 - ab).sqrt()

    def clip(self, x0: torch.Tensor) -> torch.Tensor:
        """Clip an x0 estimate to the data range when the model was trained with ``clip_sample``."""
        if not self.config.clip_sample:
            return x0
        r = self.config.clip_sample_range
        return x0.clamp(-r, r)

    # -- reverse steps ---------------------------------------------------------------------
    def ddpm_step(self, x_t, x0, t, t_prev, noise: torch.Tensor | None) -> torch.Tensor:
        """Ancestral step: sample q(x_{t_prev} | x_t, x0_hat) (DDPM Eq. 6-7, 'fixed_small' variance)."""
        ab_t, ab_prev = self.alpha_bar(t, x_t), self.alpha_bar(t_prev, x_t)
        alpha = ab_t / ab_prev
        beta = 1 - alpha
        mean = (ab_prev.sqrt() * beta / (1 - ab_t)) * x0 + (alpha.sqrt() * (1 - ab_prev) / (1 - ab_t)) * x_t
        if noise is None:
            return mean
        var = ((1 - ab_prev) / (1 - ab_t) * beta).clamp(min=1e-20)
        final = torch.as_tensor(t_prev, device=x_t.device).reshape(-1, *([1] * (x_t.ndim - 1))) < 0
        return mean + torch.where(final, torch.zeros_like(var), var.sqrt()) * noise

    def learned_log_variance(self, v: torch.Tensor, t, t_prev) -> torch.Tensor:
        """log Sigma of the step t -> t_prev from the network's v in [-1, 1] (Improved DDPM Eq. 15):
        exp(frac log beta + (1 - frac) log beta_tilde), frac = (v + 1) / 2, with beta and beta_tilde of the
        step actually taken (respaced, as guided-diffusion's SpacedDiffusion computes them)."""
        ab_t, ab_prev = self.alpha_bar(t, v), self.alpha_bar(t_prev, v)
        beta = 1 - ab_t / ab_prev
        beta_tilde = (1 - ab_prev) / (1 - ab_t) * beta
        frac = (v + 1) / 2
        return frac * beta.clamp(min=1e-20).log() + (1 - frac) * beta_tilde.clamp(min=1e-20).log()

    def ddim_step(self, x_t, x0, eps, t, t_prev, eta: float = 0.0, noise: torch.Tensor | None = None):
        """DDIM update (Song et al. 2021, Eq. 12); eta = 1 is DDPM-like, eta = 0 deterministic."""
        ab_t, ab_prev = self.alpha_bar(t, x_t), self.alpha_bar(t_prev, x_t)
        sigma = eta * ((1 - ab_prev) / (1 - ab_t) * (1 - ab_t / ab_prev)).sqrt()
        x_prev = ab_prev.sqrt() * x0 + (1 - ab_prev - sigma**2).clamp(min=0).sqrt() * eps
        if eta > 0 and noise is not None:
            x_prev = x_prev + sigma * noise
        return x_prev
