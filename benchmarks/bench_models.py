"""Inference speed of every built-in model on this machine: ms per network call (batch 1 and 16) and
seconds per 50-step image (the latent model's TAESD decode included; the text model at guidance 1,
one network call per step, and 3, two).

    OMP_NUM_THREADS=2 python benchmarks/bench_models.py [--steps 50] [--device cpu]
"""
from __future__ import annotations

import argparse

import torch

from inpaintkit.models import builtin_models, load_model, model_info
from inpaintkit.speed import model_speed


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}")
    print(f"{'model':18s} {'space':7s} {'guidance':>8s} {'ms/call b1':>10s} {'ms/call b16':>11s} "
          f"{'s/image':>8s}  ({args.steps} steps)")
    for name, folder in builtin_models().items():
        model = load_model(name, device=args.device, dtype=torch.float32)
        prompts = model_info(folder).get("prompts")
        for guidance in ((1.0, 3.0) if prompts else (1.0,)):
            prompt = prompts[0] if prompts else None
            one = model_speed(model, prompt, guidance, args.steps)
            sixteen = model_speed(model, prompt, guidance, args.steps, images=0, batch=16)
            print(f"{name:18s} {model.space:7s} {guidance:8.0f} {one['ms_per_call']:10.1f} "
                  f"{sixteen['ms_per_call']:11.1f} {one['s_per_image']:8.2f}")


if __name__ == "__main__":
    main()
