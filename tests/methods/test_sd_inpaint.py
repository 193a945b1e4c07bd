"""sd-inpaint on a tiny Stable Diffusion inpainting folder (a 9-channel U-Net), and the refusals both ways."""
import pytest
import torch

from inpaintkit.api import Inpainter
from inpaintkit.core.errors import InpaintInputError
from inpaintkit.models import load_model
from inpaintkit.testing.images import smooth_image, square_hole
from inpaintkit.testing.tiny import save_tiny_sd_folder


@pytest.fixture(scope="module")
def inpainting_folder(tmp_path_factory):
    return save_tiny_sd_folder(tmp_path_factory.mktemp("sd-inpaint"), inpainting=True)


def test_an_inpainting_unet_inpaints_with_sd_inpaint(inpainting_folder):
    model = load_model(inpainting_folder)
    assert model.is_inpainting_unet and model.channels == 4 and model.latent_shape(1) == (1, 4, 4, 4)
    inpainter = Inpainter(model, threads=None)
    image, mask = smooth_image(40, seed=1)[0], square_hole(40, size=0.4)[0]
    out = inpainter(image, mask, method="sd-inpaint", prompt="a red door", guidance_scale=3.0, steps=4, seed=2,
                    progress=False)
    keep = (mask == 0).expand(3, -1, -1)
    assert out.shape == (1, 3, 40, 40) and torch.equal(out[0][keep], image[keep])
    assert not torch.equal(out[0][~keep], image[~keep])
    calls = model.network_calls
    again = inpainter(image, mask, method="sd-inpaint", prompt="a red door", guidance_scale=3.0, steps=4, seed=2,
                      progress=False)
    assert torch.equal(again, out) and model.network_calls - calls == 2 * 4  # CFG: two branches per step


def test_training_free_methods_refuse_an_inpainting_unet_and_back(inpainting_folder, conditional_model):
    inpainter = Inpainter(load_model(inpainting_folder), threads=None)
    image, mask = smooth_image(32)[0], square_hole(32)[0]
    for method in ("combine-noisy", "repaint", "blended-latent"):
        with pytest.raises(InpaintInputError, match="inpainting U-Net"):
            inpainter(image, mask, method=method, steps=2, progress=False)
    with pytest.raises(InpaintInputError, match="needs an inpainting U-Net"):
        Inpainter(conditional_model, threads=None)(image, mask, method="sd-inpaint", steps=2, progress=False)
