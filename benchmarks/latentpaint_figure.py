"""LatentPaint's figure: the rungs of the paper's Table 3 ladder side by side on faces the model drew itself (free
to show), one mask and one seed per face for every column: combine-noisy (RePaint without resampling), latent-space
conditioning alone, + one EP module, + two (the model folder's weights or --ep1/--ep2; a rung without weights is
left out), and RePaint with resampling.

    python benchmarks/latentpaint_figure.py [--model faces-64] [--steps 250] [--ep2 FILE] [--out FILE]
        # default --out: the built-in model's latentpaint/figure.png (its EP card's sample grid)
    python benchmarks/latentpaint_figure.py --quick     # the tiny test model (untrained EP), into a temporary file
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from inpaintkit.api import Inpainter
from inpaintkit.data.masks import mask_from_name
from inpaintkit.evaluation.grid import image_grid
from inpaintkit.models import load_model
from inpaintkit.methods.latentpaint import EP_FOLDER
from inpaintkit.nets.ep_module import ExplicitPropagation, ep_file_name, middle_channels, save_ep_modules
from inpaintkit.sampling import sample
from inpaintkit.sampling.latent_conditioning import EP_LOCATIONS


def main(argv=None) -> Path:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="faces-64")
    p.add_argument("--faces", type=int, default=3)
    p.add_argument("--steps", type=int, default=250)
    p.add_argument("--resampling", type=int, default=10, help="RePaint's r (jumps of 10)")
    p.add_argument("--masks", default="thick")
    p.add_argument("--ep1", default=None, help="weights of one EP module (default: the model folder's)")
    p.add_argument("--ep2", default=None, help="weights of two EP modules (default: the model folder's)")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    if args.out is None:
        args.out = Path(__file__).resolve().parents[1] / "src/inpaintkit/weights" / args.model / EP_FOLDER / "figure.png"
    ep_weights = {1: args.ep1, 2: args.ep2}
    if args.quick:
        from inpaintkit.testing.tiny import tiny_pixel_model

        model = tiny_pixel_model(16)
        args.faces, args.steps, args.resampling = 1, 3, 2
        args.out = Path(tempfile.mkdtemp()) / "latentpaint_figure.png"
        channels = middle_channels(model.unet)
        ep_weights = {k: str(save_ep_modules({loc: ExplicitPropagation(channels) for loc in EP_LOCATIONS[:k]},
                                             args.out.parent, {})) for k in (1, 2)}
    else:
        model = load_model(args.model)
    columns = {"combine-noisy": ("combine-noisy", {}), "LSC": ("latentpaint-lsc", {})}
    for count in (1, 2):
        shipped = model.folder / EP_FOLDER / ep_file_name(count) if model.folder else None
        if ep_weights[count] or (shipped and shipped.is_file()):
            columns[f"LSC + {count} EP"] = ("latentpaint", {"ep": count, "ep_weights": ep_weights[count]})
    columns[f"RePaint r={args.resampling}"] = ("repaint", {"jump_length": 10, "jump_n_sample": args.resampling})
    faces = sample(model, args.faces, 50, [torch.Generator().manual_seed(200 + i) for i in range(args.faces)],
                   show_progress=False)
    inpainter = Inpainter(model, threads=None)
    rows, labels = [], []
    for i, face in enumerate(faces):
        mask = mask_from_name(args.masks, model.resolution, i)[0]
        row = [face, face * (1 - mask)]
        for method, options in columns.values():
            options = {k: v for k, v in options.items() if v is not None}
            row += list(inpainter(face, mask, method=method, steps=args.steps, seed=i, progress=False, **options))
        rows.append(row)
        labels.append(f"face {i}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    image_grid(rows, col_labels=["original", "input", *columns], row_labels=labels, cell=96).save(args.out)
    print(f"wrote {args.out}")
    return args.out


if __name__ == "__main__":
    main()
