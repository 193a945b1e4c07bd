"""Training objectives: small callables ``objective(net, batch, generator) -> loss`` that the one training
loop (:mod:`.loop`) minimises, in the manner of EDM's ``training/loss.py``. Each draws its own randomness
from the step's generator, so a resumed run repeats an uninterrupted one exactly."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch

from ..core.schedule import NoiseSchedule
from .datasets import Batch


class Objective(Protocol):
    def __call__(self, net: torch.nn.Module, batch: Batch, generator: torch.Generator) -> torch.Tensor:
        """The scalar loss of one batch (computed in float32)."""


def min_snr_weights(schedule: NoiseSchedule, t: torch.Tensor, gamma: float) -> torch.Tensor:
    """Min-SNR-gamma loss weights (Hang et al. 2023, Eq. 10) for the schedule's parameterisation: the
    x0-space weight min(SNR, gamma) divided by what the target's MSE already weighs x0 errors by
    (SNR for eps, SNR + 1 for v, 1 for x0)."""
    snr = schedule.snr(t).float()
    clipped = snr.clamp(max=gamma)
    kind = schedule.config.prediction_type
    return clipped / snr if kind == "epsilon" else clipped / (snr + 1) if kind == "v_prediction" else clipped


@dataclass
class DenoisingObjective:
    """DDPM's simple objective (Ho et al. 2020, Eq. 14): at a uniform timestep t, x_t = q(x_t | x0) and the
    network regresses the schedule's target (eps, v or x0), optionally weighted per timestep by
    min-SNR-gamma."""

    schedule: NoiseSchedule
    weighting: str = "none"
    snr_gamma: float = 5.0

    def __call__(self, net: torch.nn.Module, batch: Batch, generator: torch.Generator) -> torch.Tensor:
        x0 = batch.x0
        t = torch.randint(0, self.schedule.num_train_timesteps, (len(x0),), generator=generator)
        noise = torch.randn(x0.shape, generator=generator)
        device = next(net.parameters()).device
        x0, noise, t_dev = x0.to(device), noise.to(device), t.to(device)
        x_t = self.schedule.add_noise(x0, noise, t_dev)
        target = self.schedule.training_target(x0, noise, t_dev)
        cond = {k: v.to(device) for k, v in batch.cond.items()}
        pred = net(x_t, t_dev, **cond).sample
        per_sample = (pred.float() - target).square().flatten(1).mean(1)
        if self.weighting == "min-snr":
            per_sample = per_sample * min_snr_weights(self.schedule, t, self.snr_gamma).to(device)
        return per_sample.mean()
