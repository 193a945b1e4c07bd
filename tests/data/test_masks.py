"""Mask generators: seeded, binary, the right shapes and hole ratios; the utilities."""
import numpy as np
import pytest
import torch

from inpaintkit.core.env import find_local
from inpaintkit.core.errors import InpaintInputError
from inpaintkit.core.geometry import dilate, erode, feather, hole_ratio
from inpaintkit.core.images import resize_mask
from inpaintkit.data.masks import (LAMA_SETTINGS, MASK_SETS, box_mask, check_mask_set, expand_mask, half_mask,
                                   lama_mask, lines_mask, mask_from_name, random_pixels_mask)

HAS_NVIDIA_MASKS = find_local("data", "masks/nvidia-irregular") is not None


@pytest.mark.parametrize("name", [n for n in MASK_SETS if not n.startswith("nvidia")])
def test_every_set_is_seeded_and_binary(name):
    a, b = mask_from_name(name, (24, 40), seed=3), mask_from_name(name, (24, 40), seed=3)
    assert a.shape == (1, 1, 24, 40) and torch.equal(a, b)
    assert set(a.unique().tolist()) <= {0.0, 1.0} and 0 < hole_ratio(a) < 1


def test_random_sets_change_with_the_seed():
    for name in ("thin", "medium", "thick", "box-random", "pixels-80"):
        assert not torch.equal(mask_from_name(name, 64, 0), mask_from_name(name, 64, 1))


# Hole-ratio mean and spread of 1,000 masks at 256x256 from LaMa's own generator code run with its
# configs (a reference run of advimman/lama's logic, see docs/evaluation.md).
LAMA_REFERENCE = {"thin": (0.288, 0.130), "medium": (0.241, 0.130), "thick": (0.271, 0.127)}


@pytest.mark.parametrize("kind", list(LAMA_SETTINGS))
def test_lama_hole_ratios_match_lamas_generator(kind):
    n = 60
    ratios = np.array([hole_ratio(lama_mask(kind, 256, np.random.default_rng(i))) for i in range(n)])
    mean, std = LAMA_REFERENCE[kind]
    assert abs(ratios.mean() - mean) < 4 * std / np.sqrt(n)  # within 4 standard errors
    assert ratios.max() <= 0.5  # LaMa's max_tamper_area
    assert 0.5 * std < ratios.std() < 1.5 * std


def test_lama_masks_scale_to_other_sizes():
    big = lama_mask("thick", 256, np.random.default_rng(7))
    small = lama_mask("thick", 32, np.random.default_rng(7))  # the same draw, resized
    assert torch.equal(small, resize_mask(big, 32))
    wide = lama_mask("medium", (64, 128), np.random.default_rng(0))
    assert wide.shape == (1, 1, 64, 128)


def test_geometric_masks():
    assert hole_ratio(box_mask(32, 0.5)) == 0.25
    centre = box_mask(32, 0.5)[0, 0]
    assert centre[8:24, 8:24].all() and centre.sum() == 256
    assert half_mask(10, "left")[0, 0, :, :5].all() and half_mask(10, "left")[0, 0, :, 5:].sum() == 0
    assert half_mask(10, "bottom")[0, 0, 5:].all() and half_mask(10, "bottom")[0, 0, :5].sum() == 0
    e = expand_mask(16, 0.25)[0, 0]
    assert e[4:12, 4:12].sum() == 0 and e.sum() == 256 - 64
    lines = lines_mask(8)[0, 0]
    assert lines[1::2].all() and lines[0::2].sum() == 0
    pixels = random_pixels_mask(256, 0.8, np.random.default_rng(0))
    assert abs(hole_ratio(pixels) - 0.8) < 0.01
    assert abs(hole_ratio(mask_from_name("pixels-30", 256, 0)) - 0.3) < 0.01
    with pytest.raises(ValueError, match="unknown mask set"):
        mask_from_name("pixels-100", 8, 0)


def test_dilate_erode_feather():
    m = box_mask(16, 0.25)  # a 4x4 box
    assert dilate(m, 1).sum() == 36 and erode(m, 1).sum() == 4
    assert torch.equal(erode(dilate(m, 2), 2), m)
    a = feather(m, 3)
    assert torch.equal(a[m > 0], torch.ones(16)) and (a[dilate(m, 3) == 0] == 0).all()
    assert ((a > 0) & (a < 1)).any()


def test_resize_mask_threshold():
    m = torch.zeros(1, 1, 4, 4)
    m[..., :2, :1] = 1  # half of the top-left 2x2 block
    assert resize_mask(m, 2)[0, 0, 0, 0] == 1  # covered fraction 0.5 >= 0.5
    assert resize_mask(m, 2, threshold=0.6)[0, 0, 0, 0] == 0
    assert torch.equal(resize_mask(resize_mask(m, 8), 4), m)


@pytest.mark.data
@pytest.mark.skipif(not HAS_NVIDIA_MASKS, reason="needs shared/data/masks/nvidia-irregular")
def test_nvidia_masks_fall_in_their_bin():
    for b, name in enumerate(["nvidia-00-10", "nvidia-30-40", "nvidia-50-60"]):
        for seed in range(3):
            m = mask_from_name(name, 512, seed)
            lo = int(name.split("-")[1]) / 100
            assert lo <= hole_ratio(m) < lo + 0.1
    small = mask_from_name("nvidia-20-30", 64, 0)
    assert small.shape == (1, 1, 64, 64) and 0.15 < hole_ratio(small) < 0.35


def test_unknown_mask_sets_are_refused_by_name():
    for name in ("thikc", "pixels-0", "pixels-100", "half-middle"):
        with pytest.raises(InpaintInputError, match="unknown mask set"):
            check_mask_set(name)
    check_mask_set("pixels-55")
