"""LatentPaint's cost, side by side in one run: its time per image divided by combine-noisy's at the same steps
(target <= 2.0: one 2B call per step against one B call), and by (steps x one U-Net forward at batch 2B, timed
bare: target <= 1.10); and the hooks' own cost, one 2B forward with the latent-space-conditioning hooks (and EP
modules where the model has trained ones) against the same forward without.

    OMP_NUM_THREADS=2 python benchmarks/bench_latentpaint.py [--model faces-32] [--steps 50] [--batch 4]
    python benchmarks/bench_latentpaint.py --quick      # the tiny test model
"""
from __future__ import annotations

import argparse

import torch

from inpaintkit.api import Inpainter
from inpaintkit.evaluation.speed import best_seconds
from inpaintkit.methods.latentpaint import EP_FOLDER
from inpaintkit.models import load_model
from inpaintkit.nets.ep_module import ep_file_name
from inpaintkit.sampling.latent_conditioning import lsc_output
from inpaintkit.testing.images import smooth_image, square_hole


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="faces-32")
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        from inpaintkit.testing.tiny import tiny_pixel_model

        model, args.steps, args.batch = tiny_pixel_model(16), 3, 2
    else:
        model = load_model(args.model)
    has_ep = model.folder is not None and (model.folder / EP_FOLDER / ep_file_name(2)).is_file()
    method = "latentpaint" if has_ep else "latentpaint-lsc"
    inpainter = Inpainter(model, threads=None)
    side, b = model.resolution, args.batch
    triples = [(smooth_image(side, seed=i), square_hole(side, size=0.5), i) for i in range(b)]

    def run(name: str):
        return lambda: list(inpainter.many(triples, name, batch_size=b, steps=args.steps))

    seconds = {name: best_seconds(run(name), 1) / b for name in (method, "combine-noisy")}
    x = torch.randn(model.latent_shape(b))
    known = 1 - square_hole(side, size=0.5).expand(b, 1, side, side)
    with torch.no_grad():
        bare = best_seconds(lambda: model(torch.cat([x, x]), 500))
        hooked = best_seconds(lambda: lsc_output(model, x, x, 500, known))
    print(f"{model.name}: {args.steps} steps, {b} images per batch, {torch.get_num_threads()} threads; "
          f"{method} ({'trained EP modules' if has_ep else 'no EP weights: LSC alone'})")
    print(f"{method} {seconds[method]:.3f} s per image, combine-noisy {seconds['combine-noisy']:.3f}: ratio "
          f"{seconds[method] / seconds['combine-noisy']:.2f} (target <= 2.0)")
    print(f"one bare U-Net forward at batch {2 * b}: {bare * 1e3:.1f} ms; {method} / ({args.steps} x that): "
          f"{seconds[method] * b / (args.steps * bare):.3f} (target <= 1.10)")
    print(f"the same forward with the hooks: {hooked * 1e3:.1f} ms ({hooked / bare:.3f}x: the hooks' own cost)")


if __name__ == "__main__":
    main()
