"""VIPaint's figure: for a few faces the model drew itself (free to show), the masked input, the fitted means of
every level decoded (the posterior's x0-space top mean, then each level's mean mu_j / sqrt(alpha_bar_j)),
and several completions drawn from the one fit.

    python benchmarks/vipaint_figure.py [--model faces-32] [--levels 4] [--samples 4] [--out docs/vipaint_figure.png]
    python benchmarks/vipaint_figure.py --quick     # the tiny test model, into a temporary file
"""
from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path

import torch

from inpaintkit.api import Inpainter
from inpaintkit.data.masks import mask_from_name
from inpaintkit.evaluation.grid import image_grid
from inpaintkit.models import load_model
from inpaintkit.sampling import sample


def main(argv=None) -> Path:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="faces-32")
    p.add_argument("--faces", type=int, default=3)
    p.add_argument("--levels", type=int, default=4)
    p.add_argument("--samples", type=int, default=4)
    p.add_argument("--iterations", type=int, default=50)
    p.add_argument("--steps", type=int, default=100, help="Phase 2's DPS steps")
    p.add_argument("--masks", default="half-right")
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "vipaint_figure.png")
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        from inpaintkit.testing.tiny import tiny_pixel_model

        model = tiny_pixel_model(16)
        args.faces, args.samples, args.iterations, args.steps, args.levels = 1, 2, 1, 2, 2
        args.out = Path(tempfile.mkdtemp()) / "vipaint_figure.png"
    else:
        model = load_model(args.model)
    faces = sample(model, args.faces, 50, [torch.Generator().manual_seed(100 + i) for i in range(args.faces)],
                   show_progress=False)
    inpainter = Inpainter(model, threads=None)
    rows, labels = [], []
    for i, face in enumerate(faces):
        mask = mask_from_name(args.masks, model.resolution, i)
        fitted = {}

        def keep_means(step):
            if "means" in step.extra:
                fitted.update(step.extra)

        out = inpainter(face, mask[0], method="vipaint", num_samples=args.samples, levels=args.levels,
                        iterations=args.iterations, steps=args.steps, seed=i, progress=False, callback=keep_means)
        ab = [float(model.schedule.alphas_cumprod[t]) for t in fitted["levels"]]
        with torch.no_grad():
            means = [model.decode(fitted["means"][0])] + [model.decode(m / math.sqrt(a))
                                                         for m, a in zip(fitted["means"][1:], ab[1:])]
        rows.append([face, face * (1 - mask[0])] + [m[0] for m in means] + list(out))
        labels.append(f"face {i}")
    cols = ["original", "input"] + [f"mean t={t}" for t in fitted["levels"]] + [f"sample {k}" for k in range(args.samples)]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    image_grid(rows, col_labels=cols, row_labels=labels, cell=96).save(args.out)
    print(f"wrote {args.out}")
    return args.out


if __name__ == "__main__":
    main()
