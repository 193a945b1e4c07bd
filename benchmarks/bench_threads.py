"""The CPU thread policy on a quiet machine and on a busy one (another process spinning on one core), side by
side: seconds of one inpaint under torch's defaults (one thread per core, OpenMP threads spinning while they
wait), and under inpaintkit's (``--threads auto``: the idle cores; idle threads sleep, OMP_WAIT_POLICY=PASSIVE).

    python benchmarks/bench_threads.py [--model faces-32] [--method dps] [--steps 50]
    python benchmarks/bench_threads.py --quick        # the tiny model, 3 steps

Each setting runs in a fresh process (the OpenMP wait policy is read when torch loads).
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time

SETTINGS = {  # name -> (environment, threads argument)
    "torch default (2 threads, spinning)": ({"OMP_WAIT_POLICY": "ACTIVE"}, "2"),
    "1 thread": ({"OMP_WAIT_POLICY": "ACTIVE"}, "1"),
    "inpaintkit default (auto, sleeping)": ({}, "auto"),
}

CHILD = """
import json, sys, time, inpaintkit, torch  # inpaintkit first: it sets the OpenMP wait policy before torch loads
from inpaintkit.api import Inpainter
from inpaintkit.testing.images import smooth_image, square_hole
model, method, steps, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
inpainter = Inpainter(model, threads=threads)
side = inpainter.model.resolution
image, mask = smooth_image(side, seed=1), square_hole(side, size=0.5)
inpainter(image, mask, method=method, steps=2, progress=False)
start = time.perf_counter()
inpainter(image, mask, method=method, steps=steps, progress=False)
print(json.dumps({"seconds": time.perf_counter() - start, "threads": torch.get_num_threads()}))
"""


def spin(stop) -> None:
    while not stop.is_set():
        pass


def measure(model: str, method: str, steps: int, env: dict, threads: str) -> dict:
    environment = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", CHILD, model, method, str(steps), threads], check=True,
                         capture_output=True, text=True, env={**environment, **env}).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="faces-32")
    p.add_argument("--method", default="dps")
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        import torch

        from inpaintkit.testing.tiny import tiny_pixel_model

        args.model = tempfile.mkdtemp(prefix="threads-model-")
        torch.manual_seed(0)
        tiny_pixel_model(16).unet.save_pretrained(args.model)
        args.steps = 3
    print(f"{args.method}, {args.steps} steps on {args.model}, {len(os.sched_getaffinity(0))} cores")
    print(f"{'setting':40s} {'quiet (s)':>10s} {'one core busy (s)':>18s}  threads quiet / busy")
    for name, (env, threads) in SETTINGS.items():
        quiet = measure(args.model, args.method, args.steps, env, threads)
        stop = multiprocessing.Event()
        spinner = multiprocessing.Process(target=spin, args=(stop,), daemon=True)
        spinner.start()
        time.sleep(0.3)
        try:
            busy = measure(args.model, args.method, args.steps, env, threads)
        finally:
            stop.set()
            spinner.join()
        print(f"{name:40s} {quiet['seconds']:10.2f} {busy['seconds']:18.2f}  {quiet['threads']} / {busy['threads']}")


if __name__ == "__main__":
    main()
