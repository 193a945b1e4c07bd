"""NoiseSchedule against diffusers' DDPMScheduler / DDIMScheduler on identical float32 inputs."""
import itertools

import pytest
import torch
from diffusers import DDIMScheduler, DDPMScheduler

from inpaintkit.sampling import Task, denoise_step, timestep_pairs
from inpaintkit.core.schedule import BETA_SCHEDULES, PREDICTION_TYPES, SPACINGS, NoiseSchedule

TOL = 1e-5
STEPS = 10
SHAPE = (2, 3, 8, 8)


def config(beta_schedule="linear", prediction_type="epsilon", spacing="leading", clip_sample=True, steps_offset=0):
    return dict(num_train_timesteps=1000, beta_schedule=beta_schedule, beta_start=0.00085 if beta_schedule ==
                "scaled_linear" else 0.0001, beta_end=0.012 if beta_schedule == "scaled_linear" else 0.02,
                prediction_type=prediction_type, clip_sample=clip_sample, timestep_spacing=spacing,
                steps_offset=steps_offset)


def inputs(seed: int):
    """A noisy sample and a network output of unit scale, both float32."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(SHAPE, generator=g), torch.randn(SHAPE, generator=g)


def max_diff(a, b) -> float:
    return (a - b).abs().max().item()


@pytest.mark.parametrize("beta_schedule", BETA_SCHEDULES)
def test_alphas_cumprod_match_diffusers(beta_schedule):
    ours = NoiseSchedule(**config(beta_schedule))
    theirs = DDPMScheduler(**config(beta_schedule))
    assert max_diff(ours.alphas_cumprod.float(), theirs.alphas_cumprod) <= 1e-6


@pytest.mark.parametrize("spacing, steps_offset", [("leading", 0), ("leading", 1), ("trailing", 0), ("linspace", 0)])
@pytest.mark.parametrize("steps", [1, 3, 7, 10, 50, 333, 1000])
def test_timesteps_match_set_timesteps(spacing, steps_offset, steps):
    cfg = config(spacing=spacing, steps_offset=steps_offset)
    for scheduler in (DDPMScheduler(**cfg), DDIMScheduler(**cfg)):
        scheduler.set_timesteps(steps)
        assert NoiseSchedule(**cfg).timesteps(steps).tolist() == scheduler.timesteps.tolist()


def test_timesteps_reject_out_of_range_counts():
    schedule = NoiseSchedule()
    for bad in (0, 1001):
        with pytest.raises(ValueError, match="steps must be in"):
            schedule.timesteps(bad)


def test_timestep_pairs_end_clean():
    pairs = timestep_pairs(NoiseSchedule(), 4)
    assert pairs == [(750, 500), (500, 250), (250, 0), (0, -1)]


@pytest.mark.parametrize("beta_schedule", BETA_SCHEDULES)
def test_add_noise_matches_diffusers(beta_schedule):
    ours, theirs = NoiseSchedule(**config(beta_schedule)), DDPMScheduler(**config(beta_schedule))
    x0, noise = inputs(0)
    t = torch.tensor([3, 997])
    assert max_diff(ours.add_noise(x0, noise, t), theirs.add_noise(x0, noise, t)) <= TOL
    assert max_diff(ours.velocity(x0, noise, t), theirs.get_velocity(x0, noise, t)) <= TOL


DDPM_CASES = list(itertools.product(BETA_SCHEDULES, PREDICTION_TYPES, SPACINGS, (True, False)))


@pytest.mark.parametrize("beta_schedule, prediction_type, spacing, clip_sample", DDPM_CASES)
def test_ddpm_step_matches_diffusers(beta_schedule, prediction_type, spacing, clip_sample):
    """diffusers' step: x0 from the output (clipped), posterior mean (DDPM Eq. 7) + sigma_t * noise."""
    cfg = config(beta_schedule, prediction_type, spacing, clip_sample)
    ours, theirs = NoiseSchedule(**cfg), DDPMScheduler(**cfg)
    theirs.set_timesteps(STEPS)
    ts = ours.timesteps(STEPS).tolist()
    for i, (t, t_prev) in enumerate(zip(ts, ts[1:] + [-1])):
        x_t, out = inputs(i)
        expected = theirs.step(out, t, x_t, generator=torch.Generator().manual_seed(100 + i))
        noise = torch.randn(SHAPE, generator=torch.Generator().manual_seed(100 + i))
        x0, _ = ours.to_x0_eps(out, x_t, t)
        x0 = ours.clip(x0)
        # diffusers compares its outputs in float32; x0 = (x_t - s eps) / a is ~1/a times the inputs, so
        # its rounding error is relative.
        assert max_diff(x0, expected.pred_original_sample) <= TOL * max(1.0, x0.abs().max().item())
        assert max_diff(ours.ddpm_step(x_t, x0, t, t_prev, noise), expected.prev_sample) <= TOL


DDIM_CASES = list(itertools.product(BETA_SCHEDULES, PREDICTION_TYPES, SPACINGS, (True, False), (0.0, 1.0)))


@pytest.mark.parametrize("beta_schedule, prediction_type, spacing, clip_sample, eta", DDIM_CASES)
def test_ddim_step_matches_diffusers(beta_schedule, prediction_type, spacing, clip_sample, eta):
    """diffusers' DDIM (``use_clipped_model_output=False``) keeps the raw eps next to the clipped x0."""
    cfg = config(beta_schedule, prediction_type, spacing, clip_sample)
    ours, theirs = NoiseSchedule(**cfg), DDIMScheduler(**cfg)
    theirs.set_timesteps(STEPS)
    for i, t in enumerate(ours.timesteps(STEPS).tolist()):
        t_prev = t - 1000 // STEPS  # diffusers' DDIM steps back by T // n whatever the spacing
        x_t, out = inputs(i)
        noise = torch.randn(SHAPE, generator=torch.Generator().manual_seed(100 + i))
        expected = theirs.step(out, t, x_t, eta=eta, variance_noise=noise)
        x0, eps = ours.to_x0_eps(out, x_t, t)
        x0 = ours.clip(x0)
        got = ours.ddim_step(x_t, x0, eps, t, t_prev, eta, noise)
        assert max_diff(got, expected.prev_sample) <= TOL, (t, t_prev)


@pytest.mark.parametrize("prediction_type", PREDICTION_TYPES)
def test_parameterisations_round_trip(prediction_type):
    """eps, v and x0 targets built from (x0, eps) all convert back to the same (x0, eps)."""
    schedule = NoiseSchedule(prediction_type=prediction_type, beta_schedule="squaredcos_cap_v2")
    x0, eps = inputs(0)
    x0, eps = x0.double(), eps.double()
    t = torch.tensor([0, 500])
    x_t = schedule.add_noise(x0, eps, t)
    target = {"epsilon": eps, "v_prediction": schedule.velocity(x0, eps, t), "sample": x0}[prediction_type]
    x0_hat, eps_hat = schedule.to_x0_eps(target, x_t, t)
    assert max_diff(x0_hat, x0) <= 1e-9
    assert max_diff(eps_hat, eps) <= 1e-9
    assert max_diff(schedule.eps_from_x0(x0_hat, x_t, t), eps) <= 1e-9


def test_noise_from_composes_with_add_noise():
    """q(x_t | x_s) after q(x_s | x_0) has the marginal q(x_t | x_0): mean and variance per pixel."""
    schedule = NoiseSchedule()
    g = torch.Generator().manual_seed(0)
    x0 = torch.full((20000, 1), 0.5, dtype=torch.float64)
    x_s = schedule.add_noise(x0, torch.randn(x0.shape, generator=g, dtype=torch.float64), 200)
    x_t = schedule.noise_from(x_s, 200, 600, torch.randn(x0.shape, generator=g, dtype=torch.float64))
    ab = schedule.alphas_cumprod[600].item()
    assert abs(x_t.mean().item() - 0.5 * ab**0.5) < 0.02
    assert abs(x_t.var().item() - (1 - ab)) < 0.03


@pytest.mark.parametrize("spacing", SPACINGS)
@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_denoise_step_eta_one_is_ddpm_ancestral_step(spacing, prediction_type):
    schedule = NoiseSchedule(**config("scaled_linear", prediction_type, spacing, clip_sample=False))
    for i, (t, t_prev) in enumerate(timestep_pairs(schedule, STEPS)):
        x_t, out = inputs(i)
        x0, _ = schedule.to_x0_eps(out, x_t, t)
        x0 = x0.clamp(-1, 1)  # a clipped x0 is off the line through x_t: eps must be re-derived
        blank = torch.zeros(SHAPE)
        task = Task(blank, blank[:, :1], blank, blank[:, :1], torch.Generator().manual_seed(i), progress=False)
        got = denoise_step(schedule, task, x_t, x0, t, t_prev, eta=1.0)
        noise = torch.randn(SHAPE, generator=torch.Generator().manual_seed(i)) if t_prev >= 0 else None
        assert max_diff(got, schedule.ddpm_step(x_t, x0, t, t_prev, noise)) <= TOL, (t, t_prev)


def test_denoise_step_eta_zero_is_deterministic_ddim():
    schedule = NoiseSchedule()
    x_t, x0 = inputs(0)
    blank = torch.zeros(SHAPE)
    task = Task(blank, blank[:, :1], blank, blank[:, :1], torch.Generator().manual_seed(0), progress=False)
    got = denoise_step(schedule, task, x_t, x0, 500, 400, eta=0.0)
    eps = schedule.eps_from_x0(x0, x_t, 500)
    ab = schedule.alphas_cumprod[400].item()
    assert max_diff(got, ab**0.5 * x0 + (1 - ab) ** 0.5 * eps) <= TOL
    assert torch.equal(task.generator.get_state(), torch.Generator().manual_seed(0).get_state())  # no noise drawn
