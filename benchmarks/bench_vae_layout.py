"""TAESD decode at 256 px in the contiguous and channels-last layouts, side by side: seconds for a
decode and for a decode with its backward pass (DPS-latent's per-step extra), best of 4, alternated.

    OMP_NUM_THREADS=2 python benchmarks/bench_vae_layout.py [--model faces-256-latent]
    python benchmarks/bench_vae_layout.py --quick     # the tiny test autoencoder
"""
from __future__ import annotations

import argparse
import time

import torch

from inpaintkit.models import load_model
from inpaintkit.evaluation.speed import best_seconds



def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="faces-256-latent", help="a latent model (built-in name or folder)")
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        from inpaintkit.testing.tiny import tiny_latent_model

        model, args.model = tiny_latent_model(32), "tiny-latent"
    else:
        model = load_model(args.model, dtype=torch.float32)
    z = torch.randn(model.latent_shape(1), generator=torch.Generator().manual_seed(0))
    target = torch.zeros(1, 3, model.resolution, model.resolution)

    def decode():
        with torch.no_grad():
            model.decode(z)

    def decode_backward():
        x = z.clone().requires_grad_(True)
        torch.autograd.grad((target - model.decode(x)).norm(), x)

    print(f"{args.model}: {torch.get_num_threads()} threads, decode to {model.resolution} px")
    for layout in ("contiguous_format", "channels_last") * 2:
        model.autoencoder.vae.to(memory_format=getattr(torch, layout))
        print(f"{layout:18s} decode {best_seconds(decode):.3f} s   decode + backward {best_seconds(decode_backward):.3f} s")


if __name__ == "__main__":
    main()
