"""Per-image metrics on pixels: PSNR and SSIM (whole image and hole only), Color Distance, and how far
the known region moved. Every function takes batches, images (B, 3, H, W) in [-1, 1] and masks
(B, 1, H, W) with 1 = hole, and returns one value per image as a float64 numpy array.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03


def _unit(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1] in float64."""
    return (x.double() + 1) / 2


def _masked_mean(values: torch.Tensor, weight: torch.Tensor) -> np.ndarray:
    """Per-image mean of ``values`` (B, C, H, W) over the pixels where ``weight`` (B, 1, H, W) is 1."""
    w = weight.double().expand_as(values)
    return (values * w).sum((1, 2, 3)).div(w.sum((1, 2, 3))).numpy()


def psnr(x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None = None) -> np.ndarray:
    """10 log10(1 / MSE) with pixels in [0, 1], the MSE over all pixels and channels, or over the hole
    pixels only when ``mask`` is given; inf for identical images."""
    se = (_unit(x) - _unit(y)) ** 2
    mse = _masked_mean(se, torch.ones_like(x[:, :1]) if mask is None else mask)
    with np.errstate(divide="ignore"):
        return 10 * np.log10(1 / mse)


def _gaussian_blur(x: torch.Tensor) -> torch.Tensor:
    r = SSIM_WINDOW // 2
    g = torch.exp(-torch.arange(-r, r + 1, dtype=torch.float64) ** 2 / (2 * SSIM_SIGMA ** 2))
    g = (g / g.sum()).to(x)
    c = x.shape[1]
    x = F.pad(x, (r, r, r, r), mode="reflect")
    x = F.conv2d(x, g.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(x, g.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def ssim_map(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """SSIM (Wang et al. 2004, Eq. 13) at every pixel and channel: Gaussian window (11 taps, sigma 1.5),
    K1 = 0.01, K2 = 0.03, data range 1, reflect padding at the border (images of at least 6 px)."""
    a, b = _unit(x), _unit(y)
    c1, c2 = SSIM_K1 ** 2, SSIM_K2 ** 2
    mu_a, mu_b = _gaussian_blur(a), _gaussian_blur(b)
    var_a = _gaussian_blur(a * a) - mu_a ** 2
    var_b = _gaussian_blur(b * b) - mu_b ** 2
    cov = _gaussian_blur(a * b) - mu_a * mu_b
    return ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))


def ssim(x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None = None) -> np.ndarray:
    """Mean of :func:`ssim_map` over all pixels and channels, or over the hole pixels when ``mask`` is given."""
    s = ssim_map(x, y)
    return _masked_mean(s, torch.ones_like(x[:, :1]) if mask is None else mask)


def color_distance(image: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
    """Color Distance (CD) of the Seamless Borders paper (§4, "Evaluation metrics"): "the L2 distance
    of RGB values between pixels along the mask boundary and their neighboring pixels".

    Exactly: over every pair (p, q) of 4-neighbours (horizontal or vertical) with p in the hole and
    q outside it, CD = mean ||I(p) - I(q)||_2 with I the RGB values in 0..255. Lower is a smoother
    seam; 0 for a constant image, 255 * sqrt(3) for black/white across the seam. NaN for a mask with
    no boundary (empty or full).
    """
    rgb = _unit(image) * 255
    m = mask.double() > 0.5
    total = torch.zeros(image.shape[0], dtype=torch.float64)
    pairs = torch.zeros(image.shape[0], dtype=torch.float64)
    for dim in (2, 3):  # vertical then horizontal neighbours
        n = rgb.shape[dim] - 1
        a, b = rgb.narrow(dim, 0, n), rgb.narrow(dim, 1, n)
        crosses = (m.narrow(dim, 0, n) != m.narrow(dim, 1, n)).double()[:, 0]
        dist = (a - b).pow(2).sum(1).sqrt()
        total += (dist * crosses).sum((1, 2))
        pairs += crosses.sum((1, 2))
    with np.errstate(invalid="ignore"):
        return (total / pairs).numpy()


def known_region_change(output: torch.Tensor, reference: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
    """How far the pixels outside the hole moved: mean |output - reference| in 0..255 over the known
    pixels and channels (0 when the known region is preserved exactly)."""
    diff = (_unit(output) - _unit(reference)).abs() * 255
    return _masked_mean(diff, 1 - mask)
