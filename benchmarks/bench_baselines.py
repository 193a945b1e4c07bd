"""Benchmark the baselines (combine-noisy, combine-image, RePaint, Blended Latent Diffusion, OpenCV) and
compare our RePaint with diffusers' RePaintPipeline.

    python benchmarks/bench_baselines.py [--model faces-32 | PATH] [--images N] [--steps N]
                                         [--jump-length J] [--jump-n-sample R] [--batch B]

Part 1, per method: seconds per image, network calls per image and the overhead ratio
time / (batched forwards x one U-Net forward at the same batch size), target <= 1.10. The pixel methods run
on the model; Blended Latent Diffusion needs a latent model: ``--latent-model PATH``, or by default
a timing stand-in (a random-weight face32 U-Net on 32x32x4 latents of the tiny VAE, 256 px images;
its outputs mean nothing, its timings do).

Part 2, RePaint against diffusers' RePaintPipeline (same U-Net, RePaintScheduler built from the
model's schedule, same steps / jump length / resampling, eta = 1 as in the paper, the same
seeded CPU generator): time ratio ours / theirs (target <= 1.0), then outputs.
- Aligned: with eta = 0 and jump_n_sample = 1 both consume the generator identically (x_T, then
  one draw per step for the known region), so the outputs must agree to float precision when
  x0 clipping is off; with clipping on they differ because diffusers keeps the raw network eps
  next to the clipped x0 where we re-derive eps from it (DDPM's posterior mean, as the original
  RePaint code).
- With time travel and eta = 1 the streams cannot be aligned: diffusers reuses one draw for the
  reverse step's noise and the known region's (we draw two, as the original RePaint), and its
  undo_step draws T // steps noises per step back up (with betas shifted by one step) where we
  make one exact draw from q(x_t | x_s). There we compare statistically: the mean hole difference
  between two seeds of ours, of theirs, and ours vs theirs, and each one's error to the original.

Defaults (batch 1, 2 images, 50 steps, j = r = 5) take about 2-3 minutes on 2 CPU cores. The
paper's setting: ``--steps 250 --jump-length 10 --jump-n-sample 10``; more images: ``--images 100``.
``--quick``: tiny random models and images, a few steps (the test suite runs it).
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from inpaintkit.core.env import pick_device
from inpaintkit.core.schedule import LATENT_SCHEDULE, NoiseSchedule
from inpaintkit.data.images import list_images, load_image_tensor
from inpaintkit.data.masks import mask_from_name
from inpaintkit.methods import get_method, make_options
from inpaintkit.models import Autoencoder, DiffusionModel, builtin_models, load_model
from inpaintkit.nets.unets import build_unet
from inpaintkit.sampling import Task
from inpaintkit.testing.images import smooth_image
from inpaintkit.testing.tiny import tiny_pixel_model, tiny_vae

DATA = "data:celeba/test"


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device):
    sync(device)
    start = time.perf_counter()
    out = fn()
    sync(device)
    return out, time.perf_counter() - start


@torch.no_grad()
def forward_seconds(model: DiffusionModel, batch: int, reps: int = 20) -> float:
    """Median time of one U-Net forward at ``batch``."""
    x = torch.randn(model.latent_shape(batch), device=model.device, dtype=model.dtype)
    t = torch.full((batch,), 500, device=model.device)
    model.unet(x, t)
    return statistics.median(timed(lambda: model.unet(x, t), model.device)[1] for _ in range(reps))


def inputs(resolution: int, n: int, masks: str, device, quick: bool = False):
    if quick:
        images = smooth_image(resolution, batch=n).to(device)
    else:
        images = load_image_tensor(list_images(DATA)[:n], resolution, progress=False).to(device)
    return images, torch.cat([mask_from_name(masks, resolution, seed=i) for i in range(n)]).to(device)


def run_method(model, name: str, image, mask, seed: int, options: dict):
    """One method on a batch at the model's resolution (the API's crop and paste-back are identities here)."""
    task = Task.create(model, image, mask, torch.Generator().manual_seed(seed), progress=False)
    with torch.no_grad():
        return get_method(name).fn(model, task, make_options(name, options), None).clamp(-1, 1)


def run_classical(name: str, image, mask):
    fn, opts = get_method(name).fn, make_options(name)
    return fn(None, Task.create(None, image, mask, torch.Generator(), progress=False), opts)


def bench_model_method(model, name, images, mask, batch, options, forward):
    model.network_calls = 0
    seconds = 0.0
    for i in range(0, len(images), batch):
        seconds += timed(lambda: run_method(model, name, images[i:i + batch], mask[i:i + batch], i, options),
                         model.device)[1]
    n = len(images)
    ratio = seconds / (model.network_calls / batch * forward)
    return seconds / n, model.network_calls / n, ratio


def latent_stand_in(device, quick: bool = False) -> DiffusionModel:
    unet = build_unet("tiny" if quick else "face32", 4 if quick else 32, channels=4)
    model = DiffusionModel(unet.eval(), NoiseSchedule(LATENT_SCHEDULE), autoencoder=Autoencoder(tiny_vae()),
                           name="latent stand-in")
    return model.to(device)


def diffusers_repaint(model: DiffusionModel, clip_sample: bool):
    from diffusers import RePaintPipeline, RePaintScheduler

    c = model.schedule.config
    if c.prediction_type != "epsilon":
        raise SystemExit(f"diffusers' RePaintScheduler takes eps-prediction only, not {c.prediction_type}")
    scheduler = RePaintScheduler(num_train_timesteps=c.num_train_timesteps, beta_start=c.beta_start,
                                 beta_end=c.beta_end, beta_schedule=c.beta_schedule, clip_sample=clip_sample)
    pipe = RePaintPipeline(unet=model.unet, scheduler=scheduler).to(model.device)
    pipe.set_progress_bar_config(disable=True)

    def run(image, mask, seed, steps, jump_length, jump_n_sample, eta):
        out = pipe(image, 1 - mask, num_inference_steps=steps, eta=eta, jump_length=jump_length,  # mask: 1 = keep
                   jump_n_sample=jump_n_sample, generator=torch.Generator().manual_seed(seed), output_type="np").images
        return torch.from_numpy(out).permute(0, 3, 1, 2).to(image) * 2 - 1

    return run


def hole_mean(diff, mask):
    return ((diff.abs() * mask).sum() / (mask.sum() * diff.shape[1])).item()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="faces-32", help="built-in name or diffusers folder (default: faces-32)")
    p.add_argument("--latent-model", default=None, help="latent model for blended-latent (default: a timing stand-in)")
    p.add_argument("--images", type=int, default=2)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--jump-length", type=int, default=5)
    p.add_argument("--jump-n-sample", type=int, default=5)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--masks", default="thick", help="mask set (inpaintkit.masks.MASK_SETS)")
    p.add_argument("--device", default="auto")
    p.add_argument("--repeats", type=int, default=3, help="timed ours/theirs pairs per image (median ratio)")
    p.add_argument("--quick", action="store_true", help="tiny random models and images, 4 steps")
    args = p.parse_args(argv)
    if args.quick:
        args.steps, args.jump_length, args.jump_n_sample, args.repeats, args.images = 4, 2, 2, 1, 2
    elif args.model not in builtin_models() and not Path(args.model).exists():
        raise SystemExit(f"model {args.model!r} is neither installed nor a folder: pass --model PATH")
    device = pick_device(args.device)
    model = tiny_pixel_model(16).to(device) if args.quick else load_model(args.model, device=device)
    rp = dict(steps=args.steps, jump_length=args.jump_length, jump_n_sample=args.jump_n_sample, eta=1.0)
    images, mask = inputs(model.resolution, args.images, args.masks, device, args.quick)
    forward = forward_seconds(model, args.batch)
    print(f"model {args.model}: {model.space}, {model.resolution} px, T = {model.schedule.num_train_timesteps}, "
          f"{model.dtype}, {device}, {torch.get_num_threads()} threads; one forward at batch {args.batch}: "
          f"{forward * 1e3:.1f} ms")
    print(f"{args.images} {'random' if args.quick else 'CelebA test'} images, '{args.masks}' masks, batch {args.batch}; "
          f"repaint: steps {args.steps}, jump_length {args.jump_length}, jump_n_sample {args.jump_n_sample}, eta 1")
    print(f"\n{'method':16}{'s/image':>10}{'calls/image':>13}{'time/(calls x fwd)':>20}")
    for name, options in (("combine-noisy", dict(steps=args.steps)), ("combine-image", dict(steps=args.steps)),
                          ("repaint", rp)):
        s, calls, ratio = bench_model_method(model, name, images, mask, args.batch, options, forward)
        print(f"{name:16}{s:10.3f}{calls:13.0f}{ratio:20.3f}")

    latent = load_model(args.latent_model, device=device) if args.latent_model else latent_stand_in(device, args.quick)
    l_images, l_mask = inputs(latent.resolution, args.images, args.masks, device, args.quick)
    l_forward = forward_seconds(latent, args.batch)
    s, calls, ratio = bench_model_method(latent, "blended-latent", l_images, l_mask, args.batch,
                                         dict(steps=args.steps, mask_dilation=1), l_forward)
    print(f"{'blended-latent':16}{s:10.3f}{calls:13.0f}{ratio:20.3f}   ({latent.name}, {latent.resolution} px, "
          f"forward {l_forward * 1e3:.1f} ms, mask_dilation 1)")
    for name in ("opencv-telea", "opencv-ns"):
        run_classical(name, images[:1].cpu(), mask[:1].cpu())  # warm-up
        s = sum(timed(lambda: run_classical(name, images[i:i + 1].cpu(), mask[i:i + 1].cpu()), device)[1]
                for i in range(len(images))) / len(images)
        print(f"{name:16}{s:10.4f}{0:13d}{'-':>20}")

    print(f"\nRePaint vs diffusers RePaintPipeline (eta 1, clip_sample {model.schedule.config.clip_sample}), batch 1:")
    theirs = diffusers_repaint(model, model.schedule.config.clip_sample)
    ours_t, theirs_t, ratios = [], [], []
    stats = {k: [] for k in ("ours 0 vs 1", "theirs 0 vs 1", "ours vs theirs", "ours vs original",
                             "theirs vs original")}
    for i in range(len(images)):
        x, m = images[i:i + 1], mask[i:i + 1]
        for _ in range(args.repeats):  # A B A B ...: the ratio pair by pair survives drifting machine speed
            o0, dt_ours = timed(lambda: run_method(model, "repaint", x, m, 0, rp), device)
            t0, dt_theirs = timed(lambda: theirs(x, m, 0, args.steps, args.jump_length, args.jump_n_sample, 1.0),
                                  device)
            ours_t.append(dt_ours)
            theirs_t.append(dt_theirs)
            ratios.append(dt_ours / dt_theirs)
        o1 = run_method(model, "repaint", x, m, 1, rp)
        t1 = theirs(x, m, 1, args.steps, args.jump_length, args.jump_n_sample, 1.0)
        for key, (a, b) in zip(stats, [(o0, o1), (t0, t1), (o0, t0), (o0, x), (t0, x)]):
            stats[key].append(hole_mean(a - b, m))
    n = len(images)
    print(f"  s/image (median of {len(ratios)}): ours {statistics.median(ours_t):.3f}, diffusers "
          f"{statistics.median(theirs_t):.3f}; ours/theirs median {statistics.median(ratios):.3f} "
          f"(min {min(ratios):.3f}, max {max(ratios):.3f})")
    print("  mean |difference| in the hole (images in [-1, 1]): "
          + ", ".join(f"{k} {statistics.mean(v):.4f}" for k, v in stats.items()))

    print("  aligned noise streams (eta 0, jump_n_sample 1, seed 0, first image): max |ours - diffusers|")
    x, m = images[:1], mask[:1]
    for clip in (False, True):
        m_clip = DiffusionModel(model.unet, NoiseSchedule(model.schedule.config, clip_sample=clip))
        ours = run_method(m_clip, "repaint", x, m, 0, dict(rp, eta=0.0, jump_n_sample=1))
        ref = diffusers_repaint(m_clip, clip)(x, m, 0, args.steps, args.jump_length, 1, 0.0)
        print(f"    clip_sample {clip!s:5}: {(ours - ref).abs().max().item():.2e} "
              f"(mean in the hole {hole_mean(ours - ref, m):.2e})")


if __name__ == "__main__":
    main()
