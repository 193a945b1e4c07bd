"""The ``inpaintkit`` command: single images, folders with resume, listings, demo, train, and bad input."""
import hashlib
import json
import os
import shutil

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import inpaintkit.models.catalog
import inpaintkit.models.loading
from inpaintkit.app.cli import app
from inpaintkit.core.schedule import ScheduleConfig
from inpaintkit.methods import METHODS, describe_options
from inpaintkit.models.export import write_model_folder
from inpaintkit.nets.unets import build_unet
from inpaintkit.testing.images import hole_array, noise_pil

FAST = ["--steps", "2"]


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    """A tiny 16 px pixel model folder as ``inpaintkit train`` exports it."""
    torch.manual_seed(0)
    return write_model_folder(tmp_path_factory.mktemp("models") / "tiny", build_unet("tiny", 16), ScheduleConfig(),
                              meta={"training_steps": 7, "fid": 123.4})


rgb = noise_pil  # (h, w, seed): an image no model can continue, for file handling


def box_mask(h: int, w: int, value: int = 255) -> Image.Image:
    return Image.fromarray(hole_array(h, w, value=value, top=0.25, left=0.25, size=0.3))


@pytest.fixture
def files(tmp_path):
    """image.png (24 x 20) and its mask.png in tmp_path."""
    rgb(20, 24).save(tmp_path / "image.png")
    box_mask(20, 24).save(tmp_path / "mask.png")
    return tmp_path


def run(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB")).astype(int)


def snapshot(folder) -> dict:
    """Every file under ``folder`` with its content hash."""
    return {p.relative_to(folder): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def no_temp_files(folder) -> bool:
    return not [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


# -- single images ---------------------------------------------------------------------------------
def test_help_lists_every_command():
    result = run("--help")
    assert result.exit_code == 0
    for command in ("inpaint", "methods", "models", "demo", "train"):
        assert command in result.stdout
    assert "thresholded at 0.5" in " ".join(run("inpaint", "--help").stdout.split())


def test_inpaint_one_image(files, model_dir):
    out = files / "sub" / "dir" / "out.png"  # missing parent folders are created
    result = run("inpaint", files / "image.png", files / "mask.png", "-o", out, "--model", model_dir, *FAST)
    assert result.exit_code == 0, result.stderr
    src, got = pixels(files / "image.png"), pixels(out)
    hole = pixels(files / "mask.png")[..., 0] > 127
    assert got.shape == src.shape
    assert np.array_equal(got[~hole], src[~hole])  # known pixels untouched
    assert np.abs(got[hole] - src[hole]).mean() > 5  # the hole is regenerated
    assert no_temp_files(files)


def test_same_seed_same_output_and_num_samples(files, model_dir):
    args = [files / "image.png", files / "mask.png", "--model", model_dir, *FAST]
    run("inpaint", *args, "-o", files / "a.png", "--seed", 3)
    run("inpaint", *args, "-o", files / "b.png", "--seed", 3)
    run("inpaint", *args, "-o", files / "c.png", "--seed", 4)
    assert np.array_equal(pixels(files / "a.png"), pixels(files / "b.png"))
    assert not np.array_equal(pixels(files / "a.png"), pixels(files / "c.png"))
    result = run("inpaint", *args, "-o", files / "many.png", "--num-samples", 2)
    assert result.exit_code == 0, result.stderr
    assert not (files / "many.png").exists()
    assert not np.array_equal(pixels(files / "many_0.png"), pixels(files / "many_1.png"))


def test_method_options_from_flags_and_set(files, model_dir):
    args = [files / "image.png", files / "mask.png", "--model", model_dir, "--seed", 1]
    run("inpaint", *args, "-o", files / "flag.png", "--steps", 3, "--eta", 0)
    run("inpaint", *args, "-o", files / "set.png", "--set", "steps=3", "--set", "eta=0.0")
    assert np.array_equal(pixels(files / "flag.png"), pixels(files / "set.png"))
    run("inpaint", *args, "-o", files / "ddpm.png", "--steps", 3, "--eta", 1)
    assert not np.array_equal(pixels(files / "flag.png"), pixels(files / "ddpm.png"))


@pytest.mark.skipif("opencv-telea" not in METHODS, reason="opencv-telea not registered")
def test_flags_a_method_lacks_are_ignored_with_a_warning(files):
    result = run("inpaint", files / "image.png", files / "mask.png", "-o", files / "out.png",
                 "--method", "opencv-telea", "--model", "no-such-model", "--steps", 5)
    assert result.exit_code == 0, result.stderr
    assert "warning: method 'opencv-telea' has no --steps option; ignored" in result.stderr


def test_grey_masks_are_thresholded_at_half(files, model_dir):
    m = np.zeros((20, 24), np.uint8)
    m[2:8, 2:10] = 120  # below 0.5: kept
    m[10:18, 12:22] = 140  # above 0.5: filled
    Image.fromarray(m).save(files / "grey.png")
    result = run("inpaint", files / "image.png", files / "grey.png", "-o", files / "out.png", "--model", model_dir,
                 *FAST)
    assert result.exit_code == 0, result.stderr
    changed = (pixels(files / "out.png") != pixels(files / "image.png")).any(-1)
    assert not changed[m != 140].any()
    assert changed[m == 140].mean() > 0.5


def test_empty_mask_writes_the_input_with_a_warning(files, model_dir):
    Image.new("L", (24, 20), 0).save(files / "empty.png")
    result = run("inpaint", files / "image.png", files / "empty.png", "-o", files / "out.png", "--model", model_dir)
    assert result.exit_code == 0
    assert "warning: the mask has no pixel to fill" in result.stderr
    assert np.array_equal(pixels(files / "out.png"), pixels(files / "image.png"))


def test_resize_mask_accepts_another_size(files, model_dir):
    box_mask(10, 12).save(files / "small.png")
    result = run("inpaint", files / "image.png", files / "small.png", "-o", files / "out.png", "--model", model_dir,
                 "--resize-mask", *FAST)
    assert result.exit_code == 0, result.stderr
    assert Image.open(files / "out.png").size == (24, 20)


def test_overwrite_replaces_an_existing_output(files, model_dir):
    (files / "out.png").write_bytes(b"old")
    result = run("inpaint", files / "image.png", files / "mask.png", "-o", files / "out.png", "--model", model_dir,
                 "--overwrite", *FAST)
    assert result.exit_code == 0, result.stderr
    assert Image.open(files / "out.png").size == (24, 20)


# -- bad input: one line on stderr, non-zero exit, nothing written or changed -------------------------
BAD_INPUTS = {
    "missing image": (["nope.png", "mask.png"], [], "image not found"),
    "unreadable image": (["junk.png", "mask.png"], [], "image is not a readable image"),
    "missing mask": (["image.png", "nope.png"], [], "mask not found"),
    "unreadable mask": (["image.png", "junk.png"], [], "mask is not a readable image"),
    "size mismatch": (["image.png", "small.png"], [], "--resize-mask"),
    "unknown method": (["image.png", "mask.png"], ["--method", "nope"], "unknown method 'nope'"),
    "unknown model name": (["image.png", "mask.png"], ["--model", "no-such-model"], "unknown model 'no-such-model'"),
    "missing model folder": (["image.png", "mask.png"], ["--model", "./no/such/folder"], "unknown model"),
    "not a model folder": (["image.png", "mask.png"], ["--model", "."], "not a diffusers model folder"),
    "unknown option": (["image.png", "mask.png"], ["--set", "nope=1"], "unknown option(s) nope"),
    "option of the wrong type": (["image.png", "mask.png"], ["--set", "eta=lots"], "not a valid float"),
    "malformed --set": (["image.png", "mask.png"], ["--set", "steps"], "--set expects KEY=VALUE"),
    "flag and --set clash": (["image.png", "mask.png"], ["--steps", "2", "--set", "steps=3"], "both given"),
    "invalid step count": (["image.png", "mask.png"], ["--steps", "0"], "steps must be >= 1"),
    "too many steps": (["image.png", "mask.png"], ["--steps", "5000"], "steps must be in [1, 1000]"),
    "nan guidance": (["image.png", "mask.png"], ["--guidance-scale", "nan"], "must be a finite number"),
    "inf guidance": (["image.png", "mask.png"], ["--guidance-scale", "inf"], "must be a finite number"),
    "absurd guidance": (["image.png", "mask.png"], ["--guidance-scale", "1e9"], "guidance_scale must be <= 50"),
    "negative guidance": (["image.png", "mask.png"], ["--guidance-scale", "-50"], "guidance_scale must be >= 0"),
    "nan eta": (["image.png", "mask.png"], ["--eta", "nan"], "must be a finite number"),
    "eta above one": (["image.png", "mask.png"], ["--eta", "2"], "eta must be <= 1"),
    "output is a folder": (["image.png", "mask.png"], ["-o", "adir.png"], "it is a folder"),
    "bad thread count": (["image.png", "mask.png"], ["--threads", "zero"], "threads must be"),
    "decompression bomb": (["bomb.png", "mask.png"], [], "pixels, more than"),
    "output exists": (["image.png", "mask.png"], ["-o", "taken.png"], "exists (use --overwrite"),
    "output is an input": (["image.png", "mask.png"], ["-o", "image.png", "--overwrite"], "inputs are never"),
    "unwritable output folder": (["image.png", "mask.png"], ["-o", "junk.png/out.png"], "is not a folder"),
    "unknown output format": (["image.png", "mask.png"], ["-o", "out.xyz"], "unsupported extension"),
    "prompt for an unconditional model": (["image.png", "mask.png"], ["--prompt", "a face"], "text-conditioned"),
    "file and folder": (["image.png", "."], [], "both be files or both be folders"),
    "unknown memory word": (["image.png", "mask.png"], ["--memory", "tiling"], "--memory 'tiling': expected"),
    "memory dtype": (["image.png", "mask.png"], ["--memory", "vae=fp8"], "dtype must be one of"),
    "tiling without an autoencoder": (["image.png", "mask.png"], ["--memory", "vae-tiling"], "no autoencoder"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input(case, files, model_dir, monkeypatch):
    (files / "junk.png").write_text("not an image")
    box_mask(10, 12).save(files / "small.png")
    (files / "taken.png").write_bytes(b"keep me")
    (files / "adir.png").mkdir()
    (files / "bomb.png").write_bytes(png_header(20000, 20000))
    positional, extra, message = BAD_INPUTS[case]
    monkeypatch.chdir(files)
    before = snapshot(files)
    result = run("inpaint", *positional, "-o", "out.png", "--model", model_dir, *FAST, *extra)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert message in lines[0]
    assert snapshot(files) == before  # nothing written, nothing changed


def png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` pixels, with one tiny compressed row of data."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + \
        chunk(b"IEND", b"")


def test_bad_device_is_one_line(files, model_dir):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is available")
    result = run("inpaint", files / "image.png", files / "mask.png", "-o", files / "out.png", "--model", model_dir,
                 "--device", "cuda")
    assert result.exit_code == 1 and result.stderr.strip() == "error: device 'cuda': no CUDA device is available"


def test_jpeg_output_warns_that_known_pixels_change(files, model_dir):
    result = run("inpaint", files / "image.png", files / "mask.png", "-o", files / "out.jpg", "--model", model_dir,
                 *FAST)
    assert result.exit_code == 0, result.stderr
    assert "warning: JPEG is lossy" in result.stderr
    webp = run("inpaint", files / "image.png", files / "mask.png", "-o", files / "out.webp", "--model", model_dir,
               *FAST)
    assert webp.exit_code == 0 and "warning" not in webp.stderr
    hole = pixels(files / "mask.png")[..., 0] > 127
    assert np.array_equal(pixels(files / "out.webp")[~hole], pixels(files / "image.png")[~hole])  # lossless


def test_a_stale_temp_file_of_a_killed_run_is_removed(files, model_dir):
    stale = files / ".out.png.999999999.0123abcd.tmp"  # no such process
    stale.write_bytes(b"half a png")
    result = run("inpaint", files / "image.png", files / "mask.png", "-o", files / "out.png", "--model", model_dir,
                 *FAST)
    assert result.exit_code == 0, result.stderr
    assert not stale.exists() and no_temp_files(files)


def test_threads_flag_sets_torch_threads(files, model_dir):
    before = torch.get_num_threads()
    try:
        result = run("inpaint", files / "image.png", files / "mask.png", "-o", files / "out.png", "--model",
                     model_dir, "--threads", 1, *FAST)
        assert result.exit_code == 0, result.stderr
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_pickled_weights_need_allow_pickle(files, model_dir, tmp_path):
    from safetensors.torch import load_file

    folder = tmp_path / "pickled"
    shutil.copytree(model_dir, folder)
    weights = folder / "unet" / "diffusion_pytorch_model.safetensors"
    torch.save(load_file(weights), folder / "unet" / "diffusion_pytorch_model.bin")
    weights.unlink()
    args = ["inpaint", files / "image.png", files / "mask.png", "-o", files / "out.png", "--model", folder, *FAST]
    refused = run(*args)
    assert refused.exit_code == 1 and "--allow-pickle" in refused.stderr and not (files / "out.png").exists()
    allowed = run(*args, "--allow-pickle")
    assert allowed.exit_code == 0, allowed.stderr
    assert "serializ" not in allowed.stderr.lower() and "float32" not in allowed.stderr  # no library noise


def test_a_broken_config_is_named(files, model_dir, tmp_path):
    folder = tmp_path / "broken"
    shutil.copytree(model_dir, folder)
    (folder / "unet" / "config.json").write_text("{not json")
    result = run("inpaint", files / "image.png", files / "mask.png", "-o", files / "out.png", "--model", folder)
    assert result.exit_code == 1 and str(folder / "unet" / "config.json") in result.stderr


def test_rgba_image_warns_that_alpha_is_ignored(files, model_dir):
    rgba = Image.open(files / "image.png").convert("RGBA")
    rgba.putalpha(128)
    rgba.save(files / "rgba.png")
    result = run("inpaint", files / "rgba.png", files / "mask.png", "-o", files / "out.png", "--model", model_dir,
                 *FAST)
    assert result.exit_code == 0 and "alpha channel; it is ignored" in result.stderr


def test_sixteen_bit_images_and_masks(files, model_dir):
    """A 16-bit greyscale photo keeps its grey levels; a near-black 16-bit mask background is kept."""
    grey = (np.asarray(Image.open(files / "image.png").convert("L")).astype(np.uint16) * 257)
    Image.fromarray(grey).save(files / "grey16.png")
    mask16 = np.full(grey.shape, 1000, np.uint16)  # near-black: keep
    hole = hole_array(*grey.shape) > 0
    mask16[hole] = 65535
    Image.fromarray(mask16).save(files / "mask16.png")
    result = run("inpaint", files / "grey16.png", files / "mask16.png", "-o", files / "out.png", "--model",
                 model_dir, *FAST)
    assert result.exit_code == 0, result.stderr
    out = pixels(files / "out.png")
    assert np.array_equal(out[~hole], np.repeat((grey[~hole] // 257)[:, None], 3, 1))


# -- folders ------------------------------------------------------------------------------------------
@pytest.fixture
def folders(tmp_path):
    """images/{a,b,c}.png; masks/a.png and masks/b_mask.png (c has no mask)."""
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    for i, stem in enumerate("abc"):
        rgb(16, 20, seed=i).save(tmp_path / "images" / f"{stem}.png")
    box_mask(16, 20).save(tmp_path / "masks" / "a.png")
    box_mask(16, 20).save(tmp_path / "masks" / "b_mask.png")
    return tmp_path


def test_folder_mode_pairs_by_stem_and_resumes(folders, model_dir):
    args = ["inpaint", folders / "images", folders / "masks", "-o", folders / "out", "--model", model_dir, *FAST]
    inputs = snapshot(folders)
    result = run(*args)
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in (folders / "out").iterdir()) == ["a.png", "b.png"]
    assert "warning: skipping" in result.stderr and "c.png" in result.stderr
    assert no_temp_files(folders)
    single = folders / "single.png"  # a folder run gives what single runs give
    run("inpaint", folders / "images" / "b.png", folders / "masks" / "b_mask.png", "-o", single, "--model", model_dir,
        *FAST)
    assert np.array_equal(pixels(folders / "out" / "b.png"), pixels(single))

    # an interrupted run: a.png is done, b.png is missing -> only b.png is made again
    done = folders / "out" / "a.png"
    os.utime(done, (1_000_000_000, 1_000_000_000))
    (folders / "out" / "b.png").unlink()
    result = run(*args)
    assert result.exit_code == 0, result.stderr
    assert "1 of 2 images already done" in result.stderr
    assert done.stat().st_mtime == 1_000_000_000
    assert np.array_equal(pixels(folders / "out" / "b.png"), pixels(single))

    result = run(*args)  # all done: nothing to do
    assert result.exit_code == 0 and done.stat().st_mtime == 1_000_000_000
    result = run(*args, "--overwrite")
    assert result.exit_code == 0 and done.stat().st_mtime != 1_000_000_000
    assert {k: v for k, v in snapshot(folders).items() if k.parts[0] in ("images", "masks")} == inputs


def test_folder_mode_masks_beside_their_images(folders, model_dir):
    same = folders / "images"
    box_mask(16, 20).save(same / "a_mask.png")
    result = run("inpaint", same, same, "-o", folders / "out", "--model", model_dir, *FAST)
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in (folders / "out").iterdir()) == ["a.png"]


def test_folder_mode_skips_unreadable_images_and_fails_at_the_end(folders, model_dir):
    (folders / "images" / "b.png").write_text("broken")
    result = run("inpaint", folders / "images", folders / "masks", "-o", folders / "out", "--model", model_dir, *FAST)
    assert result.exit_code == 1
    assert sorted(p.name for p in (folders / "out").iterdir()) == ["a.png"]
    assert result.stderr.strip().splitlines()[-1] == "error: 1 of 2 images could not be read (see the warnings above)"


def test_folder_mode_bad_input(folders, model_dir):
    (folders / "out.png").write_bytes(b"x")
    (folders / "empty").mkdir()
    before = snapshot(folders)
    for images, out, message in [("images", "out.png", "must be a folder"),
                                 ("empty", "out", "no image in"),
                                 ("images", "images", "inputs are never overwritten")]:
        result = run("inpaint", folders / images, folders / "masks", "-o", folders / out, "--model", model_dir)
        assert result.exit_code == 1 and result.stderr.count("\n") == 1 and message in result.stderr
    assert snapshot(folders) == before


# -- listings -------------------------------------------------------------------------------------------
def test_methods_lists_every_method_with_its_options():
    result = run("methods")
    assert result.exit_code == 0
    for name in METHODS:
        assert f"{name}: {METHODS[name].summary}" in result.stdout
        for o in describe_options(name):
            assert f"{o['name']}: {o['type']} = {o['default']!r}" in result.stdout


def test_models_lists_builtin_models(model_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(inpaintkit.models.catalog, "BUILTIN_DIR", tmp_path)
    assert "no built-in models installed" in run("models").stdout
    shutil.copytree(model_dir, tmp_path / "tiny-faces")
    result = run("models")
    assert result.exit_code == 0, result.stderr
    params = sum(p.numel() for p in build_unet("tiny", 16).parameters())
    assert result.stdout.strip() == (f"tiny-faces: 16x16 pixel, unconditional, {params:,} parameters, "
                                     "7 training steps, FID 123.4")
    info_file = tmp_path / "tiny-faces" / "inpaintkit.json"
    info_file.write_text(json.dumps({**json.loads(info_file.read_text()), "fid_floor": 18.2}))
    assert run("models").stdout.strip().endswith("7 training steps, FID 123.4 (floor 18.2)")


def test_models_lists_latent_and_text_models_without_loading_them(tmp_path, monkeypatch):
    """The listing reads configs and weight headers: it works where a text encoder is not installed."""
    from inpaintkit.testing.tiny import tiny_conditional_unet

    monkeypatch.setattr(inpaintkit.models.catalog, "BUILTIN_DIR", tmp_path)
    unet = tiny_conditional_unet(4)
    write_model_folder(tmp_path / "tiny-text", unet, ScheduleConfig(),
                       meta={"resolution": 32, "vae": {"hub_id": "madebyollin/taesd"},
                             "text_encoder": {"name": "not-installed"}, "training_steps": 3})
    monkeypatch.setattr(inpaintkit.models.loading, "load_folder", None)  # loading would fail
    result = run("models")
    assert result.exit_code == 0, result.stderr
    params = sum(p.numel() for p in unet.parameters())
    assert result.stdout.strip() == f"tiny-text: 32x32 latent, text-conditioned, {params:,} parameters, 3 training steps"


# -- demo and train -------------------------------------------------------------------------------------
def test_demo_writes_one_labelled_grid(tmp_path, model_dir):
    out = tmp_path / "demo.png"
    result = run("demo", "-o", out, "--model", model_dir, "--rows", 2, "--steps", 2)
    assert result.exit_code == 0, result.stderr
    from inpaintkit.app.demo import demo_methods
    from inpaintkit.models import load_model

    methods = demo_methods(load_model(model_dir))
    assert "repaint" in methods and "blended-latent" not in methods  # a pixel model
    grid = Image.open(out)
    assert (2 + len(methods) + 1) * 128 > grid.width > (2 + len(methods)) * 128 and grid.height > 2 * 128
    result = run("demo", "-o", out, "--model", model_dir)
    assert result.exit_code == 1 and "exists" in result.stderr


def test_demo_on_a_text_conditioned_latent_model(conditional_model):
    """Latent models get Blended Latent Diffusion too; a text model samples and inpaints with the prompt."""
    from inpaintkit.app.demo import demo_methods, make_demo

    methods = demo_methods(conditional_model)
    assert "blended-latent" in methods and "combine-image" in methods
    calls = conditional_model.network_calls
    grid = make_demo(conditional_model, rows=2, steps=2, cell=32, device="cpu", progress=False, prompt="a red cube")
    assert grid.width > (2 + len(methods)) * 34 and grid.height > 2 * 34
    assert conditional_model.network_calls - calls >= 2 * 2 * 2  # guidance 3: two branches per step


def test_train_resumes_from_its_checkpoint(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for i in range(4):
        rgb(20, 20, seed=i).save(data / f"{i}.png")
    args = ["train", "--data", data, "--out", tmp_path / "run", "--resolution", 16, "--crop", 0, "--architecture",
            "tiny", "--batch-size", 2, "--checkpoint-every", 1, "--device", "cpu"]
    assert run(*args, "--steps", 2).exit_code == 0
    assert json.loads((tmp_path / "run" / "model" / "inpaintkit.json").read_text())["training_steps"] == 2
    assert run(*args, "--steps", 3).exit_code == 0
    assert json.loads((tmp_path / "run" / "model" / "inpaintkit.json").read_text())["training_steps"] == 3
    result = run("train", "--data", tmp_path / "none", "--out", tmp_path / "run2")
    assert result.exit_code == 1
    assert result.stderr.strip() == f"error: training data not found: {tmp_path / 'none'}"


def test_train_prediction_type_converts_a_model_it_trains_on(tmp_path):
    """--init-from an eps-model with --prediction-type v_prediction: the exported model is a v-model, the rest
    of the schedule kept; an unknown type is refused before any training."""
    data = tmp_path / "data"
    data.mkdir()
    for i in range(4):
        rgb(20, 20, seed=i).save(data / f"{i}.png")
    common = ["--data", data, "--resolution", 16, "--crop", 0, "--architecture", "tiny", "--batch-size", 2,
              "--steps", 1, "--device", "cpu"]
    assert run("train", "--out", tmp_path / "eps", *common).exit_code == 0
    result = run("train", "--out", tmp_path / "v", *common, "--init-from", tmp_path / "eps" / "model",
                 "--prediction-type", "v_prediction")
    assert result.exit_code == 0, result.stderr
    eps_cfg, v_cfg = (json.loads((tmp_path / run_dir / "model" / "scheduler" / "scheduler_config.json").read_text())
                      for run_dir in ("eps", "v"))
    assert (eps_cfg["prediction_type"], v_cfg["prediction_type"]) == ("epsilon", "v_prediction")
    assert {k: v for k, v in v_cfg.items() if k != "prediction_type"} == \
        {k: v for k, v in eps_cfg.items() if k != "prediction_type"}
    result = run("train", "--out", tmp_path / "x", *common, "--prediction-type", "velocity")
    assert result.exit_code == 1 and "choose one of epsilon, v_prediction, sample" in result.stderr
    assert not (tmp_path / "x").exists()


def test_folder_mode_batch_size_gives_the_same_files(tmp_path, model_dir):
    """Seven images of several sizes, inpainted one at a time and four at a time: byte-identical files."""
    from inpaintkit.testing.images import smooth_pil

    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    for i, (h, w) in enumerate([(16, 16), (20, 24), (24, 20), (16, 30), (32, 32), (18, 18), (40, 16)]):
        smooth_pil(h, w, seed=i).save(tmp_path / "images" / f"{i}.png")
        box_mask(h, w).save(tmp_path / "masks" / f"{i}.png")
    outputs = {}
    for batch in (1, 4):
        out = tmp_path / f"out{batch}"
        result = run("inpaint", tmp_path / "images", tmp_path / "masks", "-o", out, "--model", model_dir,
                     "--steps", 5, "--batch-size", batch, "--threads", 1)
        assert result.exit_code == 0, result.stderr
        outputs[batch] = snapshot(out)
    assert len(outputs[1]) == 7 and outputs[1] == outputs[4]
