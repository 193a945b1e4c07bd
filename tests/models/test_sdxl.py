"""SDXL's layout: two text encoders, the pooled text embedding and the size/crop ids, checked against diffusers'
own StableDiffusionXLPipeline; every latent method and sd-inpaint on tiny SDXL folders."""
import pytest
import torch

from inpaintkit.api import Inpainter
from inpaintkit.methods import METHODS, describe_options
from inpaintkit.models import load_model
from inpaintkit.models.hub import read_json
from inpaintkit.models.text import SDXLPromptEncoder, unpack_pooled
from inpaintkit.testing.images import smooth_image, square_hole
from inpaintkit.testing.tiny import POOLED_DIM, save_tiny_sdxl_folder


@pytest.fixture(scope="module")
def sdxl(tmp_path_factory):
    folder = save_tiny_sdxl_folder(tmp_path_factory.mktemp("sdxl") / "tiny-sdxl")
    return folder, load_model(folder)


def reference_pipeline(model):
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline

    encoder = model.text_encoder
    return StableDiffusionXLPipeline(vae=model.autoencoder.vae, text_encoder=encoder.encoders[0],
                                     text_encoder_2=encoder.encoders[1], tokenizer=encoder.tokenizers[0],
                                     tokenizer_2=encoder.tokenizers[1], unet=model.unet,
                                     scheduler=EulerDiscreteScheduler())


def test_the_folder_is_an_sdxl_pipeline(sdxl):
    folder, model = sdxl
    index = read_json(folder / "model_index.json")
    assert index["_class_name"] == "StableDiffusionXLPipeline" and index["force_zeros_for_empty_prompt"] is True
    assert {"text_encoder_2", "tokenizer_2"} <= set(index) and isinstance(model.text_encoder, SDXLPromptEncoder)


def test_prompt_embeddings_and_unet_call_equal_the_diffusers_pipeline(sdxl):
    _, model = sdxl
    pipe = reference_pipeline(model)
    with torch.no_grad():
        embeds, negative, pooled, negative_pooled = pipe.encode_prompt(["a red door"], device="cpu",
                                                                       num_images_per_prompt=1,
                                                                       do_classifier_free_guidance=True)
        cond = model.condition(["a red door"], guidance_scale=3.0)
        ours, our_pooled = unpack_pooled(cond.embeds, POOLED_DIM)
        ours_uncond, our_uncond_pooled = unpack_pooled(cond.uncond_embeds, POOLED_DIM)
        assert torch.allclose(ours, embeds, atol=1e-6) and torch.allclose(our_pooled, pooled, atol=1e-6)
        assert torch.equal(ours_uncond, negative) and torch.equal(our_uncond_pooled, negative_pooled)  # zeros
        x = torch.randn(1, 4, 4, 4, generator=torch.Generator().manual_seed(0))
        time_ids = pipe._get_add_time_ids((32, 32), (0, 0), (32, 32), torch.float32, text_encoder_projection_dim=POOLED_DIM)
        expected = model.unet(x, torch.tensor([500]), encoder_hidden_states=embeds,
                              added_cond_kwargs={"text_embeds": pooled, "time_ids": time_ids}).sample
        assert torch.allclose(model(x, 500, cond.embeds), expected, atol=1e-6)
        other = model.unet(x, torch.tensor([500]), encoder_hidden_states=embeds,
                           added_cond_kwargs={"text_embeds": pooled, "time_ids": time_ids * 2}).sample
        assert not torch.allclose(other, expected)  # the size ids matter: the comparison above can see them


def fast(name: str) -> dict:
    names = {o["name"] for o in describe_options(name)}
    # ep = 0, two_step / decoder = none: no trained EP weights or Seamless Borders components for this model
    cheap = {"steps": 2, "iterations": 1, "mc_samples": 1, "ep": 0, "two_step": "none", "decoder": "none"}
    return {k: v for k, v in cheap.items() if k in names}


def test_every_latent_method_inpaints_an_sdxl_model_under_guidance(sdxl):
    _, model = sdxl
    inpainter = Inpainter(model, threads=None)
    image, mask = smooth_image(32, seed=1)[0], square_hole(32, size=0.5)[0]
    keep = (mask == 0).expand(3, -1, -1)
    methods = [n for n, spec in METHODS.items() if spec.needs_model and "latent" in spec.spaces
               and not spec.inpainting_unet]
    assert {"pilot", "latentpaint", "vipaint", "blended-latent", "dps"} <= set(methods)
    for name in methods:
        out = inpainter(image, mask, method=name, prompt="a red door", guidance_scale=3.0, seed=0, progress=False,
                        **fast(name))
        assert out.shape == (1, 3, 32, 32) and torch.isfinite(out).all(), name
        assert torch.equal(out[0][keep], image[keep]), name


def test_sd_inpaint_on_an_sdxl_inpainting_folder(tmp_path):
    model = load_model(save_tiny_sdxl_folder(tmp_path / "tiny-sdxl-inpaint", inpainting=True))
    assert model.is_inpainting_unet
    image, mask = smooth_image(32, seed=1)[0], square_hole(32, size=0.5)[0]
    out = Inpainter(model, threads=None)(image, mask, method="sd-inpaint", prompt="a red door", guidance_scale=3.0,
                                         steps=3, seed=0, progress=False)
    keep = (mask == 0).expand(3, -1, -1)
    assert torch.equal(out[0][keep], image[keep]) and not torch.equal(out[0][~keep], image[~keep])
