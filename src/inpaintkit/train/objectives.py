"""Training objectives: small callables ``objective(net, batch, generator) -> loss`` that the one training
loop (:mod:`.loop`) minimises, in the manner of EDM's ``training/loss.py``. Each draws its own randomness
from the step's generator, so a resumed run repeats an uninterrupted one exactly."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch

from ..core.geometry import dilate, erode, latent_mask
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


def seam_blend(z_full: torch.Tensor, z_masked: torch.Tensor, mask_z: torch.Tensor) -> torch.Tensor:
    """Towards Seamless Borders Eq. 6's latent: the whole image's encoding E(x) in the hole, the masked image's
    E((1 - M) x) elsewhere (the paper's m = 1 - M), as inference blends it: what the decoder must decode
    without a seam."""
    return mask_z * z_full + (1 - mask_z) * z_masked


@dataclass
class SeamDecoderObjective:
    """Towards Seamless Borders §3.3, Eq. 6: fine-tune the decoder on x_hat = D(seam_blend(E(x), E((1 - M) x), M_r))
    against x. ``net`` is the model's :class:`~inpaintkit.models.autoencoder.Autoencoder`, only its decoder
    learning: the encodings come with the batch, made once by the frozen encoder (``batch.latents`` = E(x),
    ``batch.known`` = E((1 - M) x), so the latent space the denoiser knows stays valid: the decoder-only reading,
    docs/seamless.md); ``batch.x0`` the pixels under them in [-1, 1], ``batch.mask`` M (1 = fill; all zeros: the
    plain round trip, so that ordinary decoding does not regress), ``batch.weight`` per-pixel loss weights (a
    latent window's valid part; none: every pixel). Loss: L1 + ``perceptual_weight`` x LPIPS (``lpips``: pixels,
    pixels -> (B,)) + ``seam_weight`` x L1 over the band of ``seam_band`` pixels either side of the hole's border,
    each over the weighted pixels (a pixel of weight 0 is replaced by its target: no loss, no gradient)."""

    perceptual_weight: float = 1.0
    seam_weight: float = 2.0
    seam_band: int = 8
    lpips: object = None

    def __call__(self, net: torch.nn.Module, batch: Batch, generator: torch.Generator) -> torch.Tensor:
        device = next(net.parameters()).device
        x, mask, z_full = batch.x0.to(device), batch.mask.to(device), batch.latents.to(device)
        weight = torch.ones_like(mask) if batch.weight is None else batch.weight.to(device)
        z = seam_blend(z_full, batch.known.to(device), latent_mask(mask, z_full.shape[-2:]))
        x_hat = net.decode(z, clamp=False)  # no clamp: every pixel keeps its gradient
        x_hat = weight * x_hat + (1 - weight) * x
        error = (x_hat - x).abs()
        loss = error.flatten(1).sum(1) / (weight.flatten(1).sum(1) * x.shape[1]).clamp(min=1)
        band = ((dilate(mask, self.seam_band) - erode(mask, self.seam_band)) * weight).expand_as(error)
        loss = loss + self.seam_weight * (error * band).flatten(1).sum(1) / band.flatten(1).sum(1).clamp(min=1)
        if self.lpips is not None and self.perceptual_weight:
            loss = loss + self.perceptual_weight * self.lpips(x_hat, x).reshape(-1)
        return loss.mean()


@dataclass
class TwoStepObjective:
    """Towards Seamless Borders Alg. 1, blend-aware two-step training of a v-prediction denoiser: the plain loss
    L1 at t, then the network's own estimate, blended with the known region's latents as inference blends it,
    re-noised to the next inference step, and regressed onto the v-target that leads back to the true z0:

        z_t = sqrt(a_t) z0 + sqrt(1 - a_t) eps1;  v1 = sqrt(a_t) eps1 - sqrt(1 - a_t) z0     # lines 1-2
        L1 = |v1 - v(z_t, t)|^2                                                            # line 3
        z0^ = sqrt(a_t) z_t - sqrt(1 - a_t) v(z_t, t);  z0^ = M z0^ + (1 - M) z0^masked     # lines 4-5
        z_s = sqrt(a_s) z0^ + sqrt(1 - a_s) eps2                                           # line 6, s = t - stride
        eps2* = (z_s - sqrt(a_s) z0) / sqrt(1 - a_s);  v2 = sqrt(a_s) eps2* - sqrt(1 - a_s) z0   # lines 7-8
        L2 = |v2 - v(z_s, s)|^2;  loss = L1 + weight L2                                     # lines 9-10

    Readings (docs/seamless.md): s = t - ``stride`` (one inference step of 50 over T = 1000: 20; 1 is the literal
    t - 1); line 9's timestep is s, the noise level of z_s (``second_timestep="t"``: as printed); z0^ is detached
    (``backprop_first_step``: through it); samples with s < 0 have no second step (line 7 would divide by
    sqrt(1 - a_s) = 0): their L2 is 0, never divided by zero. ``batch.x0`` = z0, ``batch.known`` = E((1 - M) x),
    ``batch.mask`` = M on the latent grid."""

    schedule: NoiseSchedule
    weight: float = 0.5
    stride: int = 20
    second_timestep: str = "s"
    backprop_first_step: bool = False

    def __call__(self, net: torch.nn.Module, batch: Batch, generator: torch.Generator) -> torch.Tensor:
        return self.losses(net, batch, generator)[0]

    def losses(self, net, batch: Batch, generator: torch.Generator):
        """(loss, L1 per sample, L2 per sample, the second step's z_s, its v-target, s) of one batch."""
        sched = self.schedule
        if sched.config.prediction_type != "v_prediction":
            raise ValueError("the two-step objective is written for v-prediction (Seamless Borders Eq. 3-4)")
        z0 = batch.x0
        n = len(z0)
        t = torch.randint(0, sched.num_train_timesteps, (n,), generator=generator)
        eps1, eps2 = torch.randn(z0.shape, generator=generator), torch.randn(z0.shape, generator=generator)
        device = next(net.parameters()).device
        z0, known, mask, eps1, eps2, t = (v.to(device) for v in (z0, batch.known, batch.mask, eps1, eps2, t))
        z_t = sched.add_noise(z0, eps1, t)  # line 1
        v1 = sched.velocity(z0, eps1, t)  # line 2
        out1 = net(z_t, t).sample.float()
        l1 = (out1 - v1).square().flatten(1).mean(1)  # line 3
        z0_hat, _ = sched.to_x0_eps(out1, z_t, t)  # line 4
        if not self.backprop_first_step:
            z0_hat = z0_hat.detach()
        z0_hat = mask * z0_hat + (1 - mask) * known  # line 5
        s = t - self.stride
        valid = s >= 0
        s_safe = s.clamp(min=0)
        z_s = sched.add_noise(z0_hat, eps2, s_safe)  # line 6
        eps2_star = sched.eps_from_x0(z0, z_s, s_safe)  # line 7: w.r.t. the real z0
        v2 = sched.velocity(z0, eps2_star, s_safe)  # line 8
        if self.weight == 0:  # the equal-steps control (L1 alone): the same draws, no second pass to multiply by 0
            l2 = torch.zeros_like(l1)
        else:
            out2 = net(z_s, s_safe if self.second_timestep == "s" else t).sample.float()
            l2 = torch.where(valid, (out2 - v2).square().flatten(1).mean(1), torch.zeros_like(l1))  # line 9
        return (l1 + self.weight * l2).mean(), l1, l2, z_s, v2, s  # line 10
