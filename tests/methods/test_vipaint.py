"""VIPaint: the posterior's gradients, the fit, Phase 2 against an independent DDIM + DPS chain, API guarantees."""
import math

import pytest
import torch

from inpaintkit.api import Inpainter
from inpaintkit.core.errors import InpaintInputError
from inpaintkit.methods import get_method, make_options
from inpaintkit.methods.vipaint import (Posterior, Reconstruction, gaussian_kl, hierarchy, noise_source,
                                        posterior_variance, prior_term, karras_grid)
from inpaintkit.sampling import Task
from inpaintkit.testing.images import smooth_image, square_hole

FAST = dict(iterations=2, mc_samples=2, steps=3)


def task_of(model, batch=1, seed=0):
    image = smooth_image(model.resolution, batch=batch, seed=3)
    mask = square_hole(model.resolution, batch=batch, top=0.25, left=0.25, size=0.5)
    return Task.create(model, image, mask, [torch.Generator().manual_seed(seed + i) for i in range(batch)],
                       progress=False)


def test_options_are_checked_before_anything_runs():
    for bad in ({"t_e": 300, "t_s": 400}, {"levels": 0}, {"iterations": -1}, {"lr_mean": 0}, {"kl": "exact"}):
        with pytest.raises(InpaintInputError):
            make_options("vipaint", bad)


def test_hierarchy_is_ported_by_noise_level(pixel_model, latent_model):
    opts = make_options("vipaint")
    t_e, t_s = hierarchy(pixel_model.schedule, opts)
    ab = pixel_model.schedule.alphas_cumprod
    assert (t_e, t_s) == (468, 355)  # faces-32's linear betas
    assert abs(ab[t_e] - 0.106) < abs(ab[t_e + 1] - 0.106) and abs(ab[t_e] - 0.106) < abs(ab[t_e - 1] - 0.106)
    assert hierarchy(latent_model.schedule, make_options("vipaint", {"levels": 4}))[0] == 665
    assert hierarchy(pixel_model.schedule, make_options("vipaint", {"levels": 1})) == [468]
    grid = karras_grid(1000)
    assert (grid[1:] > grid[:-1]).all() and (grid > 469).sum() > 10


def test_gradients_reach_every_posterior_parameter(pixel_model):
    task = task_of(pixel_model)
    opts = make_options("vipaint", {"levels": 3, "mc_samples": 2})
    levels = hierarchy(pixel_model.schedule, opts)
    ab = [float(pixel_model.schedule.alphas_cumprod[t]) for t in levels]
    draw = noise_source(task, 2)
    posterior = Posterior(task.known, ab, opts, lambda like: draw(like, 1))
    from inpaintkit.methods.vipaint import hierarchy_step, top_sample

    z, _ = top_sample(posterior, ab[0], 2, draw, 0.99)
    above = karras_grid(1000)[karras_grid(1000) > levels[0]]
    loss = prior_term(pixel_model, task, pixel_model.schedule, z, levels[0], above, opts, draw, 2)
    for j in range(1, len(levels)):
        z, kl = hierarchy_step(pixel_model, task, posterior, z, levels, ab, j, opts, draw, 2, 0.99)
        loss = loss + kl
    x0 = pixel_model.predict(z, levels[-1], clip=False).x0
    (loss + Reconstruction(pixel_model, task, opts, 2)(x0)).sum().backward()
    for p in posterior.parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0


def test_one_fit_iteration_lowers_its_loss(pixel_model):
    """Eq. 13 with the same posterior noise before and after one step of the fit's optimisers."""
    from inpaintkit.methods.vipaint import fit_loss, optimizers_of

    opts = make_options("vipaint", {"mc_samples": 4, "lr_mean": 0.01, "lr_gamma": 0.01})
    levels = hierarchy(pixel_model.schedule, opts)
    ab = [float(pixel_model.schedule.alphas_cumprod[t]) for t in levels]
    task = task_of(pixel_model)
    posterior = Posterior(task.known, ab, opts, lambda like: noise_source(task, 1)(like))
    reconstruction = Reconstruction(pixel_model, task, opts, 4)

    def loss():
        fixed = task_of(pixel_model, seed=9)  # the same draws every time
        return fit_loss(pixel_model, fixed, posterior, levels, opts, reconstruction, noise_source(fixed, 4))[0].sum()

    before = loss()
    optimizers = optimizers_of(posterior, opts)
    before.backward()
    for o in optimizers:
        o.step()
    with torch.no_grad():
        assert loss().item() < before.item()


def test_gaussian_kl_readings():
    m_q, m_p, s = torch.tensor([1.0]), torch.tensor([0.0]), torch.tensor([0.5])
    assert gaussian_kl(m_q, s, m_p, s, "analytic").item() == pytest.approx(1 / (2 * 0.25))
    assert gaussian_kl(m_q, s, m_p, s, "code").item() == pytest.approx(0.25 / 2)
    assert gaussian_kl(m_p, s, m_p, s, "analytic").item() == pytest.approx(0.0, abs=1e-7)


def test_without_a_fit_and_with_saturated_mixing_phase_two_is_ddim_plus_dps(pixel_model):
    """iterations 0, sigmoid(gamma) -> 1, tau_j = the prior's DDIM(eta) std, mu_0 = E(y): Phase 2 is the plain
    DDIM(eta) chain from q(z_Te | y) to T_s, then DPS steps; here computed independently."""
    model, eta, scale = pixel_model, 0.2, 0.3
    opts = make_options("vipaint", {"iterations": 0, "gamma_init": 50.0, "mean_scale_top": 0.0,
                                    "var_scale": math.sqrt(eta), "eta": eta, "steps": 4, "dps_scale": scale})
    task = task_of(model)
    out = get_method("vipaint").fn(model, task, opts, None)

    schedule = model.schedule
    t_e, t_s = hierarchy(schedule, opts)
    ab = lambda t: 1.0 if t < 0 else float(schedule.alphas_cumprod[t])  # noqa: E731
    g = torch.Generator().manual_seed(0)
    shape = (1, *task.known.shape[1:])
    torch.randn(shape, generator=g), torch.randn(shape, generator=g)  # the two initial means' noise
    z = math.sqrt(ab(t_e)) * task.known + math.sqrt(1 - ab(t_e)) * torch.randn(shape, generator=g)
    with torch.no_grad():
        p = model.predict(z, t_e, clip=False)
    var = eta * posterior_variance(ab(t_e), ab(t_s))
    z = math.sqrt(ab(t_s)) * p.x0 + math.sqrt(1 - ab(t_s) - var) * p.eps + math.sqrt(var) * torch.randn(shape, generator=g)
    ts = [t_s, round(t_s * 2 / 3), round(t_s / 3), 0]
    for t, t_prev in zip(ts, ts[1:] + [-1]):
        x = z.detach().requires_grad_(True)
        x0 = model.predict(x, t, clip=False).x0
        loss = 100 * ((1 - task.mask) * x0 - task.image).abs().flatten(1).mean(1).sum()
        (grad,) = torch.autograd.grad(loss, x)
        x0 = x0.detach()
        eps = (z - math.sqrt(ab(t)) * x0) / math.sqrt(1 - ab(t))
        sigma = eta * math.sqrt(posterior_variance(ab(t), ab(t_prev))) if t_prev >= 0 else 0.0
        z = math.sqrt(ab(t_prev)) * x0 + math.sqrt(max(1 - ab(t_prev) - sigma**2, 0)) * eps - scale * grad
    assert torch.allclose(out, x0, atol=1e-5)


@pytest.mark.parametrize("model_name", ["pixel_model", "latent_model"])
def test_known_pixels_exact_seeded_and_batch_independent(request, model_name):
    model = request.getfixturevalue(model_name)
    before = [p.clone() for p in model.parameters()]
    flags = [p.requires_grad for p in model.parameters()]
    inpainter = Inpainter(model, device="cpu", threads=None)
    images = smooth_image(model.resolution, batch=3, seed=5)
    masks = square_hole(model.resolution, batch=3, top=0.2, left=0.3, size=0.45)
    out = inpainter(images[0], masks[0], method="vipaint", seed=2, progress=False, **FAST)
    keep = (masks[0] == 0).expand(3, -1, -1)
    assert torch.equal(out[0][keep], images[0][keep])
    assert torch.equal(inpainter(images[0], masks[0], method="vipaint", seed=2, progress=False, **FAST), out)
    batch = inpainter.batch(images, masks, [2, 3, 4], method="vipaint", progress=False, **FAST)
    assert torch.allclose(batch[0], out[0], atol=1e-4)
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before))
    assert [p.requires_grad for p in model.parameters()] == flags


def test_several_completions_share_one_fit(pixel_model):
    inpainter = Inpainter(pixel_model, device="cpu", threads=None)
    image, mask = smooth_image(16, seed=1)[0], square_hole(16, size=0.5)[0]
    calls = pixel_model.network_calls
    out = inpainter(image, mask, method="vipaint", num_samples=3, progress=False, **FAST)
    assert out.shape == (3, 3, 16, 16) and not torch.equal(out[0], out[1])
    # the fit once: 2 iterations x 2 posterior samples x 3 calls (prior, level 0 -> 1, reconstruction at T_s);
    # then per completion the hierarchy's one step and 3 DPS steps
    assert pixel_model.network_calls - calls == 2 * 2 * 3 + 3 * (1 + 3)
