"""Training throughput in fp32 and under bf16 autocast (``inpaintkit train --bf16``), side by side:
images per second of one optimiser step of a built-in architecture, best of 3, the two alternated.

    OMP_NUM_THREADS=2 python benchmarks/bench_train_precision.py [--architecture text32-cpu] [--batch 64]
    python benchmarks/bench_train_precision.py --quick     # the tiny U-Net

On a CPU the gain needs AVX512-BF16 or AMX (``torch.ops.mkldnn._is_mkldnn_bf16_supported()``).
"""
from __future__ import annotations

import argparse
import time

import torch

from inpaintkit.core.env import pick_device
from inpaintkit.nets.unets import UNET_PRESETS, build_unet, is_text_architecture


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--architecture", default="text32-cpu", choices=sorted(UNET_PRESETS))
    p.add_argument("--resolution", type=int, default=32, help="side of the U-Net's input")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--device", default="auto")
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        args.architecture, args.resolution, args.batch = "tiny-text", 8, 4
    device = pick_device(args.device)
    torch.manual_seed(0)
    text = is_text_architecture(args.architecture)
    channels = 4 if args.architecture.startswith("latent") else 3
    unet = build_unet(args.architecture, args.resolution, channels, 384 if text else None).to(device)
    opt = torch.optim.AdamW(unet.parameters(), lr=1e-4)
    x = torch.randn(args.batch, channels, args.resolution, args.resolution, device=device)
    t = torch.randint(0, 1000, (args.batch,), device=device)
    cond = dict(encoder_hidden_states=torch.randn(args.batch, 16, 384, device=device)) if text else {}

    def step(bf16: bool) -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            pred = unet(x, t, **cond).sample
        loss = (pred.float() - x).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()

    times = {False: [], True: []}
    for bf16 in (False, True):
        step(bf16)  # warm-up
    for _ in range(3):
        for bf16 in (False, True):
            start = time.perf_counter()
            step(bf16)
            times[bf16].append(time.perf_counter() - start)
    supported = device.type != "cpu" or torch.ops.mkldnn._is_mkldnn_bf16_supported()
    print(f"{args.architecture} at {args.resolution} px, batch {args.batch}, {device}"
          f" ({torch.get_num_threads()} threads), bf16 supported: {supported}")
    rate = {bf16: args.batch / min(ts) for bf16, ts in times.items()}
    for bf16, name in ((False, "fp32"), (True, "bf16 autocast")):
        print(f"{name:14s} {min(times[bf16]):.3f} s/step  {rate[bf16]:.1f} images/s")
    print(f"bf16 / fp32 throughput: {rate[True] / rate[False]:.2f}x")


if __name__ == "__main__":
    main()
