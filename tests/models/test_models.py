"""DiffusionModel: loading every folder layout, conditioning and guidance, gradients, hooks, attention processors."""
import json

import huggingface_hub.constants
import pytest
import torch
from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0

from inpaintkit.core.errors import ModelNotFoundError, UnsafeFileError
from inpaintkit.core.schedule import NoiseSchedule, ScheduleConfig
from inpaintkit.models import Conditioning, DiffusionModel, load_folder, load_model
from inpaintkit.models.export import write_model_folder
from inpaintkit.models.hub import hub_files_to_fetch
from inpaintkit.models.text import PromptEncoder
from inpaintkit.nets.unets import build_unet
from inpaintkit.testing.images import smooth_image
from inpaintkit.testing.tiny import tiny_conditional_model, tiny_latent_model, tiny_pixel_model, tiny_vae


def noisy(model: DiffusionModel, batch: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.randn(model.latent_shape(batch), generator=torch.Generator().manual_seed(seed))


def images(batch: int, side: int, seed: int = 0) -> torch.Tensor:
    return smooth_image(side, seed=seed, batch=batch, noise=0.3)


# -- loading ----------------------------------------------------------------------------------
def test_load_exported_pixel_folder(tmp_path):
    torch.manual_seed(0)
    unet = build_unet("tiny", 16)
    schedule = ScheduleConfig(prediction_type="v_prediction", beta_schedule="squaredcos_cap_v2")
    folder = write_model_folder(tmp_path / "tiny-v", unet, schedule, meta={"training_steps": 7})
    model = load_folder(folder)
    assert (model.name, model.space, model.resolution, model.channels) == ("tiny-v", "pixel", 16, 3)
    assert model.schedule.config == schedule
    assert model.info == {"training_steps": 7}
    assert model.dtype == torch.float32
    for p, q in zip(model.unet.parameters(), unet.parameters()):  # exported as fp16
        assert torch.equal(p, q.detach().half().float())
    x = noisy(model)
    with torch.no_grad():
        assert torch.allclose(model(x, 500), unet.half().float()(x, 500).sample, atol=1e-5)


def test_load_bare_unet_folder_uses_diffusers_defaults(tmp_path):
    torch.manual_seed(0)
    build_unet("tiny", 8).save_pretrained(tmp_path / "bare")
    model = load_model(tmp_path / "bare")
    assert model.space == "pixel" and model.resolution == 8
    assert model.schedule.config == ScheduleConfig()  # DDPMScheduler's defaults, x0 clipped to [-1, 1]
    assert model.schedule.config.clip_sample


def test_load_sd_folder_matches_the_model_it_was_saved_from(sd_folder, conditional_model):
    model = load_folder(sd_folder)
    assert (model.space, model.resolution, model.vae_scale, model.is_conditional) == ("latent", 32, 8, True)
    assert isinstance(model.text_encoder, PromptEncoder)
    assert not model.schedule.config.clip_sample  # latents are not clipped to the pixel range
    pixels = images(2, 32)
    z = model.encode(pixels)
    assert z.shape == model.latent_shape(2) == (2, 4, 4, 4)
    out = model.decode(z)
    assert out.shape == pixels.shape and out.abs().max() <= 1
    conv = next(m for m in model.autoencoder.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)  # the fast layout on CPU
    with torch.no_grad():  # the same numbers as the contiguous-layout model it was saved from
        torch.testing.assert_close(out, conditional_model.decode(z), atol=1e-5, rtol=1e-4)
    cond, ref_cond = model.condition(["a red door", "grass"]), conditional_model.condition(["a red door", "grass"])
    assert torch.equal(cond.embeds, ref_cond.embeds)
    with torch.no_grad():
        assert torch.equal(model.predict(z, 300, cond).eps, conditional_model.predict(z, 300, ref_cond).eps)


def test_vae_override_replaces_the_folder_vae(sd_folder, tmp_path):
    tiny_vae(seed=5).save_pretrained(tmp_path / "other-vae")
    default, swapped = load_folder(sd_folder), load_folder(sd_folder, vae_override=tmp_path / "other-vae")
    z = noisy(default)
    with torch.no_grad():
        assert not torch.allclose(default.decode(z), swapped.decode(z))


def test_hub_id_offline_names_the_id(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelNotFoundError, match="some-org/some-model.*not reachable"):
        load_model("some-org/some-model")


def test_an_unreachable_hub_fails_fast_and_says_so(monkeypatch):
    import time

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there: like a machine offline
    start = time.perf_counter()
    with pytest.raises(ModelNotFoundError, match="not reachable"):
        load_model("some-org/some-model")
    assert time.perf_counter() - start < 5


def test_pickled_weights_are_refused_unless_allowed(tmp_path):
    from safetensors.torch import load_file

    torch.manual_seed(0)
    folder = tmp_path / "bin"
    build_unet("tiny", 8).save_pretrained(folder)
    weights = load_file(folder / "diffusion_pytorch_model.safetensors")
    (folder / "diffusion_pytorch_model.safetensors").unlink()
    torch.save(weights, folder / "diffusion_pytorch_model.bin")
    with pytest.raises(UnsafeFileError, match="allow-pickle"):
        load_model(folder)
    assert load_model(folder, allow_pickle=True).resolution == 8


def test_a_broken_config_names_its_file(tmp_path):
    (tmp_path / "config.json").write_text("{oops")
    with pytest.raises(ModelNotFoundError, match=str(tmp_path / "config.json")):
        load_model(tmp_path)


def test_hub_id_fetched_before_loads_offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    repo = tmp_path / "models--some-org--tiny"  # the hub cache's layout: refs/main names the snapshot
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0" * 40)
    torch.manual_seed(0)
    build_unet("tiny", 8).save_pretrained(repo / "snapshots" / ("0" * 40))
    model = load_model("some-org/tiny")
    assert (model.name, model.resolution) == ("some-org/tiny", 8)


@pytest.mark.parametrize("source", ["./no/such/folder", "/no/such/folder", "no-such-model"])
def test_unknown_source_is_a_clear_error(source):
    with pytest.raises(ModelNotFoundError, match="unknown model"):
        load_model(source)


def test_folder_without_a_model_is_a_clear_error(tmp_path):
    with pytest.raises(ModelNotFoundError, match="not a diffusers model folder"):
        load_model(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"_class_name": "VQModel"}))
    with pytest.raises(ModelNotFoundError, match="unsupported component class 'VQModel'"):
        load_model(tmp_path)


def test_hub_snapshot_fetches_one_weights_file_per_component():
    repo = ["model_index.json", "v1-5-pruned.safetensors", "v1-5-pruned-emaonly.ckpt", "README.md",
            "unet/config.json", "unet/diffusion_pytorch_model.safetensors", "unet/diffusion_pytorch_model.bin",
            "unet/diffusion_pytorch_model.fp16.safetensors", "vae/config.json", "vae/diffusion_pytorch_model.bin",
            "scheduler/scheduler_config.json", "text_encoder/config.json", "text_encoder/model.safetensors",
            "tokenizer/vocab.json", "tokenizer/merges.txt", "tokenizer/special_tokens_map.json",
            "safety_checker/config.json", "safety_checker/model.safetensors"]
    safe = ["model_index.json", "unet/config.json", "unet/diffusion_pytorch_model.safetensors", "vae/config.json",
            "scheduler/scheduler_config.json", "text_encoder/config.json", "text_encoder/model.safetensors",
            "tokenizer/vocab.json", "tokenizer/merges.txt", "tokenizer/special_tokens_map.json"]
    assert sorted(hub_files_to_fetch(repo)) == sorted(safe)  # pickles are not even fetched
    assert sorted(hub_files_to_fetch(repo, allow_pickle=True)) == sorted(safe + ["vae/diffusion_pytorch_model.bin"])
    assert hub_files_to_fetch(["config.json", "diffusion_pytorch_model.safetensors"]) == [
        "config.json", "diffusion_pytorch_model.safetensors"]


# -- conditioning and guidance ----------------------------------------------------------------
def test_prompts_condition_the_prediction(conditional_model):
    z = noisy(conditional_model, 1)
    with torch.no_grad():
        eps = {p: conditional_model.predict(z, 400, conditional_model.condition(p)).eps for p in ("a cat", "a dog")}
        again = conditional_model.predict(z, 400, conditional_model.condition("a cat")).eps
    assert torch.equal(eps["a cat"], again)
    assert (eps["a cat"] - eps["a dog"]).abs().max() > 1e-4


def test_classifier_free_guidance_runs_both_branches(conditional_model):
    model = conditional_model
    z = noisy(model, 2)
    cond = model.condition("a cat", guidance_scale=3.0)  # one prompt, broadcast over the batch
    assert cond.embeds.shape[0] == 1
    with torch.no_grad():
        model.network_calls = 0
        guided = model.predict(z, 400, cond).eps
        assert model.network_calls == 4  # unconditional + conditional for each of the 2 samples
        out_u, out_c = model(z, 400, cond.uncond_embeds.expand(2, -1, -1)), model(z, 400, cond.embeds.expand(2, -1, -1))
        model.network_calls = 0
        model.predict(z, 400, model.condition("a cat"))
        assert model.network_calls == 2
    assert torch.allclose(guided, out_u + 3.0 * (out_c - out_u), atol=1e-5)  # Ho & Salimans 2022, Eq. 6


def test_conditioning_expands_to_the_batch():
    e = torch.randn(1, 4, 8)
    two = Conditioning(e, -e, 2.0).expand(3)
    assert two.embeds.shape == two.uncond_embeds.shape == (3, 4, 8)
    full = Conditioning(torch.randn(3, 4, 8)).expand(3)
    assert full.embeds.shape == (3, 4, 8) and full.uncond_embeds is None


def test_prompt_errors(pixel_model, conditional_model):
    with pytest.raises(ValueError, match="unconditional"):
        pixel_model.condition("a cat")
    with pytest.raises(ValueError, match="text-conditioned"):
        conditional_model.predict(noisy(conditional_model), 10)


def test_text_encoder_moves_with_the_model(conditional_model):
    conditional_model.to(torch.float64)
    assert conditional_model.text_encoder.encoder.dtype == torch.float64
    assert conditional_model.condition("x").embeds.dtype == torch.float64


# -- parameterisations --------------------------------------------------------------------------
@pytest.mark.parametrize("build", [tiny_pixel_model, tiny_latent_model])
def test_v_prediction_gives_consistent_x0_and_eps(build):
    model = build(prediction_type="v_prediction")
    model.schedule = NoiseSchedule(model.schedule.config, clip_sample=False)
    x_t = noisy(model)
    for t in (10, 500, 990):
        with torch.no_grad():
            v, pred = model(x_t, t), model.predict(x_t, t)
        ab = model.schedule.alphas_cumprod[t].float()
        assert torch.allclose(pred.x0, ab.sqrt() * x_t - (1 - ab).sqrt() * v, atol=1e-5)
        assert torch.allclose(ab.sqrt() * pred.x0 + (1 - ab).sqrt() * pred.eps, x_t, atol=1e-5)
        assert torch.allclose(model.schedule.velocity(pred.x0, pred.eps, t), v, atol=1e-5)


def test_pixel_predictions_are_clipped(pixel_model):
    x_t = noisy(pixel_model) * 3
    with torch.no_grad():
        x0 = pixel_model.predict(x_t, 999).x0
    assert x0.abs().max() == 1.0


# -- what methods build on: gradients, hooks, attention processors ------------------------------
def test_gradients_flow_through_predict_and_decode(latent_model, pixel_model):
    z = noisy(latent_model).requires_grad_()
    latent_model.decode(latent_model.predict(z, 500).x0).square().sum().backward()
    assert z.grad is not None and z.grad.abs().sum() > 0
    x = (noisy(pixel_model) * 0.3).requires_grad_()
    pixel_model.predict(x, 5).x0.square().sum().backward()  # small t: x0 ~ x, not clipped
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_attention_processors_can_be_replaced(pixel_model, conditional_model):
    class Counting(AttnProcessor2_0):
        calls = 0

        def __call__(self, *args, **kwargs):
            Counting.calls += 1
            return super().__call__(*args, **kwargs)

    for model in (pixel_model, conditional_model):
        cond = model.condition("a cat") if model.is_conditional else None
        z = noisy(model)
        names = sorted(model.attn_processors)
        assert names and all(name.endswith(".processor") for name in names)
        with torch.no_grad():
            before = model.predict(z, 300, cond).eps
            model.set_attn_processor({name: AttnProcessor() for name in names})
            assert all(type(p) is AttnProcessor for p in model.attn_processors.values())
            classic = model.predict(z, 300, cond).eps
            Counting.calls = 0
            model.set_attn_processor(Counting())
            counted = model.predict(z, 300, cond).eps
        assert Counting.calls == len(names)
        assert torch.allclose(before, classic, atol=1e-5) and torch.allclose(before, counted, atol=1e-5)
    conditional_model.unet.set_attn_processor(AttnProcessor())  # diffusers' own accessor, where it exists
    assert all(type(p) is AttnProcessor for p in conditional_model.attn_processors.values())


def test_forward_hooks_on_unet_blocks(latent_model):
    features = {}
    unet = latent_model.unet
    handles = [block.register_forward_hook(lambda m, i, o, name=name: features.__setitem__(name, o))
               for name, block in [("down0", unet.down_blocks[0]), ("mid", unet.mid_block), ("up1", unet.up_blocks[1])]]
    z = noisy(latent_model)
    with torch.no_grad():
        eps = latent_model.predict(z, 200).eps
        assert features["down0"][0].shape == (2, 8, 2, 2)  # (hidden states, skip connections)
        assert features["mid"].shape == (2, 16, 2, 2) and features["up1"].shape == (2, 8, 4, 4)
        steer = unet.mid_block.register_forward_hook(lambda m, i, o: o * 0)  # a hook may replace the output
        steered = latent_model.predict(z, 200).eps
        steer.remove()
        for h in handles:
            h.remove()
        assert torch.equal(latent_model.predict(z, 200).eps, eps)
    assert not torch.allclose(steered, eps)
