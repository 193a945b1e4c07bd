"""The inpainting problem as a method sees it: one batch at the model's resolution, the forward operator,
seeded noise, and what a method reports along its trajectory.

Every method is a function ``fn(model, task, options, callback) -> images`` (:mod:`inpaintkit.methods`);
classical ones get ``model=None`` and a pixel-space task.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
from tqdm.auto import tqdm

from ..core.geometry import latent_mask
from ..models.denoiser import Conditioning, DiffusionModel


@dataclass
class StepInfo:
    """What a callback sees at step ``i``: the timestep ``t``, the current sample ``x_t`` and the x0
    estimate the method steps towards (both in the model's space); ``extra`` holds method-specific
    fields (a loss, an optimisation step)."""

    i: int
    t: int
    x_t: torch.Tensor
    x0: torch.Tensor
    extra: dict = field(default_factory=dict)


Callback = Callable[[StepInfo], None]


@dataclass
class Task:
    """One batch to inpaint, in the notation of the papers' algorithm boxes.

    - ``image``: I, pixels (B, 3, H, W) in [-1, 1] with the hole grey (0): nothing under the mask can
      reach a method;
    - ``mask``: M, pixels (B, 1, H, W), **1 = the region to fill**;
    - ``known``: the observed image in the model's space, E(I) for latent models (I itself for pixel models);
    - ``mask_z``: M in the model's space: max-pooled to the latent grid, so that a latent cell touching the
      hole is regenerated (M itself for pixel models);
    - ``generator``: one for the batch, or one per sample, so that each image of a batch gets the noise it
      would get alone; ``cond``: prompt embeddings for text-conditioned models;
    - ``progress``: a progress bar (True), none (False), or a function called with (step, of, phase) at
      every step of every loop (a server's progress events; it may raise to cancel the run).

    The forward operator is A(x) = (1 - M) x: what is observed of an image (:meth:`observe`); the data
    terms of DPS, GradPaint, VIPaint and PILOT are built from :meth:`residual` / :meth:`residual_z`.
    """

    image: torch.Tensor
    mask: torch.Tensor
    known: torch.Tensor
    mask_z: torch.Tensor
    generator: torch.Generator | list[torch.Generator]
    cond: Conditioning | None = None
    progress: bool | Callable[[int, int, str], None] = True

    @classmethod
    def create(cls, model: DiffusionModel | None, image: torch.Tensor, mask: torch.Tensor,
               generator: torch.Generator | list[torch.Generator], cond: Conditioning | None = None,
               progress: bool | Callable[[int, int, str], None] = True) -> "Task":
        """The task of inpainting ``image`` where ``mask`` is 1, in the space of ``model`` (pixels when None)."""
        device = model.device if model is not None else image.device
        mask = mask.to(device)
        image = image.to(device) * (1 - mask)
        if model is None or model.autoencoder is None:
            return cls(image, mask, image, mask, generator, cond, progress)
        with torch.no_grad():
            known = model.encode(image)
        return cls(image, mask, known, latent_mask(mask, known.shape[-2:]), generator, cond, progress)

    @property
    def batch_size(self) -> int:
        return self.image.shape[0]

    # -- the forward operator ----------------------------------------------------------------
    def observe(self, x: torch.Tensor) -> torch.Tensor:
        """A(x) = (1 - M) x: the known pixels of an image."""
        return (1 - self.mask) * x

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        """A(x) - A(I): how far an image's known pixels are from the observation."""
        return self.observe(x - self.image)

    def residual_z(self, z: torch.Tensor) -> torch.Tensor:
        """The same in the model's space: (1 - M_z)(z - E(I))."""
        return (1 - self.mask_z) * (z - self.known)

    def collage(self, x0: torch.Tensor) -> torch.Tensor:
        """M_z x0 + (1 - M_z) E(I) in the model's space (GradPaint Eq. 3)."""
        return self.mask_z * x0 + (1 - self.mask_z) * self.known

    # -- noise -------------------------------------------------------------------------------
    def randn(self, like: torch.Tensor) -> torch.Tensor:
        """Standard normal noise from the task's generator (drawn on the CPU: same seed, same noise
        on every device)."""
        if isinstance(self.generator, list):
            noise = torch.stack([torch.randn(like.shape[1:], generator=g, dtype=torch.float32) for g in self.generator])
        else:
            noise = torch.randn(like.shape, generator=self.generator, dtype=torch.float32)
        return noise.to(like.device, like.dtype)

    def initial_noise(self) -> torch.Tensor:
        """x_T ~ N(0, I) in the model's space."""
        return self.randn(self.known)


def progress(steps, task: Task, desc: str):
    """``steps`` with a progress bar, unless the task runs quietly, or reported to the task's progress function."""
    if callable(task.progress):
        return _reported(list(steps), task.progress, desc)
    return tqdm(steps, desc=desc, disable=not task.progress, leave=False)


def _reported(steps: list, report: Callable[[int, int, str], None], desc: str):
    for i, step in enumerate(steps):
        report(i, len(steps), desc)
        yield step
    report(len(steps), len(steps), desc)
