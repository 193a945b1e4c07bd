"""PILOT on tiny text-conditioned models: the masked attention processor, the optimisation step, gamma = 0,
ControlNet residuals, API guarantees."""
import pytest
import torch
from diffusers.models.attention_processor import AttnProcessor2_0

from inpaintkit.api import Inpainter
from inpaintkit.core.errors import InpaintInputError
from inpaintkit.methods import get_method, make_options
from inpaintkit.methods.pilot import MaskedAttention, hole_areas, lambda_of, masked_attention, pair_output
from inpaintkit.sampling import Task
from inpaintkit.testing.images import smooth_image, square_hole


def task_of(model, mask=None, seed=0, prompt="a cat", guidance=3.0):
    image = smooth_image(model.resolution, seed=1)
    mask = square_hole(model.resolution, size=0.5) if mask is None else mask
    cond = model.condition([prompt], guidance)
    return Task.create(model, image, mask, [torch.Generator().manual_seed(seed)], cond, progress=False)


def outputs(model, task, processor=None):
    cond = task.cond.expand(1)
    z = torch.randn(task.known.shape, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        if processor is None:
            return pair_output(model, z, 500, cond.embeds, cond.uncond_embeds, None)
        with masked_attention(model, processor):
            return pair_output(model, z, 500, cond.embeds, cond.uncond_embeds, None)


def test_all_ones_masks_reproduce_the_stock_attention(conditional_model):
    task = task_of(conditional_model)
    conditional_model.set_attn_processor(AttnProcessor2_0())
    stock = outputs(conditional_model, task)
    processor = MaskedAttention()
    processor.areas = {length: torch.ones(1, length, dtype=torch.bool) for length in (1, 4, 16)}
    processor.self_attention = True
    ours = outputs(conditional_model, task, processor)
    plain = outputs(conditional_model, task, MaskedAttention())  # no masks at all
    for a, b, c in zip(stock, ours, plain):
        assert torch.allclose(a, b, atol=1e-5) and torch.allclose(a, c, atol=1e-5)


def test_masks_change_the_output_and_never_make_nan(conditional_model):
    task = task_of(conditional_model)
    processor = MaskedAttention()
    processor.areas = hole_areas(task.mask_z, [1, 4, 16])
    processor.self_attention = True
    masked = outputs(conditional_model, task, processor)
    assert not torch.allclose(masked[1], outputs(conditional_model, task)[1])
    for mask in (torch.ones(1, 1, 32, 32), torch.zeros(1, 1, 32, 32), square_hole(32, size=0.9)):
        areas = hole_areas(torch.nn.functional.adaptive_max_pool2d(mask, 4), [1, 4, 16])
        processor.areas = areas
        assert all(torch.isfinite(o).all() for o in outputs(conditional_model, task_of(conditional_model, mask),
                                                             processor))
    full = hole_areas(torch.ones(1, 1, 4, 4), [16])[16]
    empty = hole_areas(torch.zeros(1, 1, 4, 4), [16])[16]
    assert full.all() and empty.all()  # everything or nothing to fill: no masking at all


def test_processors_are_restored_after_the_run_and_after_an_exception(conditional_model):
    before = {k: type(v) for k, v in conditional_model.attn_processors.items()}
    inpainter = Inpainter(conditional_model, threads=None)
    image, mask = smooth_image(32), square_hole(32, size=0.5)
    inpainter(image, mask, method="pilot-fast", prompt="a cat", steps=4, progress=False)
    assert {k: type(v) for k, v in conditional_model.attn_processors.items()} == before

    def explode(step):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        inpainter(image, mask, method="pilot-fast", prompt="a cat", steps=4, progress=False, callback=explode)
    assert {k: type(v) for k, v in conditional_model.attn_processors.items()} == before


def test_one_optimisation_step_lowers_the_loss_it_follows(conditional_model):
    task = task_of(conditional_model)
    cond = task.cond.expand(1)
    schedule = conditional_model.schedule
    opts = make_options("pilot")
    keep = 1 - task.mask_z
    lam = lambda_of(opts, 700, keep.flatten(1).mean(1), task.known[0].numel(), 1000)

    def loss(z):
        out_u, out_c = pair_output(conditional_model, z, 700, cond.embeds, cond.uncond_embeds, None)
        x_u, _ = schedule.to_x0_eps(out_u, z, 700)
        x_c, _ = schedule.to_x0_eps(out_c, z, 700)
        diff = (x_u - x_c).square()
        return (keep * (x_u - task.known)).square().sum() / 4 + lam * (keep * diff).sum() / diff.sum()

    z = torch.randn(task.known.shape, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
    before = loss(z)
    (grad,) = torch.autograd.grad(before, z)
    with torch.no_grad():
        assert loss(z - 1e-3 * grad / grad.abs().max()).item() < before.item()


def test_the_learning_rate_is_ported_from_sd_by_noise_level(conditional_model, monkeypatch):
    """On SD's schedule the paper's rate; on the linear DDPM schedule (cifar10-text's) alpha_bar(t) / alpha_bar_SD(t)
    of it, which keeps z at the scale of plain sampling, where the paper's rate blows it up at the first step."""
    import inpaintkit.methods.pilot as pilot
    from inpaintkit.core.schedule import NoiseSchedule, ScheduleConfig
    from inpaintkit.models import DiffusionModel

    opts = make_options("pilot")
    paper = lambda opts, i, t, schedule: opts.lr_warmup if i == 0 else opts.lr * 1.002 ** (1000 - t)  # noqa: E731
    linear = DiffusionModel(conditional_model.unet, NoiseSchedule(ScheduleConfig(clip_sample=False)),
                            autoencoder=conditional_model.autoencoder, text_encoder=conditional_model.text_encoder)
    for i, t in ((0, 995), (5, 600), (9, 100)):
        assert pilot.learning_rate(opts, i, t, conditional_model.schedule) == pytest.approx(paper(opts, i, t, None))
    assert pilot.learning_rate(opts, 3, 957, linear.schedule) == pytest.approx(0.0122 * paper(opts, 3, 957, None),
                                                                             rel=0.02)

    def largest_z(**options):
        sizes = []
        Inpainter(linear, threads=None)(smooth_image(32, seed=1), square_hole(32, size=0.5), method="pilot-fast",
                                        prompt="a cat", seed=0, steps=10, progress=False,
                                        callback=lambda s: sizes.append(float(s.x_t.abs().max())), **options)
        return torch.tensor(sizes)

    plain, ported = largest_z(gd_steps=0), largest_z()
    assert (ported <= 1.5 * plain).all()
    monkeypatch.setattr(pilot, "learning_rate", paper)
    assert largest_z()[0] > 100 * plain[0]


def test_gamma_zero_is_blending_with_masked_attention(conditional_model):
    """gamma 0: no optimisation; each step blends the noised input into the background at level t, then takes
    the CFG DDIM step under the masked attention (computed here step by step)."""
    opts = make_options("pilot", {"gamma": 0.0, "steps": 5, "guidance_scale": 3.0})
    out = get_method("pilot").fn(conditional_model, task_of(conditional_model), opts, None)
    task = task_of(conditional_model)
    schedule = conditional_model.schedule
    cond = task.cond.expand(1)
    processor = MaskedAttention()
    processor.areas = hole_areas(task.mask_z, [1, 4, 16])
    z = task.initial_noise()
    ts = schedule.timesteps(5).tolist()
    with torch.no_grad(), masked_attention(conditional_model, processor):
        for t, t_prev in zip(ts, ts[1:] + [-1]):
            z = task.mask_z * z + (1 - task.mask_z) * schedule.add_noise(task.known, task.randn(task.known), t)
            processor.self_attention = t >= 600
            out_u, out_c = pair_output(conditional_model, z, t, cond.embeds, cond.uncond_embeds, None)
            x0, eps = schedule.to_x0_eps(out_u + 3.0 * (out_c - out_u), z, t)
            z = schedule.ddim_step(z, x0, eps, t, t_prev, 0.0)
        expected = conditional_model.decode(z)
    assert torch.allclose(out, expected, atol=1e-5)


def test_controlnet_residuals_change_the_output_and_a_zero_controlnet_does_not(conditional_model, tmp_path):
    from diffusers import ControlNetModel

    controlnet = ControlNetModel.from_unet(conditional_model.unet, conditioning_channels=3,
                                           conditioning_embedding_out_channels=(4, 8, 8, 8))  # 8x down: latents
    controlnet.save_pretrained(tmp_path / "zero")
    with torch.no_grad():
        for p in controlnet.parameters():
            p.add_(0.05 * torch.randn_like(p))
    controlnet.save_pretrained(tmp_path / "trained")
    inpainter = Inpainter(conditional_model, threads=None)
    image, mask = smooth_image(32, seed=4), square_hole(32, size=0.5)
    run = lambda **o: inpainter(image, mask, method="pilot-fast", prompt="a cat", steps=3, seed=1,  # noqa: E731
                                progress=False, **o)
    plain = run()
    assert torch.allclose(run(controlnet=str(tmp_path / "zero")), plain, atol=1e-6)
    assert not torch.allclose(run(controlnet=str(tmp_path / "trained")), plain, atol=1e-3)


def test_known_pixels_exact_seeded_and_unconditional_models_refused(conditional_model, pixel_model):
    inpainter = Inpainter(conditional_model, threads=None)
    image, mask = smooth_image(32, seed=2)[0], square_hole(32, size=0.4)[0]
    a = inpainter(image, mask, method="pilot-fast", prompt="a dog", steps=4, seed=5, progress=False)
    keep = (mask == 0).expand(3, -1, -1)
    assert torch.equal(a[0][keep], image[keep])
    assert torch.equal(inpainter(image, mask, method="pilot-fast", prompt="a dog", steps=4, seed=5, progress=False), a)
    with pytest.raises(InpaintInputError, match="text-conditioned"):
        Inpainter(pixel_model, threads=None)(smooth_image(16), square_hole(16), method="pilot-fast", progress=False)
