"""Shared fixtures: tiny random-weight models of every kind (see :mod:`inpaintkit.testing.tiny`)."""
import os

import pytest
import torch

from inpaintkit.testing.tiny import save_tiny_sd_folder, tiny_conditional_model, tiny_latent_model, tiny_pixel_model

if "OMP_NUM_THREADS" not in os.environ:  # an explicit thread count wins
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture
def pixel_model():
    """A 16 px ``UNet2DModel`` (eps-prediction, clipped x0)."""
    return tiny_pixel_model(16)


@pytest.fixture
def latent_model():
    """A 32 px latent model: 4x4x4 latents of a tiny ``AutoencoderTiny``."""
    return tiny_latent_model(32)


@pytest.fixture
def conditional_model():
    """A 32 px text-conditioned latent model (cross-attention U-Net + tiny CLIP text encoder)."""
    return tiny_conditional_model(32)


@pytest.fixture(scope="session")
def sd_folder(tmp_path_factory):
    """:func:`conditional_model` saved as a Stable Diffusion pipeline folder."""
    return save_tiny_sd_folder(tmp_path_factory.mktemp("tiny-sd"))
