"""Why LatentPaint helps or hurts on a model, in the network's own loss: the denoising error in the hole (the
training target's mean squared error over the hole, by noise band) of the plain network, under latent-space
conditioning (Eq. 11), and under LSC + trained EP modules (Eq. 12), on the same training faces, masks, timesteps
and noise; and the leverage of the middle block, where EP acts: how much the output moves when the middle block's
output is zeroed.

    OMP_NUM_THREADS=2 python benchmarks/latentpaint_diagnostics.py [--model faces-64] [--ep runs/ep/latentpaint/ep2.safetensors]
    OMP_NUM_THREADS=2 python benchmarks/latentpaint_diagnostics.py --model faces-256-latent --max-images 1200 \
        --cache-dir runs/ep-latent      # encodes the faces once into runs/ep-latent/latents.safetensors
    python benchmarks/latentpaint_diagnostics.py --quick      # the tiny test model and tiny images
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from inpaintkit.data.masks import draw_masks
from inpaintkit.models import load_model
from inpaintkit.nets.ep_module import load_ep_modules
from inpaintkit.sampling.latent_conditioning import lsc_output, training_pair
from inpaintkit.train.config import preset_config
from inpaintkit.train.datasets import load_training_data

BANDS = ((0, 250), (250, 500), (500, 750), (750, 1000))


def hole_errors(model, x0, mask, t, g, ep) -> dict[str, torch.Tensor]:
    """Per-sample hole MSE of the training target for the plain network, LSC, and LSC + EP (when given)."""
    schedule = model.schedule
    noise, noise_c = torch.randn(x0.shape, generator=g), torch.randn(x0.shape, generator=g)
    x_t, x_cond, mask_z = training_pair(schedule, x0, mask, t, noise, noise_c)
    target = schedule.training_target(x0, noise, t)
    outputs = {"plain": lsc_output(model, x_t, x_cond, t, 1 - mask, None, lsc=False),
               "LSC": lsc_output(model, x_t, x_cond, t, 1 - mask, None)}
    if ep:
        outputs[f"LSC + {len(ep)} EP"] = lsc_output(model, x_t, x_cond, t, 1 - mask, ep)
    hole = mask_z.expand_as(target)
    return {name: ((out - target).square() * hole).flatten(1).sum(1) / hole.flatten(1).sum(1)
            for name, out in outputs.items()}


def middle_block_leverage(model, x0, g, timesteps=(100, 500, 900)) -> list[tuple[int, float, float]]:
    """(t, mean |output|, mean |change| when the middle block's output is zeroed)."""
    rows = []
    for t in timesteps:
        tt = torch.full((len(x0),), t)
        x_t = model.schedule.add_noise(x0, torch.randn(x0.shape, generator=g), tt)
        base = model(x_t, tt)
        handle = model.unet.mid_block.register_forward_hook(lambda module, args, out: out * 0)
        try:
            zeroed = model(x_t, tt)
        finally:
            handle.remove()
        rows.append((t, base.abs().mean().item(), (zeroed - base).abs().mean().item()))
    return rows


@torch.no_grad()
def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="faces-64")
    p.add_argument("--preset", default=None, help="the recipe whose training faces to use (default: the model's name)")
    p.add_argument("--ep", default=None, help="trained EP weights (ep1/ep2.safetensors)")
    p.add_argument("--masks", default="thick")
    p.add_argument("--batches", type=int, default=10)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--max-images", type=int, default=None, help="the first N training faces (latent models encode them)")
    p.add_argument("--cache-dir", default=None, help="latent models: where their latents are cached")
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp())
    if args.quick:
        from inpaintkit.testing.images import smooth_pil
        from inpaintkit.testing.tiny import tiny_pixel_model

        model = tiny_pixel_model(16)
        (work / "faces").mkdir()
        for i in range(4):
            smooth_pil(16, seed=i).save(work / "faces" / f"{i}.png")
        cfg = preset_config("faces-32", str(work), data=str(work / "faces"), resolution=16, crop=None)
        args.batches, args.batch = 1, 4
    else:
        model = load_model(args.model)
        cfg = preset_config(args.preset or args.model, str(work), max_images=args.max_images, cache_dir=args.cache_dir)
    data = load_training_data(cfg, work, model.device, True)
    ep = None
    if args.ep:
        ep = {k: m.to(model.device, model.dtype) for k, m in load_ep_modules(args.ep, model.unet).items()}
    errors: dict[str, list[torch.Tensor]] = {}
    timesteps: list[torch.Tensor] = []
    for i in range(args.batches):
        g = torch.Generator().manual_seed(1000 + i)
        x0 = data.batch(g, args.batch, True, 0.0).x0
        mask = draw_masks({args.masks: 1}, model.resolution, len(x0), g)
        t = torch.randint(0, model.schedule.num_train_timesteps, (len(x0),), generator=g)
        for name, e in hole_errors(model, x0, mask, t, g, ep).items():
            errors.setdefault(name, []).append(e)
        timesteps.append(t)
    t = torch.cat(timesteps)
    print(f"{model.name}: hole MSE of the training target ({model.schedule.config.prediction_type}), {len(t)} training faces, "
          f"{args.masks} masks, same noise for every row")
    print("row".ljust(14) + "".join(f"t {lo}-{hi}".rjust(13) for lo, hi in BANDS) + "all".rjust(10))
    for name, e in errors.items():
        e = torch.cat(e)
        cells = [e[(t >= lo) & (t < hi)] for lo, hi in BANDS]
        print(name.ljust(14) + "".join((f"{c.mean():.5f}" if len(c) else "-").rjust(13) for c in cells)
              + f"{e.mean():.5f}".rjust(10))
    x0 = data.batch(torch.Generator().manual_seed(0), min(8, args.batch), False, 0.0).x0
    for t_, size, change in middle_block_leverage(model, x0, torch.Generator().manual_seed(1)):
        print(f"t = {t_}: mean |output| {size:.3f}; with the middle block's output zeroed it moves by {change:.4f} "
              f"({change / size:.1%})")


if __name__ == "__main__":
    main()
