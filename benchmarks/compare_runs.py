"""How far two bench runs of the same config are from each other, output for output: per method and mask set,
the mean and largest LPIPS-alex and the median PSNR between the images that the two runs wrote for the same image, mask and
seed (for example the fp32 and the bf16 run of benchmarks/configs/precision-faces.yaml).

    python benchmarks/compare_runs.py RUN_A RUN_B
    python benchmarks/compare_runs.py --quick     # two tiny runs (a random model, fp32 and bf16) compared
"""
from __future__ import annotations

import argparse
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from inpaintkit.core.images import load_image
from inpaintkit.evaluation.metrics import LPIPS, psnr
from inpaintkit.evaluation.rundir import RunDir, read_manifest


def quick_runs() -> tuple[str, str]:
    """The same tiny bench (a random 32 px model, two random images, thick masks) at fp32 and at bf16."""
    from inpaintkit.core.images import to_pil
    from inpaintkit.evaluation.bench import run_bench
    from inpaintkit.evaluation.config import BenchConfig
    from inpaintkit.testing.images import smooth_image
    from inpaintkit.testing.tiny import tiny_pixel_model

    work = Path(tempfile.mkdtemp(prefix="compare-runs-"))
    tiny_pixel_model(32).unet.save_pretrained(work / "model")
    (work / "images").mkdir()
    for i in range(2):
        to_pil(smooth_image(32, seed=i)[0]).save(work / "images" / f"{i}.png")
    runs = []
    for precision in ("fp32", "bf16"):
        cfg = BenchConfig.from_dict(dict(methods=[{"name": "combine-image", "options": {"steps": 2}}],
                                         images=[str(work / "images")], model=str(work / "model"), masks=["thick"],
                                         device="cpu", precision=precision))
        run_bench(cfg, work / precision, progress=False)
        runs.append(str(work / precision))
    return runs[0], runs[1]


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run_a", nargs="?")
    p.add_argument("run_b", nargs="?")
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        args.run_a, args.run_b = quick_runs()
    elif not (args.run_a and args.run_b):
        p.error("give two run folders (or --quick)")
    a, b = RunDir(args.run_a), RunDir(args.run_b)
    outputs_b = {e["output"] for e in read_manifest(b)}
    groups: dict[tuple, list[str]] = defaultdict(list)
    for e in read_manifest(a):
        if e["output"] in outputs_b:
            groups[(e["label"], e["mask_set"])].append(e["output"])
    if not groups:
        raise SystemExit("the two runs share no outputs (same config, same images?)")
    lpips = LPIPS("alex")
    print(f"{'method':24s} {'mask set':10s} {'n':>4s} {'LPIPS-alex':>11s} {'max':>7s} {'PSNR dB (median)':>17s}")
    for (method, mask_set), outputs in sorted(groups.items()):
        x = torch.cat([load_image(a.root / o) for o in outputs])
        y = torch.cat([load_image(b.root / o) for o in outputs])
        distance = lpips.batched(x, y)
        print(f"{method:24s} {mask_set:10s} {len(outputs):4d} {distance.mean():11.4f} {distance.max():7.4f} "
              f"{np.median(psnr(x, y)):17.2f}")


if __name__ == "__main__":
    main()
