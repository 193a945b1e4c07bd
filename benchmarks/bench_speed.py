"""Inference speed on this machine, side by side in one run: images per second of the per-image API, the CLI's
folder mode and the bench on the same faces, at fp32 and on the bf16 fast path; the U-Net's and the
decoder's achieved GFLOP/s against this CPU's measured matmul peak at each precision, and where a U-Net call's
time goes (milliseconds per kind of operation at each precision); DPS-latent per image.

    OMP_NUM_THREADS=2 python benchmarks/bench_speed.py [--model faces-32] [--images 16] [--steps 50]
    python benchmarks/bench_speed.py --quick      # tiny models, a few steps

Folder mode and the CLI bench run as processes of their own (``inpaintkit inpaint DIR DIR``, ``inpaintkit
bench``: start-up included, as a user sees them); the API and the in-process bench (``run_bench``) run in this
process after a warm-up. FLOPs are counted by torch's FlopCounterMode
(multiply-adds x 2) on one forward pass.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

from inpaintkit.api import Inpainter
from inpaintkit.core.images import to_pil
from inpaintkit.data.masks import mask_from_name
from inpaintkit.evaluation.bench import run_bench
from inpaintkit.evaluation.config import BenchConfig
from inpaintkit.evaluation.speed import best_seconds
from inpaintkit.models import load_model
from inpaintkit.models.precision import set_precision
from inpaintkit.sampling import sample


def matmul_peak(dtype: torch.dtype, n: int = 1536) -> float:
    """GFLOP/s of an n x n x n matmul (best of 3)."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    return 2 * n**3 / best_seconds(lambda: a @ b) / 1e9


def flops(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


@torch.no_grad()
def network_rates(model, batch: int) -> dict:
    x = torch.randn(model.latent_shape(batch))
    t = torch.full((batch,), 500)
    unet = lambda: model.unet(x.to(model.dtype), t)  # noqa: E731
    out = {"unet_gflops": flops(unet) / 1e9}
    out["unet_gflop_s"] = out["unet_gflops"] / best_seconds(unet)
    if model.autoencoder is not None:
        z = torch.randn(model.latent_shape(1))
        decode = lambda: model.decode(z)  # noqa: E731
        out["decode_gflops"] = flops(decode) / 1e9
        out["decode_gflop_s"] = out["decode_gflops"] / best_seconds(decode)
    return out


OP_KINDS = {"convolution": ("convolution",), "group norm": ("group_norm",), "attention": ("attention",),
            "activation": ("silu", "gelu"), "linear": ("addmm", "aten::mm", "bmm", "matmul")}


@torch.no_grad()
def op_breakdown(model, batch: int) -> dict[str, float]:
    """Milliseconds per U-Net call spent in each kind of operation (self time, torch's profiler, 5 calls)."""
    x = torch.randn(model.latent_shape(batch)).to(model.dtype)
    t = torch.full((batch,), 500)
    for _ in range(2):
        model.unet(x, t)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(5):
            model.unet(x, t)
    out = dict.fromkeys([*OP_KINDS, "other"], 0.0)
    for event in prof.key_averages():
        kind = next((k for k, names in OP_KINDS.items() if any(n in event.key for n in names)), "other")
        out[kind] += event.self_cpu_time_total / 1000 / 5
    return out


@torch.no_grad()
def compile_rates(folder_model: str, batch: int, peak: float) -> None:
    print(f"\ntorch.compile of the U-Net (--compile), bf16, batch {batch}:")
    model = load_model(folder_model)
    set_precision(model, "bf16")
    eager = network_rates(model, batch)
    x, t = torch.randn(model.latent_shape(batch)).to(model.dtype), torch.full((batch,), 500)
    model.unet.compile()
    start = time.perf_counter()
    model.unet(x, t)
    first = time.perf_counter() - start
    compiled = eager["unet_gflops"] / best_seconds(lambda: model.unet(x, t))
    print(f"first call {first:.1f} s (compilation); then {compiled:.0f} GFLOP/s vs {eager['unet_gflop_s']:.0f} "
          f"eager ({compiled / eager['unet_gflop_s']:.2f}x, {100 * compiled / peak:.0f} % of the bf16 peak)")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="faces-32")
    p.add_argument("--latent-model", default="faces-256-latent", help="for the decoder and DPS-latent rows")
    p.add_argument("--images", type=int, default=16)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    precisions = ["fp32", "bf16"]
    if args.quick:
        from inpaintkit.testing.tiny import tiny_latent_model, tiny_pixel_model

        args.images, args.steps, args.batch = 3, 2, 2
        pixel_source, latent = tiny_pixel_model(16), tiny_latent_model(32)
        folder_model = tempfile.mkdtemp(prefix="speed-model-")
        pixel_source.unet.save_pretrained(folder_model)
    else:
        pixel_source, latent = load_model(args.model), load_model(args.latent_model)
        folder_model = args.model
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, bf16 native: "
          f"{bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())}")
    peaks = {name: matmul_peak(dtype) for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16))}
    print(f"matmul peak: fp32 {peaks['fp32']:.0f} GFLOP/s, bf16 {peaks['bf16']:.0f} GFLOP/s")

    res = pixel_source.resolution
    faces = sample(pixel_source, args.images, 25 if not args.quick else 2,
                   [torch.Generator().manual_seed(i) for i in range(args.images)], show_progress=False)
    masks = [mask_from_name("thick", res, i) for i in range(args.images)]
    work = Path(tempfile.mkdtemp(prefix="speed-"))
    (work / "images").mkdir()
    (work / "masks").mkdir()
    for i, (face, mask) in enumerate(zip(faces, masks)):
        to_pil(face).save(work / "images" / f"{i:03d}.png")
        to_pil(mask[0].expand(3, -1, -1) * 2 - 1).save(work / "masks" / f"{i:03d}.png")

    print(f"\n{args.images} images, combine-image, {args.steps} steps, batch {args.batch} (images/s):")
    print(f"{'precision':10s} {'per-image API':>14s} {'folder mode':>12s} {'CLI bench':>10s} {'bench':>8s}   "
          f"U-Net GFLOP/s (% of peak)")
    breakdown = {}
    for precision in precisions:
        model = load_model(folder_model) if isinstance(folder_model, str) else pixel_source
        inpainter = Inpainter(model, threads=None, precision=precision)
        pairs = list(zip(faces, masks))

        def cli(command: list[str]) -> None:
            subprocess.run([sys.executable, "-m", "inpaintkit", *command, "--model", str(folder_model),
                            "--batch-size", str(args.batch), "--precision", precision,
                            "--threads", str(torch.get_num_threads())], check=True, capture_output=True)

        def per_image():
            for i, (face, mask) in enumerate(pairs):
                inpainter(face, mask, steps=args.steps, seed=i, progress=False)

        api = args.images / best_seconds(per_image, 1)
        out = work / f"out-{precision}"
        start = time.perf_counter()
        cli(["inpaint", str(work / "images"), str(work / "masks"), "-o", str(out), "--steps", str(args.steps)])
        folder = args.images / (time.perf_counter() - start)
        start = time.perf_counter()
        cli(["bench", "--out", tempfile.mkdtemp(dir=work), "--method", "combine-image", "--set",
             f"combine-image.steps={args.steps}", "--images", str(work / "images"), "--masks", "thick"])
        cli_bench = args.images / (time.perf_counter() - start)
        cfg = BenchConfig.from_dict(dict(methods=[{"name": "combine-image", "options": {"steps": args.steps}}],
                                         images=[str(work / "images")], model=str(folder_model), masks=["thick"],
                                         batch_size=args.batch, device="cpu", precision=precision))
        bench = args.images / best_seconds(lambda: run_bench(cfg, tempfile.mkdtemp(dir=work), progress=False), 1)
        rates = network_rates(inpainter.model, args.batch)
        breakdown[precision] = op_breakdown(inpainter.model, args.batch)
        print(f"{precision:10s} {api:14.2f} {folder:12.2f} {cli_bench:10.2f} {bench:8.2f}   "
              f"{rates['unet_gflop_s']:.0f} ({100 * rates['unet_gflop_s'] / peaks[precision]:.0f} %)")

    print(f"\nwhere a U-Net call's time goes, batch {args.batch} (ms per call, self time):")
    print(f"{'operation':12s} " + " ".join(f"{p:>7s}" for p in precisions) + "   fp32 / bf16")
    for kind in breakdown["fp32"]:
        fp32, bf16 = breakdown["fp32"][kind], breakdown["bf16"][kind]
        print(f"{kind:12s} {fp32:7.2f} {bf16:7.2f}   {fp32 / bf16 if bf16 else float('nan'):.2f}x")

    if not args.quick:  # compilation takes tens of seconds (the slow test covers --compile itself)
        compile_rates(folder_model, args.batch, peaks["bf16"])

    print(f"\n{latent.name}: decoder and DPS-latent ({args.steps} steps, 1 image)")
    image, mask = (torch.zeros(1, 3, latent.resolution, latent.resolution),
                   mask_from_name("thick", latent.resolution, 0))
    for precision in precisions:
        set_precision(latent, precision)
        inpainter = Inpainter(latent, threads=None)
        rates = network_rates(latent, 1)
        dps = best_seconds(lambda: inpainter(image, mask, method="dps", steps=args.steps, zeta=1.0, progress=False), 1)
        print(f"{precision:10s} decode {rates['decode_gflops']:.1f} GFLOP at {rates['decode_gflop_s']:.0f} GFLOP/s "
              f"({100 * rates['decode_gflop_s'] / peaks[precision]:.0f} % of peak); DPS-latent {dps:.2f} s/image")


if __name__ == "__main__":
    main()
