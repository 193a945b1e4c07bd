"""VIPaint's cost on one image: seconds of the fit and of the sampling, network calls (forward and backward), and
the overhead ratio time / (batched calls x one forward + backward at the batch size they ran at), target <= 1.15.

    OMP_NUM_THREADS=2 python benchmarks/bench_vipaint.py [--model faces-32] [--levels 2] [--samples 4]
    python benchmarks/bench_vipaint.py --quick      # the tiny test model

The fit runs ``mc_samples`` posterior samples per iteration as one batch: a prior-loss call, K - 1 hierarchy
calls and the reconstruction call, all differentiated; Phase 2 runs the ``samples`` completions as one batch:
K - 1 hierarchy calls without gradient, then one differentiated call per DPS step. For latent models each
differentiated reconstruction also decodes (and measures LPIPS): the reference includes that decode too.
"""
from __future__ import annotations

import argparse
import time

import torch

from inpaintkit.api import Inpainter
from inpaintkit.evaluation.bench import PhaseClock
from inpaintkit.methods import make_options
from inpaintkit.methods.vipaint import Reconstruction, dps_timesteps, hierarchy
from inpaintkit.models import load_model
from inpaintkit.models.hooks import count_calls
from inpaintkit.sampling import Task
from inpaintkit.testing.images import smooth_image, square_hole
from inpaintkit.evaluation.speed import best_seconds



def forward_backward(model, batch: int, t: int, reconstruction=None) -> float:
    """Seconds of one differentiated U-Net call at ``batch`` (with the reconstruction loss if given)."""
    x = torch.randn(model.latent_shape(batch))

    def run():
        z = x.clone().requires_grad_(True)
        x0 = model.predict(z, t, clip=False).x0
        loss = reconstruction(x0).sum() if reconstruction is not None else x0.square().sum()
        torch.autograd.grad(loss, z)
    return best_seconds(run)


def forward(model, batch: int, t: int) -> float:
    x = torch.randn(model.latent_shape(batch))
    with torch.no_grad():
        return best_seconds(lambda: model.predict(x, t))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="faces-32")
    p.add_argument("--levels", type=int, default=2)
    p.add_argument("--iterations", type=int, default=50)
    p.add_argument("--mc-samples", type=int, default=4)
    p.add_argument("--samples", type=int, default=4)
    p.add_argument("--steps", type=int, default=100, help="Phase 2's DPS steps (strided)")
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        from inpaintkit.testing.tiny import tiny_pixel_model

        model = tiny_pixel_model(16)
        args.iterations, args.mc_samples, args.samples, args.steps = 2, 2, 2, 3
    else:
        model = load_model(args.model)
    options = dict(levels=args.levels, iterations=args.iterations, mc_samples=args.mc_samples, steps=args.steps)
    opts = make_options("vipaint", {**options, "samples": args.samples})
    res = model.resolution
    image, mask = smooth_image(res, seed=1), square_hole(res, top=0.25, left=0.25, size=0.5)
    inpainter = Inpainter(model, threads=None)
    inpainter(image, mask, method="vipaint", progress=False, **{**options, "iterations": 1, "steps": 2})  # warm-up
    clock = PhaseClock()
    with count_calls(model) as calls:
        start = time.perf_counter()
        inpainter(image, mask, method="vipaint", num_samples=args.samples, progress=False, callback=clock,
                  **options)
        total = time.perf_counter() - start
    phases = clock.finish()

    levels = hierarchy(model.schedule, opts)
    k = len(levels)
    task = Task.create(model, image, mask, torch.Generator(), progress=False)
    rec_fit = Reconstruction(model, task, opts, args.mc_samples)
    rec_sample = Reconstruction(model, task, opts, args.samples)
    fit_calls = args.iterations * (1 + (k - 1) + 1)  # batched calls of mc_samples
    dps_calls = len(dps_timesteps(levels[-1], args.steps))
    reference = (args.iterations * (k * forward_backward(model, args.mc_samples, levels[0])
                                    + forward_backward(model, args.mc_samples, levels[-1], rec_fit))
                 + (k - 1) * forward(model, args.samples, levels[0])
                 + dps_calls * forward_backward(model, args.samples, levels[-1], rec_sample))
    expected_forward = fit_calls * args.mc_samples + ((k - 1) + dps_calls) * args.samples
    print(f"{model.name}: VIPaint-{k} {levels}, {args.iterations} iterations x {args.mc_samples} posterior samples, "
          f"{args.samples} completions x {dps_calls} DPS steps, {torch.get_num_threads()} threads")
    print(f"seconds: fit {phases.get('fit', 0):.2f}, sampling {phases.get('sample', 0):.2f}, total {total:.2f} "
          f"({total / args.samples:.2f} per completion)")
    print(f"network calls per image: {calls.forward} forward, {calls.backward} backward (expected forward "
          f"{expected_forward})")
    print(f"time / (batched calls x one forward+backward at their batch size): {total / reference:.3f} (target <= 1.15)")


if __name__ == "__main__":
    main()
