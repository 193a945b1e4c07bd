"""Towards Seamless Borders' two training objectives: the seam-aware decoder (Eq. 6) and the blend-aware two-step
denoiser training (Alg. 1)."""
import torch

from inpaintkit.core.schedule import LATENT_SCHEDULE, NoiseSchedule
from inpaintkit.models.autoencoder import Autoencoder
from inpaintkit.nets.unets import build_unet
from inpaintkit.testing.images import smooth_image, square_hole
from inpaintkit.testing.tiny import tiny_vae
from inpaintkit.train.datasets import Batch
from inpaintkit.train.objectives import SeamDecoderObjective, TwoStepObjective, seam_blend


def frozen_encoder_autoencoder() -> Autoencoder:
    autoencoder = Autoencoder(tiny_vae(0)).train()
    autoencoder.vae.encoder.requires_grad_(False)
    return autoencoder


def seam_batch(autoencoder, x, mask, **extra) -> Batch:
    with torch.no_grad():  # what the cache holds: the frozen encoder's E(x) and E((1 - M) x)
        return Batch(x, mask=mask, latents=autoencoder.encode(x), known=autoencoder.encode((1 - mask) * x), **extra)


def test_with_an_empty_mask_the_seam_objective_is_the_plain_round_trip():
    autoencoder = frozen_encoder_autoencoder()
    x = smooth_image(32, seed=1).repeat(2, 1, 1, 1)
    empty = torch.zeros(2, 1, 32, 32)
    batch = seam_batch(autoencoder, x, empty)
    with torch.no_grad():
        assert torch.equal(seam_blend(batch.latents, batch.known, torch.zeros(2, 1, 4, 4)), batch.latents)
        loss = SeamDecoderObjective(seam_weight=2.0)(autoencoder, batch, torch.Generator())
        expected = (autoencoder.decode(batch.latents, clamp=False) - x).abs().mean()
    assert torch.allclose(loss, expected, atol=1e-6)


def test_the_seam_objective_trains_the_decoder_only_and_sees_the_masked_encoding():
    autoencoder = frozen_encoder_autoencoder()
    x = smooth_image(32, seed=1).repeat(2, 1, 1, 1)
    mask = square_hole(32, size=0.5).repeat(2, 1, 1, 1)
    batch = seam_batch(autoencoder, x, mask)
    loss = SeamDecoderObjective()(autoencoder, batch, torch.Generator())
    loss.backward()
    assert all(p.grad is None for p in autoencoder.vae.encoder.parameters())
    decoder = list(autoencoder.vae.decoder.parameters())
    assert all(p.grad is not None for p in decoder) and sum(p.grad.abs().sum() for p in decoder) > 0
    # the blend differs from the plain round trip outside the hole: the seam's latents
    blend = seam_blend(batch.latents, batch.known, torch.nn.functional.adaptive_max_pool2d(mask, (4, 4)))
    assert (blend - batch.latents).abs().max() > 0


def test_pixels_of_weight_zero_are_out_of_the_seam_loss():
    autoencoder = frozen_encoder_autoencoder()
    x = smooth_image(32, seed=1).repeat(2, 1, 1, 1)
    mask = square_hole(32, size=0.5).repeat(2, 1, 1, 1)
    weight = torch.ones(2, 1, 32, 32)
    weight[..., :8, :] = 0
    objective = SeamDecoderObjective(perceptual_weight=0.0)
    loss = objective(autoencoder, seam_batch(autoencoder, x, mask, weight=weight), torch.Generator())
    changed = x.clone()
    changed[..., :8, :] = torch.rand(2, 3, 8, 32)  # other targets where the weight is 0: the same loss
    batch = seam_batch(autoencoder, x, mask, weight=weight)
    batch.x0 = changed
    assert torch.allclose(objective(autoencoder, batch, torch.Generator()), loss)
    assert not torch.allclose(objective(autoencoder, seam_batch(autoencoder, x, mask), torch.Generator()), loss)


def test_decoder_windows_are_the_whole_images_latents_with_their_pixels_and_inner_margins_out():
    from inpaintkit.train.datasets import TrainingData
    from inpaintkit.train.seamless import EncodedFaceWindows, cached_mask

    g = torch.Generator().manual_seed(0)
    faces = torch.rand(3, 3, 64, 64, generator=g) * 2 - 1
    latents, masked = torch.randn(3, 4, 8, 8, generator=g), torch.randn(3, 2, 4, 8, 8, generator=g)
    masks = {"thick": 1}
    draw = EncodedFaceWindows(TrainingData(faces), latents, masked, masks, seed=0, no_mask_fraction=0.3, window=5,
                              margin=1)
    seen_plain = seen_masked = 0
    for step in range(6):
        batch = draw(torch.Generator().manual_seed(step), 4)
        assert batch.x0.shape == (4, 3, 40, 40) and batch.latents.shape == batch.known.shape == (4, 4, 5, 5)
        for i in range(4):  # find the window in the whole latents: its pixels and mask lie under it
            f, top, left = next((f, r, c) for f in range(3) for r in range(4) for c in range(4)
                                if torch.equal(latents[f, :, r:r + 5, c:c + 5], batch.latents[i]))
            assert torch.equal(batch.x0[i], faces[f, :, 8 * top:8 * top + 40, 8 * left:8 * left + 40])
            if batch.mask[i].any():
                k = next(k for k in range(2) if torch.equal(masked[f, k, :, top:top + 5, left:left + 5],
                                                            batch.known[i]))
                whole = cached_mask(masks, 64, 0, f, k, 2)[0]
                assert torch.equal(batch.mask[i], whole[:, 8 * top:8 * top + 40, 8 * left:8 * left + 40])
                seen_masked += 1
            else:
                assert torch.equal(batch.known[i], batch.latents[i])  # the plain round trip
                seen_plain += 1
            w = batch.weight[i, 0]  # 8 px (1 cell) out along inner edges, kept on the image's edges
            assert w[:8].eq(0).all() == (top > 0) and w[-8:].eq(0).all() == (top < 3)
            assert w[:, :8].eq(0).all() == (left > 0) and w[:, -8:].eq(0).all() == (left < 3)
            assert w[8:-8, 8:-8].eq(1).all()
    assert seen_plain and seen_masked


def two_step_batch(n: int = 6):
    g = torch.Generator().manual_seed(3)
    z0, known = torch.randn(n, 4, 8, 8, generator=g), torch.randn(n, 4, 8, 8, generator=g)
    mask = torch.zeros(n, 1, 8, 8)
    mask[..., 2:6, 2:6] = 1
    return Batch(z0, mask=mask, known=known)


def test_the_second_target_leads_back_to_the_true_latent():
    """Alg. 1 lines 6-8: sqrt(a_s) z_s - sqrt(1 - a_s) v2 = z0 exactly (in the hole and in the known region)."""
    schedule = NoiseSchedule(LATENT_SCHEDULE)
    net = build_unet("tiny", 8, channels=4)
    batch = two_step_batch()
    _, l1, l2, z_s, v2, s = TwoStepObjective(schedule, stride=20).losses(net, batch, torch.Generator().manual_seed(0))
    valid = s >= 0
    assert valid.any()
    ab = schedule.alpha_bar(s.clamp(min=0), z_s)
    z0 = ab.sqrt() * z_s - (1 - ab).sqrt() * v2
    assert torch.allclose(z0[valid], batch.x0[valid], atol=1e-4)
    assert (l2[valid] > 0).all() and torch.isfinite(l1).all()


def test_no_second_step_below_the_stride_and_no_division_by_zero():
    schedule = NoiseSchedule(LATENT_SCHEDULE)
    net = build_unet("tiny", 8, channels=4)
    objective = TwoStepObjective(schedule, stride=schedule.num_train_timesteps)  # every s = t - stride < 0
    loss, l1, l2, *_ = objective.losses(net, two_step_batch(), torch.Generator().manual_seed(0))
    assert torch.equal(l2, torch.zeros_like(l2)) and torch.isfinite(loss) and torch.allclose(loss, l1.mean())
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)


def test_the_two_step_gradient_flows_through_both_passes():
    schedule = NoiseSchedule(LATENT_SCHEDULE)
    grads = {}
    for weight in (0.0, 0.5):
        torch.manual_seed(0)
        net = build_unet("tiny", 8, channels=4)
        TwoStepObjective(schedule, weight=weight)(net, two_step_batch(), torch.Generator().manual_seed(1)).backward()
        grads[weight] = torch.cat([p.grad.flatten() for p in net.parameters()])
    assert not torch.allclose(grads[0.0], grads[0.5])  # L2 contributes


def test_train_seamless_both_stages_export_what_the_model_loads(tmp_path):
    from inpaintkit.api import Inpainter
    from inpaintkit.models import load_folder, load_model
    from inpaintkit.models.export import write_model_folder
    from inpaintkit.testing.images import noise_pil
    from inpaintkit.data.cache import load_cache
    from inpaintkit.data.images import list_images, load_image_tensor
    from inpaintkit.train.seamless import DEFAULT_MASKS, SeamlessConfig, cached_mask, train_seamless

    torch.manual_seed(0)
    folder = write_model_folder(tmp_path / "tiny-latent", build_unet("tiny", 4, channels=4), LATENT_SCHEDULE,
                                vae=tiny_vae(0), dtype=None)
    (tmp_path / "faces").mkdir()
    for i in range(6):
        noise_pil(40, 36, seed=i).save(tmp_path / "faces" / f"{i}.png")
    common = dict(model=str(folder), data=str(tmp_path / "faces"), resolution=32, crop=36, steps=2, batch_size=2,
                  checkpoint_every=1, device="cpu")
    vae = train_seamless(SeamlessConfig(stage="decoder", out=str(tmp_path / "seam"), bf16=True, **common),
                         progress=False)  # bf16 autocast: the cached fp16 latents are cast before anything else
    tuned, original = load_folder(folder, vae_override=vae), load_model(folder)
    pairs = lambda part: zip(getattr(tuned.autoencoder.vae, part).parameters(),  # noqa: E731
                             getattr(original.autoencoder.vae, part).parameters())
    # the latent space stays the denoiser's: the encoder exported as it was (in fp16, as shipped weights are)
    assert all(torch.equal(p, q.half().float()) for p, q in pairs("encoder"))
    assert not all(torch.equal(p, q.half().float()) for p, q in pairs("decoder"))
    again = train_seamless(SeamlessConfig(stage="decoder", out=str(tmp_path / "seam"), **{**common, "steps": 3}),
                           progress=False)  # resumes from its checkpoint
    assert json_of(again / "seamless.json")["training_steps"] == 3

    unet_folder = train_seamless(SeamlessConfig(stage="two-step", out=str(tmp_path / "two"), masks_per_image=2,
                                                **common), progress=False)
    cache = load_cache(tmp_path / "two" / "seamless_latents.safetensors")
    assert cache["latents"].shape == (6, 4, 4, 4) and cache["masked"].shape == (6, 2, 4, 4, 4)
    face = load_image_tensor(list_images(tmp_path / "faces"), 32, 36, progress=False)[3:4]
    mask = cached_mask(DEFAULT_MASKS, 32, 0, 3, 1, 2)  # face 3's second cached mask, regenerated
    with torch.no_grad():
        assert torch.allclose(cache["masked"][3, 1].float(), original.autoencoder.encode((1 - mask) * face)[0], atol=2e-3)
    model = load_model(unet_folder)
    assert model.info["seamless"]["stage"] == "two-step" and model.info["seamless"]["training_steps"] == 2
    assert not all(torch.equal(p, q) for p, q in zip(model.unet.parameters(), original.unet.parameters()))
    image, mask = smooth_image(32, seed=2), square_hole(32, size=0.5)
    out = Inpainter(model, threads=None)(image, mask, method="blended-latent", steps=3, progress=False)
    keep = ~mask.bool().expand_as(out)
    assert torch.equal(out[keep], image.expand_as(out)[keep])


def json_of(path):
    import json

    return json.loads(path.read_text())


def test_train_seamless_refuses_a_bad_stage_in_one_line(tmp_path):
    from typer.testing import CliRunner

    from inpaintkit.app.cli import app

    result = CliRunner().invoke(app, ["train-seamless", "--out", str(tmp_path / "run"), "--stage", "both"])
    assert result.exit_code == 1 and result.stderr.startswith("error: ") and "stage" in result.stderr
    assert not (tmp_path / "run").exists()


def test_the_control_draws_what_the_two_step_loss_draws_and_skips_the_second_pass():
    schedule = NoiseSchedule(LATENT_SCHEDULE)
    net = build_unet("tiny", 8, channels=4)
    calls = []
    net.register_forward_hook(lambda *args: calls.append(1))
    control = TwoStepObjective(schedule, weight=0.0).losses(net, two_step_batch(), torch.Generator().manual_seed(1))
    assert len(calls) == 1
    two_step = TwoStepObjective(schedule, weight=0.5).losses(net, two_step_batch(), torch.Generator().manual_seed(1))
    assert len(calls) == 3
    assert torch.equal(control[1], two_step[1]) and torch.allclose(control[0], control[1].mean())  # the same L1
