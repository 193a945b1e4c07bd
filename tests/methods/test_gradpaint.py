"""GradPaint, GradPaint-Fast, GradPaint-latent: losses (Eq. 5-7), the Eq. 9 step, cost, API guarantees."""
import pytest
import torch

from inpaintkit.api import Inpainter
from inpaintkit.methods import get_method, make_options
from inpaintkit.core.errors import InpaintInputError
from inpaintkit.core.images import load_image
from inpaintkit.methods.gradpaint import alignment_loss, gradpaint_loss, masked_mse
from inpaintkit.sampling import NORMALIZATIONS, Task, normalize_gradient, x0_with_gradient
from inpaintkit.testing.images import smooth_image as face_like
from inpaintkit.testing.images import square_hole

STEPS = 8


def square_mask(side: int) -> torch.Tensor:
    return square_hole(side, top=0.25, left=0.25, size=0.5)


def run(model, name, image, mask, seed=0, **options):
    task = Task.create(model, image, mask, torch.Generator().manual_seed(seed), progress=False)
    opts = make_options(name, {"steps": STEPS, **options})
    return get_method(name).fn(model, task, opts, None), task


# -- the losses --------------------------------------------------------------------------------
def test_alignment_loss_is_zero_on_a_constant_image():
    mask = square_mask(16)
    assert alignment_loss(torch.full((1, 3, 16, 16), 0.3), mask).item() == 0.0


def test_alignment_loss_sees_an_edge_across_the_mask_boundary_not_along_it():
    side = 16
    mask = torch.zeros(1, 1, side, side)
    mask[..., side // 2:] = 1  # right half to fill: a vertical boundary
    across = torch.full((1, 3, side, side), -1.0)
    across[..., side // 2:] = 1.0  # jumps exactly where the mask does
    along = torch.full((1, 3, side, side), -1.0)
    along[..., side // 2:, :] = 1.0  # a horizontal edge, parallel to the mask's gradient nowhere
    loss_across, loss_along = alignment_loss(across, mask).item(), alignment_loss(along, mask).item()
    # one column of 16 pixels has cos^2 = 1 (up to the flat-gradient smoothing): 16 / 256 per channel
    assert loss_across == pytest.approx(side / side**2, rel=1e-3)
    assert loss_along < 1e-3 * loss_across


def test_masked_mse_ignores_the_hole():
    image, mask = face_like(16), square_mask(16)
    task = Task(image, mask, image, mask, torch.Generator())
    assert masked_mse(image + 5 * mask, task).item() == 0.0
    assert masked_mse(image + 0.1, task).item() == pytest.approx(0.01 * (1 - mask.mean().item()), rel=1e-5)


@pytest.mark.parametrize("normalization", NORMALIZATIONS)
def test_normalize_is_per_sample(normalization):
    grad = torch.randn(2, 3, 8, 8) * torch.tensor([1e-6, 1e3]).view(2, 1, 1, 1)
    step = normalize_gradient(grad, normalization)
    norms = step.flatten(1).norm(dim=1)
    expected = 1.0 if normalization == "global" else (3 * 8 * 8) ** 0.5
    assert torch.allclose(norms, torch.full((2,), expected), rtol=1e-5)
    assert torch.equal(step.sign(), grad.sign())


# -- the gradient step -------------------------------------------------------------------------
@pytest.mark.parametrize("normalization", NORMALIZATIONS)
def test_one_gradpaint_step_lowers_the_loss_it_follows(pixel_model, normalization):
    image, mask = face_like(16), square_mask(16)
    task = Task.create(pixel_model, image, mask, torch.Generator().manual_seed(0), progress=False)
    opts = make_options("gradpaint", {"normalization": normalization})
    x_t = pixel_model.schedule.add_noise(image, task.randn(image), 300)
    loss_fn = gradpaint_loss(task, opts.lambda_al)
    _, loss, grad = x0_with_gradient(pixel_model, task, x_t, 300, loss_fn, opts.autocast)
    assert grad.abs().sum() > 0
    lr = 0.05 if normalization == "global" else 0.002  # a visible move, still in the linear regime
    with torch.no_grad():
        moved = loss_fn(pixel_model.predict(x_t - lr * normalize_gradient(grad, normalization), 300).x0)
    assert moved.item() < loss.item()


def test_gradpaint_without_gradient_steps_is_combine_image(pixel_model):
    image, mask = face_like(16), square_mask(16)
    reference, _ = run(pixel_model, "combine-image", image, mask)
    assert torch.equal(run(pixel_model, "gradpaint", image, mask, lr=0.0)[0], reference)
    assert torch.equal(run(pixel_model, "gradpaint-fast", image, mask, grad_stop=0.0)[0], reference)
    assert (run(pixel_model, "gradpaint", image, mask)[0] - reference).abs().max() > 1e-3


def test_gradpaint_fast_stops_the_gradient_half_way(pixel_model):
    image, mask = face_like(16), square_mask(16)
    pixel_model.network_calls = pixel_model.backward_calls = 0
    run(pixel_model, "gradpaint-fast", image, mask)
    assert pixel_model.network_calls == STEPS and pixel_model.backward_calls == STEPS // 2
    run(pixel_model, "gradpaint", image, mask)
    assert pixel_model.backward_calls == STEPS // 2 + STEPS


def test_gradpaint_leaves_the_model_as_it_was_and_keeps_no_graph(pixel_model):
    pixel_model.unet.requires_grad_(False).conv_in.requires_grad_(True)  # a mixed state to restore
    before = [p.requires_grad for p in pixel_model.parameters()]
    image, mask = face_like(16), square_mask(16)
    out, _ = run(pixel_model, "gradpaint", image, mask)
    checkpointed, _ = run(pixel_model, "gradpaint", image, mask, gradient_checkpointing=True)
    assert [p.requires_grad for p in pixel_model.parameters()] == before
    assert not pixel_model.unet.is_gradient_checkpointing
    assert not out.requires_grad and out.grad_fn is None
    assert all(p.grad is None for p in pixel_model.parameters())
    assert torch.allclose(checkpointed, out, atol=1e-5)


def test_gradpaint_rejects_an_unknown_normalization(pixel_model):
    with pytest.raises(InpaintInputError, match="normalization"):
        run(pixel_model, "gradpaint", face_like(16), square_mask(16), normalization="l1")


# -- API guarantees ----------------------------------------------------------------------------
@pytest.mark.parametrize("model_name, method", [("pixel_model", "gradpaint"), ("pixel_model", "gradpaint-fast"),
                                                ("latent_model", "gradpaint-latent")])
def test_known_pixels_are_exact_and_runs_are_seeded(request, model_name, method):
    inpainter = Inpainter(request.getfixturevalue(model_name), device="cpu")
    image = face_like(40)[0]
    mask = torch.zeros(1, 40, 36)
    mask[:, 10:22, 8:20] = 1
    image = image[..., :36]
    out = inpainter(image, mask, method=method, seed=3, steps=STEPS, progress=False)
    keep = (mask == 0).expand(3, -1, -1)
    assert torch.equal(out[0][keep], load_image(image)[0][keep])
    assert torch.equal(inpainter(image, mask, method=method, seed=3, steps=STEPS, progress=False), out)
    assert not torch.equal(inpainter(image, mask, method=method, seed=4, steps=STEPS, progress=False), out)


def test_gradpaint_latent_is_for_latent_models_only(pixel_model, latent_model):
    assert get_method("gradpaint-latent").spaces == ("latent",)
    with pytest.raises(InpaintInputError, match="latent"):
        Inpainter(pixel_model, device="cpu")(face_like(16)[0], square_mask(16)[0], method="gradpaint-latent")
    with pytest.raises(InpaintInputError, match="pixel"):
        Inpainter(latent_model, device="cpu")(face_like(32)[0], square_mask(32)[0], method="gradpaint")
