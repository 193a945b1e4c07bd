"""A small image classifier (a pre-activation ResNet, He et al. 2016, three stages, GroupNorm: no running
statistics, so the training loop's EMA of the weights is the whole model): the project's stand-in for
CLIP-T offline. Trained by the project on CIFAR-10 (``inpaintkit train-classifier``), it measures whether an
inpainted image shows the prompted class (the bench's prompt accuracy); it never is the diffusion model."""
from __future__ import annotations

import torch
from torch import nn


class Block(nn.Module):
    """GN-ReLU-conv3x3 twice, with a 1x1 projection on the skip when the width or the stride changes."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(8, cin), nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.norm2, self.conv2 = nn.GroupNorm(8, cout), nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.skip = nn.Identity() if cin == cout and stride == 1 else nn.Conv2d(cin, cout, 1, stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(torch.relu(self.norm1(x)))
        return self.skip(x) + self.conv2(torch.relu(self.norm2(h)))


class Classifier(nn.Module):
    """Images in [-1, 1] (B, 3, H, W) -> class logits (B, classes); widths w, 2w, 4w over three stages."""

    def __init__(self, classes: int = 10, width: int = 32, blocks: int = 2):
        super().__init__()
        self.config = {"classes": classes, "width": width, "blocks": blocks}
        layers: list[nn.Module] = [nn.Conv2d(3, width, 3, 1, 1, bias=False)]
        cin = width
        for stage, cout in enumerate((width, 2 * width, 4 * width)):
            for b in range(blocks):
                layers.append(Block(cin, cout, 2 if stage and b == 0 else 1))
                cin = cout
        self.features = nn.Sequential(*layers, nn.GroupNorm(8, cin), nn.ReLU())
        self.head = nn.Linear(cin, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean((2, 3)))
