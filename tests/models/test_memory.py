"""Memory options: per-component dtypes, VAE tiling (within a tolerance) and slicing, CPU offload (exact)."""
import pytest
import torch

from inpaintkit.api import Inpainter
from inpaintkit.core.errors import InpaintInputError
from inpaintkit.models.memory import MemoryOptions, apply_memory_options
from inpaintkit.testing.images import smooth_image, square_hole
from inpaintkit.testing.tiny import tiny_conditional_model, tiny_latent_model, tiny_pixel_model

TILING_TOLERANCE = 0.05  # the mean pixel difference tiling may make (in [-1, 1]): the tiles' seams


def run(model, **memory):
    inpainter = Inpainter(model, threads=None, memory=MemoryOptions(**memory))
    image, mask = smooth_image(128, seed=3), square_hole(128, size=0.6)
    return inpainter(image, mask, method="combine-noisy", steps=4, seed=1, progress=False)


def test_cpu_offload_is_exact():
    assert torch.equal(run(tiny_conditional_model(32), cpu_offload=True), run(tiny_conditional_model(32)))


def test_vae_slicing_is_exact_and_tiling_is_close():
    reference = run(tiny_latent_model(128))
    assert torch.allclose(run(tiny_latent_model(128), vae_slicing=True), reference, atol=1e-6)
    model = tiny_latent_model(128)
    vae = model.autoencoder.vae  # 4 tiles; an overlap of 1/4 so that diffusers' encoder blend ramp is not 0/0
    vae.tile_sample_min_size, vae.tile_latent_min_size, vae.tile_overlap_factor = 64, 8, 0.25
    tiled = run(model, vae_tiling=True)
    difference = (tiled - reference).abs()
    assert difference.max() > 0 and difference.mean() < TILING_TOLERANCE


def test_component_dtypes_and_bad_values():
    model = tiny_conditional_model(32)
    apply_memory_options(model, MemoryOptions(unet_dtype="bf16", vae_dtype="bf16", text_dtype="bf16",
                                              channels_last=True), torch.device("cpu"))
    assert model.unet.dtype == torch.bfloat16 and model.autoencoder.dtype == torch.bfloat16
    assert next(model.text_encoder.parameters()).dtype == torch.bfloat16
    assert run(model).dtype == torch.float32
    with pytest.raises(InpaintInputError, match="dtype"):
        apply_memory_options(tiny_pixel_model(16), MemoryOptions(unet_dtype="fp8"), torch.device("cpu"))
    with pytest.raises(InpaintInputError, match="autoencoder"):
        apply_memory_options(tiny_pixel_model(16), MemoryOptions(vae_tiling=True), torch.device("cpu"))


def test_memory_words():
    assert MemoryOptions.parse(["cpu-offload", "vae=fp16", "unet = bf16", "vae-tiling"]) == MemoryOptions(
        unet_dtype="bf16", vae_dtype="fp16", vae_tiling=True, cpu_offload=True)
    assert MemoryOptions.parse([]) == MemoryOptions()
    for bad in (["tiling"], ["cpu-offload=yes"], ["text=fp8"], ["decoder=fp16"]):
        with pytest.raises(InpaintInputError):
            MemoryOptions.parse(bad)
