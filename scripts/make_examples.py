"""Writes ``examples/``, the inputs of the README's examples: faces the built-in model drew itself (free to
ship, unlike CelebA photos) and masks, white = the region to fill.

    examples/face.png, examples/mask.png      one face and a centre box
    examples/photos/face{i}.png               a few faces for folder mode and `inpaintkit train --data`
    examples/masks/face{i}.png                one mask each, paired by name (box, thick strokes, right half)

Deterministic: the same seed writes the same files. ``--quick`` writes two faces of 4 steps to a temporary
folder (the test suite runs it).
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from inpaintkit import DEFAULT_MODEL
from inpaintkit.core.files import save_image
from inpaintkit.core.images import to_pil
from inpaintkit.data.masks import mask_from_name
from inpaintkit.models import load_model
from inpaintkit.sampling import sample

MASK_SETS = ("box-center", "thick", "half-right")


def write_examples(out: Path, model_name: str, count: int, steps: int, seed: int) -> list[Path]:
    model = load_model(model_name)
    generators = [torch.Generator().manual_seed(seed + i) for i in range(count)]
    with torch.no_grad():
        faces = sample(model, count, steps, generators, show_progress=False).cpu()
    written = []
    for i in range(count):
        mask = mask_from_name(MASK_SETS[i % len(MASK_SETS)], model.resolution, seed + i)
        pairs = [(out / "photos" / f"face{i}.png", faces[i]), (out / "masks" / f"face{i}.png", mask[0].expand(3, -1, -1) * 2 - 1)]
        if i == 0:
            pairs += [(out / "face.png", faces[i]), (out / "mask.png", mask[0].expand(3, -1, -1) * 2 - 1)]
        for path, image in pairs:
            path.parent.mkdir(parents=True, exist_ok=True)
            save_image(to_pil(image), path)
            written.append(path)
    return written


def main(argv=None) -> list[Path]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("examples"))
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--count", type=int, default=4)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="two faces of 4 steps in a temporary folder")
    args = ap.parse_args(argv)
    if args.quick:
        args.out, args.count, args.steps = Path(tempfile.mkdtemp(prefix="examples-")), 2, 4
    written = write_examples(args.out, args.model, args.count, args.steps, args.seed)
    print(f"wrote {len(written)} files under {args.out}")
    return written


if __name__ == "__main__":
    main()
