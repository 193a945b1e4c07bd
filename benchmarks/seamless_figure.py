"""Towards Seamless Borders' figure: faces the model drew itself (free to show), outpainted from their central half
(``Inpainter.outpaint``'s canvas: a 128 px crop grown by 64 px on every side) and inpainted under a thick mask, with Blended
Latent Diffusion, + the seam-aware decoder, + the two-step U-Net, + both (the ``seamless`` method's switches); the
same seed for every column of a row.

    python benchmarks/seamless_figure.py [--model faces-256-latent] [--two-step DIR] [--decoder DIR] [--out docs/seamless_figure.png]
    python benchmarks/seamless_figure.py --quick     # a tiny model with random components, into a temporary file
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from inpaintkit.api import Inpainter
from inpaintkit.core.geometry import outpaint_canvas
from inpaintkit.data.masks import mask_from_name
from inpaintkit.evaluation.grid import image_grid
from inpaintkit.models import load_model
from inpaintkit.sampling import sample


def main(argv=None) -> Path:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="faces-256-latent")
    p.add_argument("--faces", type=int, default=3, help="faces per task (outpainting, inpainting)")
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--two-step", default="shipped", help="the two-step U-Net (default: the model folder's)")
    p.add_argument("--decoder", default="shipped", help="the seam-aware decoder (default: the model folder's)")
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "seamless_figure.png")
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        from inpaintkit.nets.unets import build_unet
        from inpaintkit.testing.tiny import tiny_latent_model, tiny_vae

        model = tiny_latent_model(32)
        root = Path(tempfile.mkdtemp())
        build_unet("tiny", 4, channels=4).save_pretrained(root / "unet")
        tiny_vae(7).save_pretrained(root / "vae")
        args.faces, args.steps, args.two_step, args.decoder = 1, 3, str(root / "unet"), str(root / "vae")
        args.out = root / "seamless_figure.png"
    else:
        model = load_model(args.model)
    columns = {"BLD": dict(two_step="none", decoder="none"), "+ decoder": dict(two_step="none", decoder=args.decoder),
               "+ two-step": dict(two_step=args.two_step, decoder="none"),
               "+ both": dict(two_step=args.two_step, decoder=args.decoder)}
    faces = sample(model, 2 * args.faces, 50, [torch.Generator().manual_seed(400 + i) for i in range(2 * args.faces)],
                   show_progress=False)
    inpainter = Inpainter(model, threads=None)
    side, quarter = model.resolution, model.resolution // 4
    rows, labels = [], []
    for i, face in enumerate(faces):
        outpainting = i < args.faces
        if outpainting:  # the central half on a canvas grown by a quarter of the side on every side
            image, mask = outpaint_canvas(face[None, :, quarter:side - quarter, quarter:side - quarter], *[quarter] * 4)
        else:
            image, mask = face[None], mask_from_name("thick", side, i)
        shown = image * (1 - mask)
        row = [shown[0]]
        for options in columns.values():
            row += list(inpainter(image, mask, method="seamless", steps=args.steps, seed=i, progress=False, **options))
        rows.append([*row, face])
        labels.append("outpaint" if outpainting else "inpaint")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    image_grid(rows, col_labels=["input", *columns, "model's face"], row_labels=labels, cell=160).save(args.out)
    print(f"wrote {args.out}")
    return args.out


if __name__ == "__main__":
    main()
