"""``inpaintkit.inpaint``: every input type, any image size, feathering, seeding, empty masks; ``sample``."""
import cv2
import numpy as np
import pytest
import torch
from PIL import Image

import inpaintkit
from inpaintkit.core.errors import InpaintInputError
from inpaintkit.methods import METHODS
from inpaintkit.sampling import sample
from inpaintkit.testing.images import hole_array, smooth_array as photo


def hole(h: int, w: int, top: int, left: int, size: int) -> np.ndarray:
    """255 on the square of side ``size`` at (top, left)."""
    return hole_array(h, w, top=top / h, left=left / w, size=size / min(h, w))


def arr(image: Image.Image) -> np.ndarray:
    return np.asarray(image).astype(int)


def run(model, image, mask, **kwargs):
    return inpaintkit.inpaint(image, mask, model=model, steps=kwargs.pop("steps", 3), progress=False, **kwargs)


def test_every_input_type_gives_the_same_result(pixel_model, tmp_path):
    img, m = photo(20, 24), hole(20, 24, 4, 6, 8)
    Image.fromarray(img).save(tmp_path / "image.png")
    Image.fromarray(m).save(tmp_path / "mask.png")
    from_path = arr(run(pixel_model, tmp_path / "image.png", str(tmp_path / "mask.png")))
    from_pil = arr(run(pixel_model, Image.fromarray(img), Image.fromarray(m)))
    from_numpy = arr(run(pixel_model, img, m))
    from_float = arr(run(pixel_model, img / 255.0, m > 0))  # float arrays in [0, 1], boolean masks
    tensor = torch.from_numpy(img).permute(2, 0, 1).float() / 127.5 - 1  # CHW in [-1, 1]
    from_torch = arr(run(pixel_model, tensor, torch.from_numpy(m / 255.0)[None].float()))
    assert np.array_equal(from_path, from_pil) and np.array_equal(from_path, from_numpy)
    known = m == 0
    for other in (from_float, from_torch):  # equal up to float rounding of the input
        assert np.array_equal(other[known], img[known])
        assert np.abs(other - from_path).max() <= 1
    assert np.abs(from_path[~known] - img[~known]).mean() > 5


@pytest.mark.parametrize("size", [(40, 56), (56, 40), (15, 30)])
def test_any_image_size_keeps_known_pixels_exactly(pixel_model, size):
    h, w = size
    img, m = photo(h, w), hole(h, w, h // 3, w // 2, min(h, w) // 3)
    out = arr(run(pixel_model, img, m))
    assert out.shape == img.shape
    assert np.array_equal(out[m == 0], img[m == 0])
    assert (out[m > 0] != img[m > 0]).any(-1).mean() > 0.5


def test_feather_blends_only_within_its_band(pixel_model):
    img, m = photo(40, 48), hole(40, 48, 10, 14, 12)
    feather = 3
    sharp = arr(run(pixel_model, img, m, seed=5))
    soft = arr(run(pixel_model, img, m, seed=5, feather=feather))
    distance = cv2.distanceTransform((m == 0).astype(np.uint8), cv2.DIST_L2, 5)  # to the hole
    changed = (soft != img).any(-1)
    assert not changed[distance >= feather + 1].any()
    band = (distance > 0) & (distance < feather + 1)
    assert changed[band].mean() > 0.5  # the band is blended ...
    assert np.array_equal(soft[m > 0], sharp[m > 0])  # ... and the hole itself is the same fill


def test_seed_decides_the_result(pixel_model):
    img, m = photo(16, 16), hole(16, 16, 4, 4, 8)
    a, b, c = (arr(run(pixel_model, img, m, seed=s)) for s in (1, 1, 2))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    samples = run(pixel_model, img, m, seed=1, num_samples=2)
    assert len(samples) == 2 and not np.array_equal(arr(samples[0]), arr(samples[1]))


def test_empty_mask_returns_the_input_with_a_warning(pixel_model):
    img = photo(16, 20)
    with pytest.warns(UserWarning, match="no pixel to fill"):
        out = run(pixel_model, img, np.zeros((16, 20), np.uint8))
    assert np.array_equal(arr(out), img)


def test_mask_of_another_size_needs_resize_mask(pixel_model):
    img, m = photo(20, 24), hole(10, 12, 2, 3, 5)
    with pytest.raises(InpaintInputError, match="resize-mask"):
        run(pixel_model, img, m)
    assert arr(run(pixel_model, img, m, resize_mask=True)).shape == img.shape


@pytest.mark.skipif("opencv-telea" not in METHODS, reason="opencv-telea not registered")
def test_classical_methods_need_no_model():
    img, m = photo(20, 24), hole(20, 24, 4, 6, 8)
    out = arr(inpaintkit.inpaint(img, m, method="opencv-telea", model="no-such-model"))
    assert np.array_equal(out[m == 0], img[m == 0]) and (out[m > 0] != img[m > 0]).any()


def test_sample_draws_seeded_images(pixel_model):
    def draw(seed):
        return sample(pixel_model, 2, 3, torch.Generator().manual_seed(seed), show_progress=False)

    x = draw(0)
    assert x.shape == (2, 3, 16, 16) and x.abs().max() <= 1
    assert torch.equal(x, draw(0)) and not torch.equal(x, draw(1))
    assert not torch.equal(x[0], x[1])


def test_sixteen_bit_and_zero_one_arrays(pixel_model):
    """uint16 images are scaled by 65535 (not clipped), and a 0/1 uint8 mask is a mask, not an empty one."""
    img, m = photo(16, 20), hole(16, 20, 4, 5, 6)
    from_uint8 = arr(run(pixel_model, img, m))
    assert np.array_equal(arr(run(pixel_model, img.astype(np.uint16) * 257, m)), from_uint8)
    assert np.array_equal(arr(run(pixel_model, img, (m > 0).astype(np.uint8))), from_uint8)


@pytest.mark.parametrize("option, value", [("guidance_scale", float("nan")), ("eta", float("inf")), ("steps", 0),
                                           ("guidance_scale", 1e9)])
def test_bad_option_values_fail_before_the_model_loads(option, value):
    img, m = photo(16, 16), hole(16, 16, 4, 4, 6)
    with pytest.raises(InpaintInputError, match=option):
        inpaintkit.inpaint(img, m, model="no-such-model", progress=False, **{option: value})


def test_a_list_of_images_is_inpainted_in_batches_as_each_alone(pixel_model):
    sizes = [(16, 20), (24, 16), (16, 16), (30, 22), (16, 18)]
    images = [photo(h, w, seed=i) for i, (h, w) in enumerate(sizes)]
    masks = [hole(h, w, 3, 4, 7) for h, w in sizes]
    alone = [arr(run(pixel_model, i, m, seed=5)) for i, m in zip(images, masks)]
    for batch_size in (1, 2, 8):
        together = inpaintkit.inpaint(images, masks, model=pixel_model, seed=5, steps=3, progress=False,
                                      batch_size=batch_size)
        assert all(np.abs(arr(t) - a).max() <= 1 for t, a in zip(together, alone))  # floats: last-bit rounding
        assert all(np.array_equal(arr(t)[m == 0], i[m == 0]) for t, i, m in zip(together, images, masks))


def test_threads_argument(pixel_model):
    before = torch.get_num_threads()
    try:
        inpaintkit.Inpainter(pixel_model, threads=1)
        assert torch.get_num_threads() == 1
        with pytest.raises(InpaintInputError, match="threads"):
            inpaintkit.Inpainter(pixel_model, threads=0)
    finally:
        torch.set_num_threads(before)


def test_outpainting_keeps_the_original_and_grows_the_canvas(pixel_model):
    img = photo(20, 16)
    out = arr(inpaintkit.outpaint(img, left=6, right=2, top=0, bottom=5, model=pixel_model, steps=3, progress=False))
    assert out.shape == (25, 24, 3)
    assert np.array_equal(out[0:20, 6:22], img)  # the original, bit for bit
    assert out[:, :6].std() > 0 and out[20:].std() > 0  # the borders were filled
    centred = arr(inpaintkit.outpaint(img, to=(32, 30), model=pixel_model, steps=3, progress=False))
    assert centred.shape == (30, 32, 3) and np.array_equal(centred[5:25, 8:24], img)
    for bad in (dict(left=-1), dict(), dict(to=(10, 10)), dict(left=2, to=(40, 40)), dict(top=1.5)):
        with pytest.raises(InpaintInputError):
            inpaintkit.outpaint(img, model=pixel_model, steps=2, progress=False, **bad)


def test_outpainting_from_the_command_line(pixel_model, tmp_path):
    from PIL import Image
    from typer.testing import CliRunner

    from inpaintkit.app.cli import app

    pixel_model.unet.save_pretrained(tmp_path / "model")
    Image.fromarray(photo(20, 16)).save(tmp_path / "in.png")
    run_cli = lambda *a: CliRunner().invoke(app, ["outpaint", str(tmp_path / "in.png"), "--model",  # noqa: E731
                                                  str(tmp_path / "model"), "--steps", "2", *map(str, a)])
    ok = run_cli("-o", tmp_path / "out.png", "--to", "24x28")
    assert ok.exit_code == 0, ok.output
    out = np.asarray(Image.open(tmp_path / "out.png"))
    assert out.shape == (28, 24, 3) and np.array_equal(out[4:24, 4:20], photo(20, 16))
    for args in (["--to", "8x8"], ["--to", "big"], ["--left", "2", "--to", "30x30"], []):
        bad = run_cli("-o", tmp_path / "bad.png", *args)
        assert bad.exit_code == 1 and "error:" in bad.output and not (tmp_path / "bad.png").exists()
