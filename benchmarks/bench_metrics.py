"""Throughput of the learned metrics: images per second for LPIPS (AlexNet, VGG) and Inception features.

    OMP_NUM_THREADS=2 python benchmarks/bench_metrics.py --threads 2 --size 32 --size 256
    python benchmarks/bench_metrics.py --quick     # 2 small images, one repeat

Each measurement runs one warm-up batch, then times ``--repeats`` batches of ``--batch`` images
(an LPIPS "image" is one pair). Inception resizes every input to 299x299, so its cost barely
depends on the input size.
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from inpaintkit.evaluation.metrics import LPIPS, InceptionFeatures


def images_per_second(fn, batch: int, repeats: int) -> float:
    fn()  # warm-up (TorchScript profiling runs, allocator)
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return batch * repeats / (time.perf_counter() - start)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--size", type=int, action="append", help="image side (repeatable); default 32")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.threads, args.size, args.batch, args.repeats = torch.get_num_threads(), [32], 2, 1
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    nets = {"lpips-alex": LPIPS("alex", args.device), "lpips-vgg": LPIPS("vgg", args.device)}
    inception = InceptionFeatures(args.device)
    results = []
    for size in args.size or [32]:
        x = torch.rand(args.batch, 3, size, size, generator=g) * 2 - 1
        y = torch.rand(args.batch, 3, size, size, generator=g) * 2 - 1
        for name, net in nets.items():
            if size >= 31 or name == "lpips-vgg":
                results.append((name, size, images_per_second(lambda: net.batched(x, y), args.batch, args.repeats)))
        results.append(("inception", size, images_per_second(lambda: inception(x), args.batch, args.repeats)))
    print(f"{'metric':<12} {'size':>5} {'images/s':>9}   ({args.threads} threads, {args.device})")
    for name, size, ips in results:
        print(f"{name:<12} {size:>5} {ips:>9.1f}")
    print(json.dumps([{"metric": n, "size": s, "images_per_second": round(v, 2), "threads": args.threads}
                      for n, s, v in results]))


if __name__ == "__main__":
    main()
