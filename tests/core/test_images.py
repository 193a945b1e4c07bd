"""The one image reader: bit depths, modes, alpha, EXIF, array and tensor inputs, size limits."""
import numpy as np
import pytest
import torch
from PIL import Image

from inpaintkit.core.errors import InpaintInputError
from inpaintkit.core.images import load_image, load_mask, open_image, read_array, to_uint8
from inpaintkit.testing.images import hole_array, smooth_array


def test_sixteen_bit_grey_png_keeps_its_levels(tmp_path):
    grey = (np.linspace(0, 65535, 64 * 48).reshape(48, 64)).astype(np.uint16)
    Image.fromarray(grey).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode == "I;16"
    image = load_image(tmp_path / "g16.png")
    expected = grey.astype(np.float64) / 65535
    assert np.abs(image[0, 0].double().numpy() * 0.5 + 0.5 - expected).max() < 1e-6  # not clipped at 255
    assert float((image > 0.99).float().mean()) < 0.05  # the old reader made 95 % of it white


def test_a_near_black_sixteen_bit_mask_background_is_kept(tmp_path):
    mask = np.full((20, 20), 1000, np.uint16)
    mask[5:10, 5:10] = 65535
    Image.fromarray(mask).save(tmp_path / "m16.png")
    m = load_mask(tmp_path / "m16.png")
    assert m.sum() == 25 and m[0, 0, 5:10, 5:10].all()


def test_arrays_of_every_dtype():
    img = smooth_array(12, 10)
    reference = load_image(img)
    assert torch.equal(load_image(img.astype(np.uint16) * 257), reference)
    assert torch.allclose(load_image(img / 255.0), reference, atol=1e-6)
    assert torch.equal(load_image(img.astype(np.int64)), reference)
    with pytest.raises(InpaintInputError, match="0..255"):
        load_image(img.astype(np.int32) * 300)
    with pytest.raises(InpaintInputError, match=r"\[0, 1\]"):
        load_image(img * 2.0)
    with pytest.raises(InpaintInputError, match="NaN"):
        load_image(np.full((4, 4, 3), np.nan))


def test_zero_one_masks_in_any_dtype():
    m = hole_array(10, value=1)
    expected = torch.from_numpy(m.astype(np.float32))[None, None]
    for variant in (m, m.astype(bool), m.astype(np.float32), m * 255, m.astype(np.uint16) * 65535, m.astype(np.int64)):
        assert torch.equal(load_mask(variant), expected), variant.dtype


def test_alpha_channels(tmp_path):
    rgba = np.dstack([smooth_array(8), np.full((8, 8), 100, np.uint8)])
    with pytest.warns(UserWarning, match="alpha channel"):
        image = load_image(rgba)
    assert torch.equal(image, load_image(rgba[..., :3]))
    painted = np.zeros((8, 8, 4), np.uint8)  # a mask painted as opaque white on a transparent canvas
    painted[2:5, 2:5] = 255
    painted[6, 6, :3] = 255  # white but transparent: kept
    m = load_mask(painted)
    assert m.sum() == 9 and m[0, 0, 6, 6] == 0
    Image.fromarray(painted, "RGBA").save(tmp_path / "la.png")
    assert torch.equal(load_mask(tmp_path / "la.png"), m)


def test_palette_cmyk_and_bilevel_files(tmp_path):
    img = Image.fromarray(smooth_array(16))
    img.convert("P").save(tmp_path / "p.png")
    img.convert("CMYK").save(tmp_path / "c.jpg")
    Image.fromarray(hole_array(16) > 0).save(tmp_path / "bits.png")
    assert load_image(tmp_path / "p.png").shape == (1, 3, 16, 16)
    assert load_image(tmp_path / "c.jpg").shape == (1, 3, 16, 16)
    assert torch.equal(load_mask(tmp_path / "bits.png"), load_mask(hole_array(16)))


def test_exif_orientation_is_applied(tmp_path):
    img = Image.fromarray(smooth_array(10, 20))  # 20 wide, 10 high
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    img.save(tmp_path / "rotated.jpg", exif=exif)
    assert load_image(tmp_path / "rotated.jpg").shape == (1, 3, 20, 10)


def test_tensors_round_trip():
    x = load_image(smooth_array(6, 7))
    assert load_image(x) is not x and torch.equal(load_image(x), x)
    assert torch.equal(load_image(x[0]), x)
    assert np.array_equal(to_uint8(x), smooth_array(6, 7))
    with pytest.raises(InpaintInputError, match=r"\[-1, 1\]"):
        load_image(x * 3)
    with pytest.raises(InpaintInputError, match="batch"):
        read_array(torch.zeros(2, 3, 4, 4))


def test_an_oversized_header_is_refused_before_decoding(tmp_path):
    Image.new("L", (300, 300)).save(tmp_path / "big.png")
    with pytest.raises(InpaintInputError, match="pixels, more than the 10,000"):
        open_image(tmp_path / "big.png", max_pixels=10_000)


def test_unreadable_and_missing_files(tmp_path):
    (tmp_path / "junk.png").write_text("no image")
    with pytest.raises(InpaintInputError, match="not a readable image"):
        load_image(tmp_path / "junk.png")
    with pytest.raises(InpaintInputError, match="mask not found"):
        load_mask(tmp_path / "nope.png")
