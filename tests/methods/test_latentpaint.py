"""LatentPaint: the conditioning hooks against a two-pass reference, the EP module, its training, API guarantees."""
import pytest
import torch

from inpaintkit.api import Inpainter
from inpaintkit.core.errors import InpaintInputError
from inpaintkit.methods import get_method, make_options
from inpaintkit.models.hooks import block_outputs, forward_hooks, output_tensor
from inpaintkit.nets.ep_module import ExplicitPropagation, middle_channels, save_ep_modules
from inpaintkit.sampling import Task
from inpaintkit.sampling.latent_conditioning import lsc_output
from inpaintkit.testing.images import smooth_image, square_hole


def example(model, batch=1):
    return smooth_image(model.resolution, batch=batch, seed=2), square_hole(model.resolution, batch=batch, size=0.5)


def run(model, method, image, mask, seed=0, **options):
    return Inpainter(model, threads=None)(image, mask, method=method, seed=seed, progress=False, **options)


def hook_count(model) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.unet.modules())


def ep_file(model, tmp_path, scale=0.0, modules=2):
    """EP weights for ``model``: zero-initialised (scale 0) or with a perturbed last layer."""
    channels = middle_channels(model.unet)
    trained = {}
    for location in ("pre_mid", "post_mid")[:modules]:
        trained[location] = ExplicitPropagation(channels)
        if scale:
            with torch.no_grad():
                trained[location].mlp[-1].weight.normal_(0, scale)
    return str(save_ep_modules(trained, tmp_path, {}))


@pytest.mark.parametrize("model_name", ["pixel_model", "latent_model"])
def test_zero_initialised_ep_is_lsc_alone(request, model_name, tmp_path):
    model = request.getfixturevalue(model_name)
    image, mask = example(model)
    lsc = run(model, "latentpaint-lsc", image, mask, steps=4)
    assert torch.equal(run(model, "latentpaint", image, mask, steps=4, ep_weights=ep_file(model, tmp_path)), lsc)
    trained = run(model, "latentpaint", image, mask, steps=4, ep_weights=ep_file(model, tmp_path, scale=0.5))
    assert not torch.equal(trained, lsc)


@pytest.mark.parametrize("model_name", ["pixel_model", "latent_model", "conditional_model"])
def test_without_lsc_and_ep_it_is_combine_noisy_draw_for_draw(request, model_name):
    model = request.getfixturevalue(model_name)
    image, mask = example(model)
    prompt = dict(prompt="a cat", guidance_scale=2.0) if model.is_conditional else {}
    reference = run(model, "combine-noisy", image, mask, steps=5, **prompt)
    assert torch.equal(run(model, "latentpaint-lsc", image, mask, steps=5, lsc=False, **prompt), reference)
    assert not torch.equal(run(model, "latentpaint-lsc", image, mask, steps=5, **prompt), reference)


def test_with_everything_to_fill_lsc_changes_nothing(pixel_model):
    image = smooth_image(16)
    full = torch.ones(1, 1, 16, 16)
    task = Task.create(pixel_model, image, full, [torch.Generator().manual_seed(0)], progress=False)
    opts = make_options("latentpaint-lsc", {"steps": 5})
    reference = get_method("combine-noisy").fn(pixel_model, task, make_options("combine-noisy", {"steps": 5}), None)
    task = Task.create(pixel_model, image, full, [torch.Generator().manual_seed(0)], progress=False)
    assert torch.allclose(get_method("latentpaint-lsc").fn(pixel_model, task, opts, None), reference, atol=1e-4)


def test_the_batched_pass_equals_two_separate_passes(pixel_model):
    """One 2B call with the merging hooks == a condition pass that records h_c after every block, then the
    sample's pass merging the recorded features in."""
    g = torch.Generator().manual_seed(0)
    x, x_cond = torch.randn(2, 3, 16, 16, generator=g), torch.randn(2, 3, 16, 16, generator=g)
    known = 1 - square_hole(16, batch=2, size=0.5)
    with torch.no_grad():
        batched = lsc_output(pixel_model, x, x_cond, 300, known)
        points = block_outputs(pixel_model.unet)
        recorded = {}

        def keep(name):
            def hook(h):
                recorded[name] = h
                return h
            return hook

        with forward_hooks([(m, keep(name)) for name, m in points]):
            pixel_model(x_cond, 300)

        def merge(name):
            def hook(h):
                d = torch.nn.functional.adaptive_avg_pool2d(known, h.shape[-2:])
                return h * (1 - d) + recorded[name] * d
            return hook

        with forward_hooks([(m, merge(name)) for name, m in points]):
            separate = pixel_model(x, 300)
    assert torch.allclose(batched, separate, atol=1e-5)


def test_hooks_are_gone_after_the_run_and_after_an_exception(pixel_model, tmp_path):
    image, mask = example(pixel_model)
    before = hook_count(pixel_model)
    run(pixel_model, "latentpaint", image, mask, steps=3, ep_weights=ep_file(pixel_model, tmp_path, 0.3))
    assert hook_count(pixel_model) == before

    class Boom(Exception):
        pass

    def explode(step):
        if step.i == 1:
            raise Boom()

    with pytest.raises(Boom):
        Inpainter(pixel_model, threads=None)(image, mask, method="latentpaint-lsc", steps=3, progress=False,
                                             callback=explode)
    assert hook_count(pixel_model) == before
    def broken(h):
        raise RuntimeError("inside the network call")

    with pytest.raises(RuntimeError):  # an error inside a hooked network call
        with forward_hooks([(pixel_model.unet.conv_in, broken)]):
            pixel_model(torch.zeros(1, 3, 16, 16), 10)
    assert hook_count(pixel_model) == before


def test_ep_pools_each_region_and_unpools_softly():
    module = ExplicitPropagation(4, hidden=8, mode="replace")
    h = torch.zeros(1, 4, 2, 2)
    h[0, :, 0, 0] = 5.0
    known = torch.tensor([[[[1.0, 1.0], [0.0, 0.25]]]])
    pooled = ExplicitPropagation.region_max(h, known >= 0.5)
    assert torch.equal(pooled, torch.full((1, 4), 5.0))
    assert torch.equal(ExplicitPropagation.region_max(h, torch.zeros(1, 1, 2, 2, dtype=torch.bool)), torch.zeros(1, 4))
    out = module(h, known)
    assert out.shape == h.shape
    assert 2 * sum(p.numel() for p in ExplicitPropagation(128).parameters()) < 0.01 * 3.94e6  # two: < 1 % of faces-32


def test_latentpaint_without_ep_weights_says_how_to_get_them(pixel_model):
    image, mask = example(pixel_model)
    with pytest.raises(InpaintInputError, match="train-ep"):
        run(pixel_model, "latentpaint", image, mask, steps=2)


def test_each_module_count_loads_its_own_weights_from_the_model_folder(tmp_path):
    """ep=1 and ep=2 read latentpaint/ep1 and ep2.safetensors (each trained on its own), not one another's."""
    from inpaintkit.models import load_model
    from inpaintkit.testing.tiny import tiny_pixel_model

    tiny_pixel_model(16).unet.save_pretrained(tmp_path / "model")
    model = load_model(tmp_path / "model")
    image, mask = example(model)
    two = ep_file(model, tmp_path / "model" / "latentpaint", scale=0.5, modules=2)
    with pytest.raises(InpaintInputError, match="--modules 1"):
        run(model, "latentpaint", image, mask, steps=3, ep=1)
    one = ep_file(model, tmp_path / "model" / "latentpaint", scale=0.3, modules=1)
    for count, file in ((1, one), (2, two)):
        assert torch.equal(run(model, "latentpaint", image, mask, steps=3, ep=count),
                           run(model, "latentpaint", image, mask, steps=3, ep=count, ep_weights=file))
    assert not torch.equal(run(model, "latentpaint", image, mask, steps=3, ep=1),
                           run(model, "latentpaint", image, mask, steps=3, ep=1, ep_weights=two))

@pytest.mark.parametrize("method", ["latentpaint-lsc", "latentpaint"])
def test_known_pixels_exact_seeded_batch_independent(pixel_model, tmp_path, method):
    options = {"steps": 4} if method == "latentpaint-lsc" else {"steps": 4, "ep_weights": ep_file(pixel_model, tmp_path, 0.3)}
    images, masks = example(pixel_model, batch=3)
    inpainter = Inpainter(pixel_model, threads=None)
    alone = inpainter(images[0], masks[0], method=method, seed=4, progress=False, **options)
    keep = (masks[0] == 0).expand(3, -1, -1)
    assert torch.equal(alone[0][keep], images[0][keep])
    assert torch.equal(inpainter(images[0], masks[0], method=method, seed=4, progress=False, **options), alone)
    batch = inpainter.batch(images, masks, [4, 5, 6], method=method, progress=False, **options)
    assert torch.allclose(batch[0], alone[0], atol=1e-4)


def test_one_training_step_moves_only_the_ep_parameters_and_the_loss_falls(pixel_model):
    from inpaintkit.train.datasets import Batch
    from inpaintkit.train.ep import EPObjective

    channels = middle_channels(pixel_model.unet)
    torch.manual_seed(0)
    net = torch.nn.ModuleDict({loc: ExplicitPropagation(channels) for loc in ("pre_mid", "post_mid")})
    pixel_model.requires_grad_(False)
    frozen = [p.clone() for p in pixel_model.parameters()]
    objective = EPObjective(pixel_model, {"thick": 1.0, "box-random": 1.0})
    batch = Batch(smooth_image(16, batch=8, seed=1))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(6):
        loss = objective(net, batch, torch.Generator().manual_seed(0))  # the same draws: a fixed problem
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    assert all(torch.equal(p, q) for p, q in zip(pixel_model.parameters(), frozen))
    assert all(p.grad is None for p in pixel_model.parameters())


def test_train_ep_writes_weights_the_method_loads_and_resumes(tmp_path):
    """``inpaintkit train-ep`` on a tiny model and tiny images: the weights land in out/latentpaint/, the
    method loads them from a model folder holding that folder, and a rerun resumes (bit-identical)."""
    import shutil

    from typer.testing import CliRunner

    from inpaintkit.app.cli import app
    from inpaintkit.core.files import torch_load
    from inpaintkit.testing.images import smooth_pil
    from inpaintkit.testing.tiny import tiny_pixel_model

    model_dir = tmp_path / "model"
    tiny_pixel_model(16).unet.save_pretrained(model_dir)
    (tmp_path / "faces").mkdir()
    for i in range(6):
        smooth_pil(20, seed=i).save(tmp_path / "faces" / f"{i}.png")
    args = ["train-ep", "--model", model_dir, "--out", tmp_path / "run", "--batch-size", 2, "--device", "cpu"]
    base = dict(data=str(tmp_path / "faces"), resolution=16, crop=None)
    from inpaintkit.train.ep import EPConfig, train_ep

    straight = train_ep(EPConfig(model=str(model_dir), out=str(tmp_path / "a"), steps=4, batch_size=2, device="cpu",
                                 checkpoint_every=2, **base), progress=False)
    train_ep(EPConfig(model=str(model_dir), out=str(tmp_path / "b"), steps=2, batch_size=2, device="cpu",
                      checkpoint_every=2, **base), progress=False)
    resumed = train_ep(EPConfig(model=str(model_dir), out=str(tmp_path / "b"), steps=4, batch_size=2, device="cpu",
                                checkpoint_every=2, **base), progress=False)
    a, b = torch_load(tmp_path / "a" / "checkpoint.pt"), torch_load(tmp_path / "b" / "checkpoint.pt")
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    shutil.copytree(straight, model_dir / "latentpaint")
    image, mask = smooth_image(16), square_hole(16, size=0.5)
    from inpaintkit.models import load_model

    out = Inpainter(load_model(model_dir), threads=None)(image, mask, method="latentpaint", steps=3, progress=False)
    assert out.shape == (1, 3, 16, 16) and resumed.is_dir()
    result = CliRunner().invoke(app, [str(a) for a in args] + ["--steps", "1", "--data", tmp_path / "faces",
                                                            "--resolution", 16])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "run" / "latentpaint" / "ep2.safetensors").is_file()
    wrong = CliRunner().invoke(app, [str(a) for a in args] + ["--steps", "1", "--data", tmp_path / "faces",
                                                           "--resolution", 24, "--out", tmp_path / "run2"])
    assert wrong.exit_code == 1 and "16 px" in wrong.output
