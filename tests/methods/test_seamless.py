"""The ``seamless`` method (Towards Seamless Borders at inference): Blended Latent Diffusion with swappable two-step
U-Net and seam-aware decoder, and the final latent blend."""
import pytest
import torch

from inpaintkit.api import Inpainter
from inpaintkit.core.errors import InpaintInputError
from inpaintkit.nets.unets import build_unet
from inpaintkit.testing.images import smooth_image, square_hole
from inpaintkit.testing.tiny import tiny_latent_model, tiny_vae


@pytest.fixture
def parts(tmp_path):
    """A two-step U-Net and a seam-aware decoder in the layout train-seamless exports (other random weights)."""
    torch.manual_seed(5)
    build_unet("tiny", 4, channels=4).save_pretrained(tmp_path / "seamless" / "unet")
    tiny_vae(7).save_pretrained(tmp_path / "seamless" / "vae")
    return tmp_path / "seamless"


def run(model, seed=3, **options):
    image, mask = smooth_image(32, seed=1), square_hole(32, size=0.5)
    return Inpainter(model, device="cpu")(image, mask, method="seamless", steps=4, seed=seed, progress=False,
                                          **options)


def test_with_no_component_swapped_it_is_blended_latent_draw_for_draw():
    model = tiny_latent_model(32)
    image, mask = smooth_image(32, seed=1), square_hole(32, size=0.5)
    blended = Inpainter(model, device="cpu")(image, mask, method="blended-latent", steps=4, seed=3, progress=False)
    assert torch.equal(run(model, two_step="none", decoder="none"), blended)


def test_each_component_changes_the_fill_and_the_model_is_restored(parts):
    model = tiny_latent_model(32)
    own = model.unet, model.autoencoder
    plain = run(model, two_step="none", decoder="none")
    two_step = run(model, two_step=str(parts / "unet"), decoder="none")
    decoder = run(model, two_step="none", decoder=str(parts / "vae"))
    both = run(model, two_step=str(parts / "unet"), decoder=str(parts / "vae"))
    hole = square_hole(32, size=0.5).bool().expand_as(plain)
    for out in (two_step, decoder, both):
        assert not torch.equal(out[hole], plain[hole])
        assert torch.equal(out[~hole], plain[~hole])  # known pixels exact (pasted back)
    assert (model.unet, model.autoencoder) == own
    assert torch.equal(both, run(model, two_step=str(parts / "unet"), decoder=str(parts / "vae")))  # seeded


def test_shipped_components_are_read_from_the_model_folder(parts):
    model = tiny_latent_model(32)
    model.folder = parts.parent
    assert torch.equal(run(model), run(model, two_step=str(parts / "unet"), decoder=str(parts / "vae")))
    model.folder = parts.parent / "elsewhere"
    with pytest.raises(InpaintInputError, match="train-seamless --stage two-step"):
        run(model)
    with pytest.raises(InpaintInputError, match="train-seamless --stage decoder"):
        run(model, two_step="none")


def test_the_model_is_restored_after_an_exception(parts):
    model = tiny_latent_model(32)
    own = model.unet, model.autoencoder

    def interrupt(info):
        assert model.unet is not own[0] and model.autoencoder is not own[1]  # swapped during the run
        raise KeyboardInterrupt

    image, mask = smooth_image(32, seed=1), square_hole(32, size=0.5)
    with pytest.raises(KeyboardInterrupt):
        Inpainter(model, device="cpu")(image, mask, method="seamless", steps=4, progress=False, callback=interrupt,
                                       two_step=str(parts / "unet"), decoder=str(parts / "vae"))
    assert (model.unet, model.autoencoder) == own


def test_the_final_blend_puts_the_known_latents_into_what_is_decoded(monkeypatch):
    model = tiny_latent_model(32)
    decoded = []
    decode = model.autoencoder.decode
    monkeypatch.setattr(model.autoencoder, "decode", lambda z, **kw: decoded.append(z) or decode(z, **kw))
    image, mask = smooth_image(32, seed=1), square_hole(32, size=0.5)
    known = model.encode(image * (1 - mask))  # the hole greyed
    keep = (torch.nn.functional.adaptive_max_pool2d(mask, (4, 4)) == 0).expand_as(known)
    for final_blend in (True, False):
        run(model, two_step="none", decoder="none", final_blend=final_blend)
        assert torch.allclose(decoded[-1][keep], known[keep], atol=1e-5) == final_blend
