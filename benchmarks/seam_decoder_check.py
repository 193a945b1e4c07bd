"""The seam-aware decoder's acceptance test (Towards Seamless Borders, Fig. 1), no diffusion involved: on held-out
faces and masks, decode the blended latent M_r E(x) + (1 - M_r) E((1 - M) x) (what inference decodes), paste the
known pixels, and compare a decoder against the model's own, side by side:

- the seam's excess Color Distance over the ground truth's own, CD(output) - CD(x) (lower: less seam);
- PSNR in the hole (must not fall), and the plain round trip's PSNR, D(E(x)) vs x (within 0.3 dB of the original's).

    python benchmarks/seam_decoder_check.py --vae runs/seam-decoder/vae [--model faces-256-latent] [--n 100] \
        [--figure src/inpaintkit/weights/faces-256-latent/seamless/seam_decoder.png]
    python benchmarks/seam_decoder_check.py --quick        # a tiny model against itself
"""
from __future__ import annotations

import argparse
import os
import tempfile

import numpy as np
import torch

from inpaintkit.core.geometry import latent_mask
from inpaintkit.core.schedule import LATENT_SCHEDULE
from inpaintkit.data.images import list_images, load_image_tensor
from inpaintkit.data.masks import mask_from_name
from inpaintkit.evaluation.metrics.pixel import color_distance, psnr
from inpaintkit.models import load_model
from inpaintkit.models.loading import load_vae
from inpaintkit.train.objectives import seam_blend

MASK_SETS = ("thick", "box-center", "expand")


@torch.no_grad()
def blended_decode(autoencoder, faces: torch.Tensor, masks: torch.Tensor, encoder) -> torch.Tensor:
    """One decoder's (``autoencoder``) decode of Eq. 6's latent from ``encoder``'s (the frozen E), the known
    pixels pasted back: what inference shows."""
    z, z_masked = encoder.encode(faces), encoder.encode((1 - masks) * faces)
    blended = autoencoder.decode(seam_blend(z, z_masked, latent_mask(masks, z.shape[-2:])))
    return masks * blended + (1 - masks) * faces


@torch.no_grad()
def figures(autoencoder, faces: torch.Tensor, masks: torch.Tensor, encoder) -> dict:
    """The check's figures for one decoder."""
    pasted = blended_decode(autoencoder, faces, masks, encoder)
    return {"excess CD": float(np.mean(color_distance(pasted, masks) - color_distance(faces, masks))),
            "hole PSNR": float(np.mean(psnr(pasted, faces, masks))),
            "round-trip PSNR": float(np.mean(psnr(autoencoder.decode(encoder.encode(faces)), faces)))}


def figure(model, tuned, path: str) -> None:
    """One face per mask set, drawn by the model itself (free to show): the input, both autoencoders' blended
    decodes (the model's encoder for both) and their errors (x4), the truth."""
    from inpaintkit.evaluation.grid import image_grid
    from inpaintkit.sampling import sample

    original, resolution = model.autoencoder, model.resolution
    faces = sample(model, len(MASK_SETS), 50, [torch.Generator().manual_seed(300 + i) for i in range(len(MASK_SETS))],
                   show_progress=False)
    rows = []
    for i, name in enumerate(MASK_SETS):
        face, mask = faces[i:i + 1], mask_from_name(name, resolution, i)
        outs = [blended_decode(autoencoder, face, mask, original) for autoencoder in (original, tuned)]
        errors = [((out - face).abs() * 4 - 1).clamp(-1, 1).mean(1, keepdim=True).expand(-1, 3, -1, -1)
                  for out in outs]
        rows.append([t[0] for t in (face * (1 - mask), *outs, *errors, face)])
    image_grid(rows, col_labels=["input", "original decoder", "seam-aware decoder", "original |error| x4",
                                 "seam-aware |error| x4", "truth"], row_labels=list(MASK_SETS), cell=192).save(path)
    print(f"figure: {path}")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="faces-256-latent")
    p.add_argument("--vae", help="the decoder to check (a folder train-seamless --stage decoder wrote)")
    p.add_argument("--data", default="data:celeba/test")
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--crop", type=int, default=178)
    p.add_argument("--figure", help="write a figure of one face per mask set here (PNG)")
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        from inpaintkit.models.export import write_model_folder
        from inpaintkit.nets.unets import build_unet
        from inpaintkit.testing.images import noise_pil
        from inpaintkit.testing.tiny import tiny_vae

        root = tempfile.mkdtemp(prefix="seam-check-")
        args.model = str(write_model_folder(f"{root}/model", build_unet("tiny", 4, channels=4), LATENT_SCHEDULE,
                                            vae=tiny_vae(0), dtype=None))
        args.vae, args.data, args.n, args.crop = f"{args.model}/vae", f"{root}/faces", 3, None
        args.figure = f"{root}/figure.png"
        os.makedirs(args.data)
        for i in range(3):
            noise_pil(32, 32, seed=i).save(f"{args.data}/{i}.png")
    if not args.vae:
        p.error("--vae is needed (or --quick)")
    original = load_model(args.model)
    tuned = load_vae(args.vae)
    faces = load_image_tensor(list_images(args.data)[:args.n], original.resolution, args.crop, progress=False)
    print(f"{len(faces)} faces of {args.data} at {original.resolution} px; decoders: {args.model}'s and {args.vae}")
    print(f"{'masks':12s} {'decoder':10s} {'excess CD':>10s} {'hole PSNR':>10s} {'round-trip PSNR':>16s}")
    for name in MASK_SETS:
        masks = torch.cat([mask_from_name(name, original.resolution, i) for i in range(len(faces))])
        for label, autoencoder in (("original", original.autoencoder), ("tuned", tuned)):
            f = figures(autoencoder, faces, masks, original.autoencoder)
            print(f"{name:12s} {label:10s} {f['excess CD']:10.2f} {f['hole PSNR']:10.2f} {f['round-trip PSNR']:16.2f}")
    if args.figure:
        figure(original, tuned, args.figure)


if __name__ == "__main__":
    main()
