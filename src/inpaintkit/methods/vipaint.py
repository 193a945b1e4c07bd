"""VIPaint (Agarwal, Hope & Sudderth): a hierarchical variational posterior over intermediate timesteps, fit per
image (Phase 1), then sampled and refined with DPS steps (Phase 2).

    h = [h_0 = T_e > h_1 > ... > h_{K-1} = T_s]                      # the hierarchy's timesteps
    lambda = {mu_0, tau_0, (gamma_j, mu_j, tau_j) for j >= 1}        # per element, per level, per image
    Phase 1, for it in 1..iterations (Adam on lambda, the denoiser frozen):
        z_Te ~ q(z_Te) = N(sqrt(1 - tau_0^2) mu_0, tau_0^2)                        # Eq. 11
        L_prior = (T - T_e)/2 E_t KL(q(z_s | z_t, z_Te) || p(z_s | z_t)),  t > s > T_e on a Karras grid  # Eq. 14
        z = z_Te; for j = 1..K-1:                                                  # Eq. 12
            z_hat = DDIM(eta) mean of p(z_{h_j} | z_{h_{j-1}})
            m     = sigmoid(gamma_j) z_hat + (1 - sigmoid(gamma_j)) mu_j
            L_hier += KL(N(m, tau_j^2) || N(z_hat, hsigma_j^2));  z = m + tau_j eps
        L_rec = w_1 |A(D(x0_hat(z, T_s))) - y| + w_p LPIPS(A(D(x0_hat)), y)         # LPIPS for latent models
        loss = beta_prior L_prior + beta_hier L_hier + L_rec                        # Eq. 13
    Phase 2, for each of ``samples`` completions (the fit is shared):
        z_Ts by ancestral sampling through the fitted hierarchy
        for t = T_s .. 0: z = DDIM(eta) direction step - dps_scale * grad_z L_rec(D(x0_hat(z, t)), y)
        output D(x0_hat) of the last step (the API pastes the known pixels back)

Readings, each an option with its default argued (the paper's text lost its appendices; the authors' code,
SakshiAgarwal/VIPaint, fills the gaps; see docs/vipaint.md):

- ``kl="analytic"`` is the paper's Gaussian KL, mean term (m_q - m_p)^2 / (2 sigma_p^2); ``kl="code"`` the
  authors' code's, which weights the mean term by sigma_p^2 / 2 (sigma_p^4 smaller), so its KL terms mostly
  match variances. ``beta`` (the paper's beta > 1 on both KL terms) is tuned to the reading.
- Timesteps are ported from the authors' LDM (T_e = 550, T_s = 400) to each model's schedule by noise level
  (alpha_bar 0.106 and 0.274), as the paper's "translate between models with the same noise schedule" suggests.
- The prior loss's bridges use the schedule's transitions with z_Te as the clean end (the code rescales them
  by tau_0, which moves little: tau's learning rate is 1e-3). mu_j is initialised at sqrt(alpha_bar_j) E(y)
  and used unscaled in Eq. 12 (the code scales it twice).
- eta enters the hierarchy inside the square root (a DDPM posterior variance times eta) and the DPS phase
  outside it; Phase 2 adds no noise (the code's choice: completions differ through the hierarchy only).
- ``dps_scale`` is per sample (the code's 2 is for a batch mean over 10 samples: 0.2 per sample), so that an
  image gets the same result alone or in a batch. Every loss is per sample; every draw comes from the image's
  own generator.
- The encoder sees the image with its hole grey (the Task's observation): nothing under the mask reaches the fit.
- x0 estimates are not clipped in the fit or the DPS steps (clipping zeroes the gradient of saturated pixels).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..core.errors import InpaintInputError
from ..core.options import option
from ..models.hooks import frozen
from ..sampling import StepInfo, progress, x0_with_gradient
from .registry import GradientOptions, register

KL_READINGS = ("analytic", "code")
# The authors' LSUN LDM hierarchy T_e = 550, T_s = 400 as noise levels: alpha_bar of their sqrt-linear
# schedule 0.0015 -> 0.0155 at those steps (docs/vipaint.md).
TOP_ALPHA_BAR, BOTTOM_ALPHA_BAR = 0.106, 0.274


@dataclass
class VIPaintOptions(GradientOptions):
    levels: int = option(2, ge=1, help="K, the hierarchy's levels between T_e and T_s (VIPaint-K)")
    t_e: int | None = option(None, ge=1, help="top timestep T_e; None: the noise level of the authors' 550")
    t_s: int | None = option(None, ge=0, help="bottom timestep T_s; None: the noise level of the authors' 400")
    iterations: int = option(50, ge=0, help="Adam steps of the fit (Phase 1)")
    mc_samples: int = option(4, ge=1, help="posterior samples per fit iteration")
    kl: str = option("analytic", choices=KL_READINGS, help="the KL's mean term: the paper's, or the code's")
    beta: float = option(10.0, gt=0, help="weight of both KL terms (Eq. 13); 10: docs/vipaint.md's validation sweep")
    eta: float = option(0.2, ge=0, le=1, help="the DDIM eta of the hierarchy and the DPS steps")
    lr_mean: float = option(0.1, gt=0)
    lr_logvar: float = option(1e-3, gt=0)
    lr_gamma: float = option(1e-2, gt=0)
    var_scale: float = option(0.7, gt=0, help="initial tau_j as a multiple of the DDPM posterior std")
    mean_scale: float = option(1.0, ge=0, help="noise in the initial mu_j")
    mean_scale_top: float = option(0.1, ge=0, help="noise in the initial mu_0")
    gamma_init: float = option(4.0, help="initial mixing logit (sigmoid 0.982)")
    rec_weight: float = option(100.0, ge=0, help="weight of the L1 reconstruction loss")
    perceptual_weight: float | None = option(None, ge=0, help="weight of LPIPS in the reconstruction loss; None: "
                                                              "100 for latent models, 0 for pixel models")
    lpips_net: str = option("alex", choices=("alex", "vgg"), help="the LPIPS network of the loss")
    dps_scale: float = option(0.2, ge=0, help="DPS step size per sample (Phase 2)")
    steps: int | None = option(None, ge=1, help="Phase 2's DPS steps from T_s to 0, strided; None: every timestep")
    samples: int = option(1, ge=1, help="completions drawn from one fit (Phase 2 only)")

    def validate(self):
        if self.t_e is not None and self.t_s is not None and not self.t_e > self.t_s:
            raise InpaintInputError(f"vipaint needs t_e > t_s, got {self.t_e} and {self.t_s}")


def timestep_of(schedule, alpha_bar: float) -> int:
    """The timestep whose alpha_bar is closest to ``alpha_bar``."""
    return int((schedule.alphas_cumprod - alpha_bar).abs().argmin())


def hierarchy(schedule, opts: VIPaintOptions) -> list[int]:
    """[T_e, ..., T_s]: ``levels`` timesteps, evenly spaced."""
    t_e = opts.t_e if opts.t_e is not None else timestep_of(schedule, TOP_ALPHA_BAR)
    t_s = opts.t_s if opts.t_s is not None else timestep_of(schedule, BOTTOM_ALPHA_BAR)
    if not t_e > t_s or t_e >= schedule.num_train_timesteps:
        raise InpaintInputError(f"vipaint needs T > t_e > t_s, got t_e {t_e}, t_s {t_s}")
    if opts.levels == 1:
        return [t_e]
    return [round(t_e - k * (t_e - t_s) / (opts.levels - 1)) for k in range(opts.levels)]


def karras_grid(T: int, rho: float = 7.0, n: int = 1000, t_min: float = 0.002, t_max: float = 0.999) -> torch.Tensor:
    """The authors' non-uniform timestep grid: t/T warped as Karras et al. 2022 (rho 7), unique, ascending."""
    ramp = torch.linspace(0, 1, n, dtype=torch.float64)
    t = (t_min ** (1 / rho) + ramp * (t_max ** (1 / rho) - t_min ** (1 / rho))) ** rho
    return torch.unique((t * T).long())


class Posterior(torch.nn.Module):
    """lambda for a batch of images: per level, a mean and a log-variance (and above the top a mixing logit),
    shaped like the model's space, one set per image."""

    def __init__(self, known: torch.Tensor, alpha_bars: list[float], opts: VIPaintOptions, draw):
        super().__init__()
        ab = alpha_bars
        self.means = torch.nn.ParameterList()
        self.logvars = torch.nn.ParameterList()
        self.gammas = torch.nn.ParameterList()
        self.means.append(torch.nn.Parameter(known + opts.mean_scale_top * draw(known)))  # mu_0 in x0 space
        self.logvars.append(torch.nn.Parameter(torch.full_like(known, math.log(1 - ab[0]))))  # tau_0 = sigma_Te
        for j in range(1, len(ab)):
            mean = math.sqrt(ab[j]) * known + opts.mean_scale * math.sqrt(1 - ab[j]) * draw(known)
            self.means.append(torch.nn.Parameter(mean))
            tau = opts.var_scale * math.sqrt(posterior_variance(ab[j - 1], ab[j]))
            self.logvars.append(torch.nn.Parameter(torch.full_like(known, 2 * math.log(tau))))
            self.gammas.append(torch.nn.Parameter(torch.full_like(known, opts.gamma_init)))

    def std(self, j: int, limit: float) -> torch.Tensor:
        return (0.5 * self.logvars[j]).exp().clamp(max=limit)


def posterior_variance(ab_from: float, ab_to: float) -> float:
    """The DDPM posterior variance of a step from alpha_bar ``ab_from`` to ``ab_to`` (> ab_from)."""
    return (1 - ab_to) / (1 - ab_from) * (1 - ab_from / ab_to)


def gaussian_kl(mean_q, std_q, mean_p, std_p, reading: str) -> torch.Tensor:
    """KL(N(mean_q, std_q^2) || N(mean_p, std_p^2)) per element; ``reading="code"`` weights the mean term
    by std_p^2 / 2 instead of 1 / (2 std_p^2), as the authors' get_kl does."""
    var_p = std_p**2
    mean_term = (mean_q - mean_p) ** 2 * (var_p / 2 if reading == "code" else 1 / (2 * var_p))
    return mean_term + torch.log(std_p / std_q) + std_q**2 / (2 * var_p) - 0.5


def per_sample(x: torch.Tensor) -> torch.Tensor:
    return x.flatten(1).mean(1)


def repeat_each(x: torch.Tensor, n: int) -> torch.Tensor:
    return x.repeat_interleave(n, dim=0)


def noise_source(task, n: int):
    """``draw(like)`` -> standard normal noise shaped like ``like`` repeated ``n`` times per image (B * n, ...),
    each image's from its own generator (or ``like`` itself, shaped per image, when n == 1)."""
    generators = task.generator if isinstance(task.generator, list) else None

    def draw(like: torch.Tensor, count: int = n) -> torch.Tensor:
        shape = like.shape[1:]
        if generators is None:
            noise = torch.randn((like.shape[0] * count, *shape), generator=task.generator)
        else:
            noise = torch.cat([torch.randn((count, *shape), generator=g) for g in generators])
        return noise.to(like.device, like.dtype)

    return draw


class Reconstruction:
    """L_rec per sample: w_1 mean |A(x_hat) - y| over pixels (+ w_p LPIPS(A(x_hat), y) for latent models),
    x_hat the decoded x0 estimate, y = A(I)."""

    def __init__(self, model, task, opts: VIPaintOptions, repeat: int):
        self.model, self.opts = model, opts
        self.observation = repeat_each(task.image, repeat)  # A(I): the hole is already grey
        self.keep = repeat_each(1 - task.mask, repeat)
        weight = opts.perceptual_weight if opts.perceptual_weight is not None else (
            100.0 if model.autoencoder is not None else 0.0)
        self.perceptual_weight = weight
        self.lpips = None
        if weight > 0:
            from ..nets.lpips import LPIPS

            self.lpips = LPIPS(opts.lpips_net, model.device)

    def __call__(self, x0: torch.Tensor) -> torch.Tensor:
        x_hat = self.model.decode(x0)
        observed = self.keep * x_hat
        loss = self.opts.rec_weight * per_sample((observed - self.observation).abs())
        if self.lpips is not None:
            loss = loss + self.perceptual_weight * self.lpips(observed, self.observation)
        return loss


def optimizers_of(posterior: Posterior, opts: VIPaintOptions) -> list[torch.optim.Optimizer]:
    """The authors' three Adam optimisers (means, log-variances, mixing logits)."""
    groups = ((posterior.means, opts.lr_mean), (posterior.logvars, opts.lr_logvar), (posterior.gammas, opts.lr_gamma))
    return [torch.optim.Adam(group, lr=lr, betas=(0.9, 0.99)) for group, lr in groups if len(group)]


def fit_loss(model, task, posterior: Posterior, levels: list[int], opts: VIPaintOptions, reconstruction, draw):
    """Eq. 13 per image (mean over its posterior samples), with the top sample and the final x0 estimate."""
    schedule, m = model.schedule, opts.mc_samples
    ab = [float(schedule.alphas_cumprod[t]) for t in levels]
    limit = std_limit(schedule)
    grid = karras_grid(schedule.num_train_timesteps)
    above = grid[grid > levels[0]]
    if len(above) < 2:
        raise InpaintInputError(f"vipaint: t_e {levels[0]} leaves no timesteps above it for the prior loss")
    z_te, _ = top_sample(posterior, ab[0], m, draw, limit)
    loss = prior_term(model, task, schedule, z_te, levels[0], above, opts, draw, m)  # Eq. 14
    z = z_te
    for j in range(1, len(levels)):
        z, kl = hierarchy_step(model, task, posterior, z, levels, ab, j, opts, draw, m, limit)  # Eq. 12
        loss = loss + kl
    x0, _ = x0_eps_unclipped(model, task, z, levels[-1], m)
    loss = opts.beta * loss + reconstruction(x0)  # Eq. 13, per posterior sample
    return loss.view(-1, m).mean(1), z_te, x0


def std_limit(schedule) -> float:
    """tau stays below the largest noise level of the schedule (sqrt(1 - tau_0^2) must exist)."""
    return 0.999 * math.sqrt(1 - float(schedule.alphas_cumprod[-1]))


def fit(model, task, opts: VIPaintOptions, levels: list[int], reconstruction: Reconstruction, draw, callback):
    """Phase 1: the posterior of every image of the task, fit by Adam on Eq. 13."""
    ab = [float(model.schedule.alphas_cumprod[t]) for t in levels]
    posterior = Posterior(task.known, ab, opts, lambda like: draw(like, 1)).to(task.known.device)
    optimizers = optimizers_of(posterior, opts)
    schedulers = [torch.optim.lr_scheduler.StepLR(o, step_size=10, gamma=0.99) for o in optimizers]
    for it in progress(range(opts.iterations), task, "vipaint fit"):
        calls = model.network_calls
        per_image, z_te, x0 = fit_loss(model, task, posterior, levels, opts, reconstruction, draw)
        for o in optimizers:
            o.zero_grad(set_to_none=True)
        per_image.sum().backward()  # each image's parameters get their own gradient only
        model.backward_calls += model.network_calls - calls  # every call of the iteration is differentiated
        for o, s in zip(optimizers, schedulers):
            o.step()
            s.step()
        if callback:
            callback(StepInfo(it, levels[0], z_te.detach(), x0.detach(), {"phase": "fit", "loss": per_image.detach()}))
    return posterior


def top_sample(posterior: Posterior, ab_top: float, m: int, draw, limit: float):
    """z_Te ~ N(sqrt(1 - tau_0^2) mu_0, tau_0^2), m samples per image (Eq. 11)."""
    mean, tau = repeat_each(posterior.means[0], m), repeat_each(posterior.std(0, limit), m)
    return (1 - tau**2).sqrt() * mean + tau * draw(posterior.means[0]), tau


def prior_term(model, task, schedule, z_te, t_e, above, opts, draw, m):
    """Eq. 14: (T - T_e)/2 KL(q(z_s | z_t, z_Te) || p(z_s | z_t)) at one stratified grid step t > s > T_e
    per sample; q and p are bridges of the schedule with z_Te and the model's estimate of it as clean ends."""
    n = z_te.shape[0]
    if isinstance(task.generator, list):
        u = torch.cat([torch.rand(m, generator=g) for g in task.generator])
    else:
        u = torch.rand(n, generator=task.generator)
    strata = (u + torch.arange(n) % m / m) % 1
    idx = (strata * (len(above) - 1)).long().clamp(max=len(above) - 2) + 1
    t, s = above[idx], above[idx - 1]
    ab = schedule.alphas_cumprod.float().to(z_te.device)
    shape = (-1,) + (1,) * (z_te.ndim - 1)
    ab_e, ab_s, ab_t = ab[t_e], ab[s].view(shape), ab[t].view(shape)
    var_s_e, var_t_s, var_t_e = 1 - ab_s / ab_e, 1 - ab_t / ab_s, 1 - ab_t / ab_e
    z_t = (ab_t / ab_e).sqrt() * z_te + var_t_e.sqrt() * draw(z_te[:n // m])
    embeds = task.cond.repeat_each(m).embeds if task.cond is not None else None
    raw = model(z_t, t.to(z_te.device), embeds)
    x0, _ = schedule.to_x0_eps(raw, z_t, t.to(z_te.device))
    z_te_hat = ((ab_t / ab_e).sqrt() * (1 - ab_e) * z_t + ab_e.sqrt() * var_t_e * x0) / (1 - ab_t)
    var = var_t_s * var_s_e / var_t_e
    a = (ab_s / ab_e).sqrt() * var_t_s / var_t_e  # the weight of the clean end in the bridge's mean
    std = var.sqrt()
    kl = gaussian_kl(a * z_te, std, a * z_te_hat, std, opts.kl)
    return (schedule.num_train_timesteps - t_e) / 2 * per_sample(kl)


def hierarchy_step(model, task, posterior, z, levels, ab, j, opts, draw, m, limit):
    """Eq. 12 from level j-1 to level j, and its KL to the prior's DDIM(eta) step."""
    x0, eps = x0_eps_unclipped(model, task, z, levels[j - 1], m)
    prior_var = opts.eta * posterior_variance(ab[j - 1], ab[j])
    z_hat = math.sqrt(ab[j]) * x0 + math.sqrt(max(1 - ab[j] - prior_var, 0.0)) * eps
    weight = torch.sigmoid(repeat_each(posterior.gammas[j - 1], m))
    mean = weight * z_hat + (1 - weight) * repeat_each(posterior.means[j], m)
    tau = repeat_each(posterior.std(j, limit), m)
    prior_std = torch.full_like(tau, math.sqrt(max(prior_var, 1e-12)))
    kl = per_sample(gaussian_kl(mean, tau, z_hat, prior_std, opts.kl))
    return mean + tau * draw(posterior.means[j]), kl


def x0_eps_unclipped(model, task, z, t: int, repeat: int):
    """The unclipped x0 and eps estimates at (z, t), z holding ``repeat`` samples per image (guidance 1)."""
    cond = task.cond.repeat_each(repeat).without_guidance() if task.cond is not None else None
    prediction = model.predict(z, t, cond, clip=False)
    return prediction.x0, prediction.eps


@torch.no_grad()
def ancestral(posterior: Posterior, model, task, levels, ab, opts, draw, n: int, limit: float):
    """z_Ts through the fitted hierarchy, n samples per image (Phase 2's start)."""
    z, _ = top_sample(posterior, ab[0], n, draw, limit)
    for j in range(1, len(levels)):
        z, _ = hierarchy_step(model, task, posterior, z, levels, ab, j, opts, draw, n, limit)
    return z


def dps_timesteps(t_s: int, steps: int | None) -> list[int]:
    """T_s, ..., 0: every timestep, or ``steps`` of them evenly spaced."""
    if steps is None or steps >= t_s + 1:
        return list(range(t_s, -1, -1))
    return [round(t_s - k * t_s / (steps - 1)) for k in range(steps)] if steps > 1 else [t_s]


@register("vipaint", VIPaintOptions, "a hierarchical variational posterior over intermediate timesteps fit per "
          "image, then sampled with DPS refinement (VIPaint)", paper="VIPaint (Agarwal et al.)", multi_sample=True)
def vipaint(model, task, opts: VIPaintOptions, callback=None):
    schedule = model.schedule
    levels = hierarchy(schedule, opts)
    ab = [float(schedule.alphas_cumprod[t]) for t in levels]
    limit = std_limit(schedule)
    with frozen(model, opts.gradient_checkpointing):
        draw = noise_source(task, opts.mc_samples)
        with torch.enable_grad():
            posterior = fit(model, task, opts, levels, Reconstruction(model, task, opts, opts.mc_samples), draw,
                            callback)
        if callback:  # Phase 2 starts: the fitted means, for figures
            fitted = [mean.detach() for mean in posterior.means]
            callback(StepInfo(opts.iterations, levels[0], fitted[0], fitted[0], {"phase": "sample", "means": fitted,
                                                                              "levels": levels}))
        draw = noise_source(task, opts.samples)
        z = ancestral(posterior, model, task, levels, ab, opts, draw, opts.samples, limit)
        reconstruction = Reconstruction(model, task, opts, opts.samples)
        ts = dps_timesteps(levels[-1], opts.steps)
        cond = task.cond.repeat_each(opts.samples) if task.cond is not None else None
        x0 = z
        for i, (t, t_prev) in enumerate(progress(list(zip(ts, ts[1:] + [-1])), task, "vipaint dps")):
            x0, _, grad = x0_with_gradient(model, task, z, t, reconstruction, opts.autocast, cond=cond, clip=False)
            eps = schedule.eps_from_x0(x0, z, t)
            ab_t, ab_prev = float(schedule.alphas_cumprod[t]), 1.0 if t_prev < 0 else float(schedule.alphas_cumprod[t_prev])
            sigma = opts.eta * math.sqrt(max(posterior_variance(ab_t, ab_prev), 0.0)) if t_prev >= 0 else 0.0
            z = math.sqrt(ab_prev) * x0 + math.sqrt(max(1 - ab_prev - sigma**2, 0.0)) * eps  # no noise added
            z = z - opts.dps_scale * grad
            if callback:
                callback(StepInfo(i, t, z, x0, {"phase": "sample"}))
        with torch.no_grad():
            return model.decode(x0)
