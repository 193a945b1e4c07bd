"""Inference speed of every built-in model on this machine: ms per network call (batch 1 and 16) and
seconds per 50-step image (the latent model's TAESD decode included; the text model at guidance 1,
one network call per step, and 3, two).

    OMP_NUM_THREADS=2 python benchmarks/bench_models.py [--steps 50] [--device cpu]
    python benchmarks/bench_models.py --quick     # the tiny test models, a few steps
"""
from __future__ import annotations

import argparse

import torch

from inpaintkit.evaluation.speed import model_speed
from inpaintkit.models import builtin_models, load_model


def models(quick: bool, device: str):
    """(name, model, prompts) of every model to time."""
    if quick:
        from inpaintkit.testing.tiny import tiny_conditional_model, tiny_latent_model, tiny_pixel_model

        return [("tiny-pixel", tiny_pixel_model(16), None), ("tiny-latent", tiny_latent_model(32), None),
                ("tiny-conditional", tiny_conditional_model(32), ["a photo"])]
    return [(name, load_model(name, device=device, dtype=torch.float32), None) for name in builtin_models()]


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--device", default="cpu")
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        args.steps = 3
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}")
    print(f"{'model':18s} {'space':7s} {'guidance':>8s} {'ms/call b1':>10s} {'ms/call b16':>11s} "
          f"{'s/image':>8s}  ({args.steps} steps)")
    calls = 2 if args.quick else 20
    for name, model, prompts in models(args.quick, args.device):
        prompts = prompts or model.info.get("prompts")
        for guidance in ((1.0, 3.0) if prompts else (1.0,)):
            prompt = prompts[0] if prompts else None
            one = model_speed(model, prompt, guidance, args.steps, calls=calls, images=1 if args.quick else 2)
            sixteen = model_speed(model, prompt, guidance, args.steps, calls=calls, images=0, batch=16)
            print(f"{name:18s} {model.space:7s} {guidance:8.0f} {one['ms_per_call']:10.1f} "
                  f"{sixteen['ms_per_call']:11.1f} {one['s_per_image']:8.2f}")


if __name__ == "__main__":
    main()
