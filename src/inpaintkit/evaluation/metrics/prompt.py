"""Prompt accuracy, the stand-in for CLIP-T offline: the probability that the project's classifier
(:mod:`inpaintkit.nets.classifier`, trained by ``inpaintkit train-classifier``) gives the prompted class on an
inpainted image. A classifier trained apart from the diffusion model, never the model itself."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from ...core.errors import ModelNotFoundError
from ...models.catalog import shipped_folder
from ...nets.classifier import Classifier


class PromptAccuracy:
    """``PromptAccuracy(folder)(images, prompts)`` -> (B,) probabilities of each image's prompted class; a prompt
    names its class as the classifier's class names do ("a photo of a horse" -> horse)."""

    def __init__(self, folder: str | Path, device: str | torch.device = "cpu"):
        folder = shipped_folder(folder)  # a folder train-classifier wrote, or the shipped "cifar10-classifier"
        if not (folder / "classifier.json").is_file():
            raise ModelNotFoundError(f"{folder}: no classifier.json (a folder inpaintkit train-classifier writes)")
        self.info = json.loads((folder / "classifier.json").read_text())
        self.classes = list(self.info["class_names"])
        self.net = Classifier(self.info["classes"], self.info["width"], self.info["blocks"])
        self.net.load_state_dict({k: v.float() for k, v in load_file(folder / "model.safetensors").items()})
        self.net.to(device).eval()
        self.resolution = self.info["resolution"]

    def class_of(self, prompt: str) -> int:
        """The class a prompt names: the class name it contains (the longest, so that "truck" beats "car")."""
        found = [c for c in self.classes if c.lower() in prompt.lower()]
        if not found:
            raise ValueError(f"prompt {prompt!r} names none of the classifier's classes ({', '.join(self.classes)})")
        return self.classes.index(max(found, key=len))

    @torch.no_grad()
    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """(B, classes) class probabilities of images in [-1, 1], resized to the classifier's resolution."""
        x = images.float()
        if x.shape[-1] != self.resolution:
            x = F.interpolate(x, size=(self.resolution, self.resolution), mode="bilinear", antialias=True,
                              align_corners=False)
        return self.net(x.to(next(self.net.parameters()).device)).softmax(-1).cpu()

    def __call__(self, images: torch.Tensor, prompts: list[str]) -> np.ndarray:
        probs = self.probabilities(images)
        return probs[torch.arange(len(prompts)), [self.class_of(p) for p in prompts]].numpy()
