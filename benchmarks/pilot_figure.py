"""PILOT's figure on the text-conditioned model: one image with several prompts, and the same hole with and without
the ControlNet's edges. The images are ones the model drew itself (free to show), each with one box-center hole
and one seed for every column.

    python benchmarks/pilot_figure.py [--model cifar10-text] [--method pilot] [--guidance 7.5] [--out FILE]
        # default --out: docs/pilot_figure.png
    python benchmarks/pilot_figure.py --quick    # the tiny text model, an untrained ControlNet, a temporary file

Top: the drawn image, the input, and PILOT's fill for the image's own class and three others. Bottom: the control
map PILOT composes (the input's Canny edges outside the hole, the edges of another drawn image of the prompted class
inside), PILOT without the ControlNet, and with it.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch
from PIL import Image

from inpaintkit.api import Inpainter
from inpaintkit.core.files import save_image
from inpaintkit.core.images import to_pil
from inpaintkit.data.images import class_prompt
from inpaintkit.data.masks import mask_from_name
from inpaintkit.evaluation.grid import image_grid
from inpaintkit.models import load_model
from inpaintkit.models.controlnet import canny_map
from inpaintkit.sampling import sample

ROOT = Path(__file__).resolve().parents[1]
# (the class drawn, the classes prompted in the hole); the first prompted class is the drawn one
PROMPTS = [("horse", ["horse", "deer", "dog", "cat"]), ("automobile", ["automobile", "truck", "ship", "airplane"])]
CONTROL = [("horse", "deer"), ("automobile", "truck")]  # (the class drawn, the class whose edges fill the hole)


def draw(model, classes: list[str], steps: int, guidance: float, seed: int) -> torch.Tensor:
    cond = model.condition([class_prompt(c) for c in classes], guidance)
    gens = [torch.Generator().manual_seed(seed + i) for i in range(len(classes))]
    return sample(model, len(classes), steps, gens, eta=0.0, cond=cond, show_progress=False)


def main(argv=None) -> Path:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="cifar10-text")
    p.add_argument("--method", default="pilot", help="pilot (the paper's 200 steps, gamma 1) or pilot-fast")
    p.add_argument("--guidance", type=float, default=7.5, help="classifier-free guidance of the drawing and the fills")
    p.add_argument("--controlnet", default="canny", help="a ControlNet folder, or the model's shipped one by name")
    p.add_argument("--masks", default="box-center")
    p.add_argument("--seed", type=int, default=300)
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "pilot_figure.png")
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    options = {}
    if args.quick:
        from diffusers import ControlNetModel

        from inpaintkit.testing.tiny import tiny_conditional_model

        model = tiny_conditional_model(32)
        folder = Path(tempfile.mkdtemp())
        controlnet = ControlNetModel.from_unet(model.unet, conditioning_channels=3,  # 8x down: the tiny model is latent
                                               conditioning_embedding_out_channels=(4, 8, 8, 8))
        controlnet.save_pretrained(folder / "controlnet")
        args.controlnet, args.out = str(folder / "controlnet"), folder / "pilot_figure.png"
        args.method, options = "pilot-fast", {"steps": 4}
    else:
        model = load_model(args.model)
    inpainter = Inpainter(model, threads=None)

    def fill(image, mask, cls, **extra):
        return inpainter(image, mask, method=args.method, prompt=class_prompt(cls), seed=args.seed,
                         guidance_scale=args.guidance, progress=False, **options, **extra)

    steps = 4 if args.quick else 50
    drawn = draw(model, [c for c, _ in PROMPTS], steps, args.guidance, args.seed)
    donors = draw(model, [c for _, c in CONTROL], steps, args.guidance, args.seed + 100)
    mask = mask_from_name(args.masks, model.resolution, 0)[0]
    rows, labels = [], []
    for image, (own, prompted) in zip(drawn, PROMPTS):
        image = image[None]
        rows.append([image, image * (1 - mask), *[fill(image, mask, c) for c in prompted]])
        labels.append(f"drawn: {own}")
    top = image_grid(rows, col_labels=["drawn", "input", *[f"'{c}'" if i else f"'{c}' (own)" for i, c in
                                                          enumerate(PROMPTS[0][1])]],
                     row_labels=labels, cell=96)
    rows, labels = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for image, donor, (own, other) in zip(drawn, donors, CONTROL):
            image, edges = image[None], canny_map(donor[None])
            control_file = save_image(to_pil(edges * 2 - 1), Path(tmp) / f"{other}.png")
            composite = (1 - mask) * canny_map(image) + mask * edges
            rows.append([image, image * (1 - mask), composite * 2 - 1, fill(image, mask, other),
                         fill(image, mask, other, controlnet=args.controlnet, control_image=str(control_file))])
            labels.append(f"{own} -> '{other}'")
    bottom = image_grid(rows, col_labels=["drawn", "input", "control map", "no ControlNet", "ControlNet"],
                        row_labels=labels, cell=96)
    sheet = Image.new("RGB", (max(top.width, bottom.width), top.height + bottom.height + 8), "white")
    sheet.paste(top, (0, 0))
    sheet.paste(bottom, (0, top.height + 8))
    save_image(sheet, args.out)
    print(f"wrote {args.out}")
    return args.out


if __name__ == "__main__":
    main()
