"""DPS (Chung et al. 2023): the residual step, pixel and latent, cost accounting, API guarantees."""
import pytest
import torch

from inpaintkit.api import Inpainter
from inpaintkit.methods import get_method, make_options
from inpaintkit.core.images import load_image
from inpaintkit.methods.dps import residual_norm
from inpaintkit.sampling import Task, x0_with_gradient
from inpaintkit.testing.images import smooth_image, square_hole

STEPS = 8


def example(side: int):
    return smooth_image(side, seed=1), square_hole(side, top=0.25, left=0.25, size=0.3)


@pytest.mark.parametrize("model_name, t", [("pixel_model", 300), ("latent_model", 300)])
def test_one_dps_step_lowers_the_residual(request, model_name, t):
    model = request.getfixturevalue(model_name)
    image, mask = example(model.resolution)
    task = Task.create(model, image, mask, torch.Generator().manual_seed(0), progress=False)
    opts = make_options("dps")
    x_t = model.schedule.add_noise(task.known, task.randn(task.known), t)
    residual = residual_norm(model, task)
    _, before, grad = x0_with_gradient(model, task, x_t, t, residual, opts.autocast)
    assert grad.abs().sum() > 0
    step = 0.1 * grad / grad.norm()  # a small move along the DPS direction
    with torch.no_grad():
        after = residual(model.predict(x_t - step, t).x0)
    assert after.item() < before.item()


def test_dps_pulls_the_sample_towards_the_known_pixels(pixel_model):
    """Before paste-back, DPS's output is closer to the known pixels than the unguided sample (zeta = 0)."""
    image, mask = example(16)

    def residual_of(zeta):
        task = Task.create(pixel_model, image, mask, torch.Generator().manual_seed(0), progress=False)
        out = get_method("dps").fn(pixel_model, task, make_options("dps", {"steps": 20, "zeta": zeta}), None)
        return ((1 - mask) * (out - image)).norm().item()

    unguided = residual_of(0.0)
    weak = residual_of(1.0)
    backward_before = pixel_model.backward_calls
    strong = residual_of(10.0)
    assert strong < 0.5 * unguided and strong < weak < unguided
    assert pixel_model.backward_calls - backward_before == 20


@pytest.mark.parametrize("model_name", ["pixel_model", "latent_model"])
def test_dps_known_pixels_are_exact_and_runs_are_seeded(request, model_name):
    model = request.getfixturevalue(model_name)
    before = [p.requires_grad for p in model.parameters()]
    inpainter = Inpainter(model, device="cpu")
    image, mask = example(24)
    out = inpainter(image[0], mask[0], method="dps", seed=2, steps=STEPS, progress=False)
    keep = (mask[0] == 0).expand(3, -1, -1)
    assert torch.equal(out[0][keep], load_image(image[0])[0][keep])
    assert torch.equal(inpainter(image[0], mask[0], method="dps", seed=2, steps=STEPS, progress=False), out)
    assert [p.requires_grad for p in model.parameters()] == before
