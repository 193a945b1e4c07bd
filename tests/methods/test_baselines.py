"""Baselines: RePaint (schedule against diffusers), Blended Latent Diffusion, OpenCV Telea / Navier-Stokes."""
import pytest
import torch
from diffusers import RePaintPipeline, RePaintScheduler

from inpaintkit.api import Inpainter
from inpaintkit.methods.blended_latent import shrinking_mask
from inpaintkit.methods.repaint import RePaintOptions, repaint, repaint_schedule
from inpaintkit.models import DiffusionModel
from inpaintkit.core.errors import InpaintInputError
from inpaintkit.core.images import load_image, load_mask
from inpaintkit.sampling import Task
from inpaintkit.core.schedule import NoiseSchedule
from inpaintkit.core.images import to_uint8
from inpaintkit.testing.images import hole_array, smooth_image
from inpaintkit.testing.tiny import tiny_pixel_model

RES = 16  # the tiny pixel model's resolution (conftest fixtures); the tiny latent model's is 32


def example(size=RES, hole_value=None):
    """A smooth image (uint8 HxWx3, as read from a file) with a square hole (255 = fill) off-centre,
    optionally painted ``hole_value``; and both as the API loads them."""
    image, mask = to_uint8(smooth_image(size, cells=2)), hole_array(size, top=0.25, left=0.3, size=0.3)
    if hole_value is not None:
        image[mask > 0] = hole_value
    return image, mask, load_image(image), load_mask(mask)


@pytest.mark.parametrize("steps, jump_length, jump_n_sample",
                         [(250, 10, 10), (25, 10, 10), (23, 5, 3), (10, 3, 2), (7, 10, 10), (100, 7, 4), (50, 1, 1)])
def test_repaint_schedule_matches_diffusers(steps, jump_length, jump_n_sample):
    scheduler = RePaintScheduler()
    scheduler.set_timesteps(steps, jump_length, jump_n_sample)
    assert repaint_schedule(steps, jump_length, jump_n_sample) == scheduler.timesteps.tolist()


def test_repaint_schedule_time_travels():
    path = repaint_schedule(10, 3, 2)
    ups = sum(b > a for a, b in zip(path, path[1:]))
    assert path[0] == 900 and path[-1] == 0
    assert ups == 3 * 3  # jumps at steps 0, 3, 6 (< 10 - 3), r - 1 = 1 each, 3 steps back up each


@pytest.mark.parametrize("num_train_timesteps, steps, jump_n_sample", [(10, 10, 2), (1000, 10, 1)])
def test_repaint_equals_diffusers_pipeline_when_noise_streams_align(num_train_timesteps, steps, jump_n_sample):
    """With eta = 0 no reverse step draws noise, and with T // steps = 1 (or no jumps) diffusers'
    undo_step draws one noise per step back up, as we do: both consume the generator identically.
    Without x0 clipping (where diffusers keeps the raw eps) the arithmetic is then the same."""
    unet = tiny_pixel_model(RES).unet
    model = DiffusionModel(unet, NoiseSchedule(num_train_timesteps=num_train_timesteps, clip_sample=False))
    _, _, x, m = example()
    task = Task.create(model, x, m, torch.Generator().manual_seed(5), progress=False)
    opts = RePaintOptions(steps=steps, jump_length=3, jump_n_sample=jump_n_sample, eta=0.0)
    ours = repaint(model, task, opts)
    pipe = RePaintPipeline(unet=unet, scheduler=RePaintScheduler(num_train_timesteps=num_train_timesteps,
                                                                  clip_sample=False))
    pipe.set_progress_bar_config(disable=True)
    theirs = pipe(x, 1 - m, num_inference_steps=steps, eta=0.0, jump_length=3, jump_n_sample=jump_n_sample,
                  generator=torch.Generator().manual_seed(5), output_type="np").images  # mask: 1 = keep
    theirs = torch.from_numpy(theirs).permute(0, 3, 1, 2) * 2 - 1
    assert (ours.clamp(-1, 1) - theirs).abs().max() < 1e-4
    assert (ours - x)[m.expand_as(x) > 0].abs().mean() > 1e-2  # something was generated


CASES = [("repaint", "pixel", dict(steps=10, jump_length=3, jump_n_sample=2)),
         ("blended-latent", "latent", dict(steps=6)),
         ("blended-latent", "latent", dict(steps=6, mask_dilation=2, shrink_until=0.5))]


@pytest.mark.parametrize("method, space, options", CASES)
def test_known_pixels_exact_and_seeded(method, space, options, pixel_model, latent_model):
    model = pixel_model if space == "pixel" else latent_model
    image, mask, x, m = example(model.resolution)
    run = lambda seed: Inpainter(model, device="cpu")(image, mask, method=method, seed=seed,  # noqa: E731
                                                       progress=False, **options)
    a, b, c = run(0), run(0), run(1)
    assert a.shape == x.shape
    known = (m == 0).expand_as(a)
    assert torch.equal(a[known], x[known])
    assert torch.equal(a, b)
    assert (a - c)[~known].abs().mean() > 1e-3
    assert (a - x)[~known].abs().mean() > 1e-3


def test_repaint_calls_the_network_once_per_reverse_step(pixel_model):
    image, mask, _, _ = example()
    path = repaint_schedule(10, 3, 2)
    reverse_steps = 1 + sum(b < a for a, b in zip(path, path[1:]))
    pixel_model.network_calls = 0
    Inpainter(pixel_model, device="cpu")(image, mask, method="repaint", steps=10, jump_length=3,
                                        jump_n_sample=2, num_samples=2, progress=False)
    assert reverse_steps == 10 + 3 * 3
    assert pixel_model.network_calls == 2 * reverse_steps


def test_blended_latent_refuses_pixel_models(pixel_model):
    image, mask, _, _ = example()
    with pytest.raises(InpaintInputError, match="latent"):
        Inpainter(pixel_model, device="cpu")(image, mask, method="blended-latent", steps=2, progress=False)


def test_blended_latent_without_shrinking_is_combine_noisy(latent_model):
    image, mask, _, _ = example(latent_model.resolution)
    run = lambda method: Inpainter(latent_model, device="cpu")(image, mask, method=method, steps=5,  # noqa: E731
                                                               seed=3, progress=False)
    assert torch.equal(run("blended-latent"), run("combine-noisy"))


def test_shrinking_mask_goes_from_dilated_to_real():
    mask = torch.zeros(1, 1, 9, 9)
    mask[..., 4, 4] = 1
    sizes = [shrinking_mask(mask, 2, step, 10, 0.5).sum().item() for step in range(10)]
    assert sizes[0] == 25 and sizes[5:] == [1] * 5
    assert sizes == sorted(sizes, reverse=True)


@pytest.mark.parametrize("method", ["opencv-telea", "opencv-ns"])
def test_opencv_fills_the_hole_and_keeps_the_rest(method):
    image, mask, x, m = example(40)
    damaged, _, y, _ = example(40, hole_value=255)  # a white hole
    out = Inpainter(None, device="cpu")(damaged, mask, method=method, radius=3)
    hole = (m > 0).expand_as(x)
    assert out.shape == x.shape
    assert torch.equal(out[~hole], y[~hole])
    # the fill continues the smooth gradient: far closer to the original than the white hole was
    assert (out - x)[hole].abs().mean() < 0.25 * (y - x)[hole].abs().mean()
