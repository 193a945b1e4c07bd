"""``inpaintkit report RUN_DIR``: a bench run as a markdown table, a CSV, a quality-vs-time plot and a grid.

One row per (mask set, method): LPIPS (AlexNet and VGG), FID with its number of images, KID
(mean +- std over subsets), PSNR and SSIM over the whole image and over the hole, Color Distance,
known-region change, seconds per image and network calls per image. Per-image metrics are means
over the images (and seeds); FID/KID compare the method's outputs with the reference set (the
config's ``fid_reference`` folders, prepared like the ground truth, or the run's ground truth).
Metrics of each (mask set, method) group are cached in ``RUN_DIR/cache`` by output hashes. With ``--against
LABEL``, every row's paired differences from the row LABEL (image by image: ``paired.py``) follow the table.
"""
from __future__ import annotations

import csv
import hashlib
import io
import math
from pathlib import Path

import numpy as np
import torch

from ..core.env import pick_device, user_cache
from ..core.errors import InpaintInputError
from ..core.files import atomic_path, save_image, save_npz, write_json, write_text
from ..core.images import load_image, load_mask
from ..data.images import list_images, prepare_ground_truth
from .config import REFERENCE_ROWS, BenchConfig
from .fidstats import FeatureCache
from .grid import image_grid
from .metrics import (LPIPS, InceptionFeatures, PromptAccuracy, color_distance, frechet_distance,
                      kernel_inception_distance, known_region_change, psnr, ssim)
from .paired import check_same_images, image_means, markdown_paired, paired_difference
from .rundir import RunDir, read_manifest

# (CSV column, markdown header, format)
COLUMNS = [
    ("mask_set", "masks", "{}"), ("method", "method", "{}"), ("n", "n", "{}"),
    ("lpips_alex", "LPIPS-alex", "{:.4f}"), ("lpips_vgg", "LPIPS-vgg", "{:.4f}"),
    ("fid", "FID", "{:.2f}"), ("fid_n", "FID n", "{}"), ("kid", "KID x1e3", "{:.2f}"), ("kid_std", "+-", "{:.2f}"),
    ("psnr", "PSNR", "{:.2f}"), ("psnr_hole", "PSNR hole", "{:.2f}"), ("ssim", "SSIM", "{:.4f}"),
    ("ssim_hole", "SSIM hole", "{:.4f}"), ("color_distance", "CD", "{:.2f}"),
    ("known_change", "known change", "{:.3f}"), ("known_change_before_paste", "known change before paste", "{:.3f}"),
    ("diversity", "diversity", "{:.4f}"),
    ("prompt_accuracy", "prompt acc.", "{:.3f}"),
    ("seconds", "s/image", "{:.3f}"), ("fit_seconds", "fit s/image", "{:.3f}"),
    ("sample_seconds", "sampling s/image", "{:.3f}"), ("network_calls", "calls/image", "{:.0f}"),
    ("backward_calls", "backward/image", "{:.0f}"),
]
PER_IMAGE = ["lpips_alex", "lpips_vgg", "psnr", "psnr_hole", "ssim", "ssim_hole", "color_distance", "known_change"]


class Metrics:
    """The networks, loaded once, and a store of Inception features by image-file hash (an output
    identical to its ground truth, as COPY's, is featurized once)."""

    def __init__(self, cache_dir: Path, device: str = "cpu"):
        self.lpips = {net: LPIPS(net, device) for net in ("alex", "vgg")}
        self.inception = InceptionFeatures(device)
        self.store = cache_dir / "inception_features.npz"
        self.features: dict[str, np.ndarray] = {}
        if self.store.is_file():
            with np.load(self.store) as z:
                self.features = dict(zip(z["hashes"].tolist(), z["features"]))

    def inception_features(self, files: list[Path], batch_size: int = 32) -> np.ndarray:
        hashes = [hashlib.sha256(f.read_bytes()).hexdigest() for f in files]
        missing = list(dict.fromkeys(h for h in hashes if h not in self.features))
        by_hash = dict(zip(hashes, files))
        for i in range(0, len(missing), batch_size):
            chunk = missing[i:i + batch_size]
            feats = self.inception(torch.cat([load_image(by_hash[h]) for h in chunk]))
            self.features.update(zip(chunk, feats))
            self._save()
        return np.stack([self.features[h] for h in hashes])

    def _save(self) -> None:
        save_npz(self.store, hashes=np.array(list(self.features)), features=np.stack(list(self.features.values())))


def _load(run: RunDir, files: list[str], loader) -> torch.Tensor:
    return torch.cat([loader(run.root / f) for f in files])


def group_metrics(run: RunDir, entries: list[dict], metrics: Metrics, batch_size: int = 64) -> dict[str, np.ndarray]:
    """Per-image metrics of one (mask set, method) group (cached by output hashes) and its Inception features."""
    shas = [e["sha256"] for e in entries]
    digest = hashlib.sha256("".join(shas).encode()).hexdigest()[:16]
    cache = run.root / "cache" / f"{entries[0]['label']}__{entries[0]['mask_set']}.npz"
    result = None
    if cache.is_file():
        with np.load(cache) as z:
            if str(z["digest"]) == digest:
                result = {k: z[k] for k in z.files if k != "digest"}
    if result is None:
        out: dict[str, list] = {k: [] for k in PER_IMAGE}
        for i in range(0, len(entries), batch_size):
            chunk = entries[i:i + batch_size]
            x = _load(run, [e["output"] for e in chunk], load_image)
            gt = _load(run, [e["gt"] for e in chunk], load_image)
            m = _load(run, [e["mask"] for e in chunk], load_mask)
            out["lpips_alex"].append(metrics.lpips["alex"].batched(x, gt))
            out["lpips_vgg"].append(metrics.lpips["vgg"].batched(x, gt))
            out["psnr"].append(psnr(x, gt))
            out["psnr_hole"].append(psnr(x, gt, m))
            out["ssim"].append(ssim(x, gt))
            out["ssim_hole"].append(ssim(x, gt, m))
            out["color_distance"].append(color_distance(x, m))
            out["known_change"].append(known_region_change(x, gt, m))
        result = {k: np.concatenate(v) for k, v in out.items()}
        save_npz(cache, digest=digest, **result)
    result["features"] = metrics.inception_features([run.root / e["output"] for e in entries])
    return result


def reference_features(run: RunDir, cfg: BenchConfig, entries: list[dict], metrics: Metrics) -> np.ndarray:
    """Inception features of the FID reference set: the ``fid_reference`` folders prepared like the
    ground truth (same crop and resolution), or the run's ground-truth images. A reference set's features are
    kept in the user cache (``~/.cache/inpaintkit/fid``, where the model cards keep theirs), named by the files'
    contents, the resolution and the crop: every run against the same set computes them once (the 10,000
    CIFAR-10 test images took 14 minutes on 2 CPU cores, in parts that an interrupted report resumes from)."""
    if not cfg.fid_reference:
        return metrics.inception_features(sorted({run.root / e["gt"] for e in entries}))
    resolution = entries[0]["resolution"]
    files = [p for folder in cfg.fid_reference for p in list_images(folder)]
    contents = hashlib.sha1()
    for p in files:
        contents.update(hashlib.sha1(p.read_bytes()).digest())
    key = {"files": contents.hexdigest(), "n": len(files), "resolution": resolution, "crop": cfg.crop}

    def featurize(part: list[Path]) -> np.ndarray:
        images = torch.cat([prepare_ground_truth(p, resolution, cfg.crop) for p in part])
        return metrics.inception.batched(images, progress=False)

    return FeatureCache(user_cache() / "fid").get_in_parts("bench-reference", key, files, featurize)


def _mean_of(entries: list[dict], key: str) -> float | None:
    values = [e[key] for e in entries if key in e]
    return float(np.mean(values)) if values else None


def group_values(run: RunDir, group: list[dict], metrics: Metrics, classifier: PromptAccuracy | None) -> dict:
    """Per-image metrics of one (mask set, method) group, its Inception features and its prompt accuracy."""
    values = group_metrics(run, group, metrics)
    values["prompt_accuracy"] = prompt_accuracy(run, group, classifier)
    return values


def summarize(run_dir: str | Path, device: str = "auto") -> tuple[list[dict], int, dict[tuple, tuple]]:
    """One row of metrics per (mask set, method) in the config's order, the reference set's size, and each
    row's entries and per-image values by (mask set, method)."""
    run = RunDir(run_dir)
    cfg = run.read_config()
    entries = read_manifest(run)
    if not entries:
        raise ValueError(f"{run.root}: no finished outputs yet")
    metrics = Metrics(run.root / "cache", pick_device(device))
    ref = reference_features(run, cfg, entries, metrics)
    classifier = PromptAccuracy(cfg.prompt_classifier) if cfg.prompt_classifier else None
    rows, groups = [], {}
    for mask_set in cfg.masks:
        for method in cfg.methods:
            group = [e for e in entries if e["mask_set"] == mask_set and e["label"] == method.label]
            if not group:
                continue
            values = group_values(run, group, metrics, classifier)
            groups[mask_set, method.label] = group, values
            kid, kid_std = kernel_inception_distance(values["features"], ref)
            row = {"mask_set": mask_set, "method": method.label, "n": len(group),
                   "fid": frechet_distance(values["features"], ref), "fid_n": len(group),
                   "kid": kid * 1e3, "kid_std": kid_std * 1e3,
                   "seconds": float(np.mean([e["seconds"] for e in group])),
                   "fit_seconds": _mean_of(group, "fit_seconds"), "sample_seconds": _mean_of(group, "sample_seconds"),
                   "known_change_before_paste": _mean_of(group, "known_change_before_paste"),
                   "diversity": diversity(run, group, metrics.lpips["alex"]),
                   "prompt_accuracy": None if values["prompt_accuracy"] is None
                   else float(np.mean(values["prompt_accuracy"])),
                   "network_calls": float(np.mean([e["network_calls"] for e in group])),
                   "backward_calls": float(np.mean([e.get("backward_calls", 0) for e in group]))}
            row.update({k: float(np.nanmean(values[k])) for k in PER_IMAGE})
            rows.append(row)
    return rows, len(ref), groups


def paired_rows(run: RunDir, groups: dict[tuple, tuple], label: str, base_run: str | Path | None = None,
                device: str = "auto") -> list[dict]:
    """Every row paired image by image with the row ``label`` of its mask set, from this run or from
    ``base_run`` (a run of the same images, masks and seeds)."""
    base_dir = RunDir(base_run) if base_run is not None else run
    if base_run is None:
        bases = {mask_set: groups[mask_set, method] for mask_set, method in groups if method == label}
    else:
        cfg, base_entries = base_dir.read_config(), read_manifest(base_dir)
        metrics = Metrics(base_dir.root / "cache", pick_device(device))
        classifier = PromptAccuracy(cfg.prompt_classifier) if cfg.prompt_classifier else None
        bases = {}
        for mask_set in dict.fromkeys(mask_set for mask_set, _ in groups):
            group = [e for e in base_entries if e["mask_set"] == mask_set and e["label"] == label]
            if group:
                here = [e for (m, _), (g, _) in groups.items() if m == mask_set for e in g]
                check_same_images(base_dir.root, group, run.root, here)
                bases[mask_set] = group, group_values(base_dir, group, metrics, classifier)
    if not bases:
        raise InpaintInputError(f"{base_dir.root} has no row labelled {label!r}")
    rows = []
    for (mask_set, method), (group, values) in groups.items():
        if mask_set in bases and not (method == label and base_run is None):
            difference = paired_difference(image_means(*bases[mask_set]), image_means(group, values))
            rows.append({"mask_set": mask_set, "method": method, **difference})
    return rows


def _cell(fmt: str, value) -> str:
    if value is None or isinstance(value, float) and math.isnan(value):
        return "-"
    if isinstance(value, float) and math.isinf(value):
        return "inf"
    return fmt.format(value)


def prompt_accuracy(run: RunDir, group: list[dict], classifier: PromptAccuracy | None) -> np.ndarray | None:
    """The probability the classifier gives each output's prompted class (None without a classifier or
    prompts)."""
    if classifier is None or not all(e.get("prompt") for e in group):
        return None
    images = _load(run, [e["output"] for e in group], load_image)
    return np.asarray(classifier(images, [e["prompt"] for e in group]), dtype=np.float64)


def diversity(run: RunDir, group: list[dict], lpips: LPIPS) -> float | None:
    """Mean pairwise LPIPS between the completions of one image (and seed), averaged over the images; None
    for a run of one completion per image."""
    by_image: dict[tuple, list[dict]] = {}
    for e in group:
        by_image.setdefault((e["gt"], e["seed"]), []).append(e)
    spreads = []
    for entries in by_image.values():
        if len(entries) < 2:
            continue
        images = _load(run, [e["output"] for e in entries], load_image)
        pairs = [(i, j) for i in range(len(entries)) for j in range(i + 1, len(entries))]
        a = torch.cat([images[i:i + 1] for i, _ in pairs])
        b = torch.cat([images[j:j + 1] for _, j in pairs])
        spreads.append(float(lpips.batched(a, b).mean()))
    return float(np.mean(spreads)) if spreads else None


def markdown_table(rows: list[dict], reference_n: int) -> str:
    columns = [c for c in COLUMNS if any(r[c[0]] is not None for r in rows)]  # drop columns no row has
    lines = ["| " + " | ".join(h for _, h, _ in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(f, r[k]) for k, _, f in columns) + " |" for r in rows]
    lines.append(f"\nFID and KID against {reference_n} reference images; FID over n < 2048 images is biased "
                 "upwards (KID is not). LPIPS, PSNR, SSIM: against the ground truth (with several completions "
                 "per image: their mean); diversity: mean pairwise LPIPS-alex of an image's completions; CD "
                 "and known change (after and before the known pixels are pasted back) in 0..255 RGB units; "
                 "prompt acc.: the classifier's mean probability of each image's prompted class.")
    return "\n".join(lines) + "\n"


def plot_quality_vs_time(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import LogFormatter

    panels = [("lpips_alex", "LPIPS (AlexNet)", "lower"), ("fid", "FID", "lower")]
    if any(r["prompt_accuracy"] is not None for r in rows):
        panels.append(("prompt_accuracy", "prompt accuracy", "higher"))
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4))
    references = set(REFERENCE_ROWS.values())  # ceilings and floors: lines across, not points in time
    timed = [r for r in rows if r["seconds"] > 0 and r["method"] not in references]
    for ax, (key, name, better) in zip(axes, panels):
        for r in timed:
            ax.scatter(r["seconds"], r[key])
            ax.annotate(f"{r['method']} ({r['mask_set']})", (r["seconds"], r[key]), fontsize=7,
                        xytext=(3, 3), textcoords="offset points")
        for r in rows:
            if r["method"] in references:
                ax.axhline(r[key], ls="--", lw=0.8, color="grey")
                ax.text(0, r[key], f" {r['method']}", fontsize=7, va="bottom", color="grey",
                        transform=ax.get_yaxis_transform())  # x in axes fractions: at the left edge, any scale
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(LogFormatter())  # plain numbers: 3, 4 rather than 3x10^0, 4x10^0
        ax.xaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False))  # minor labels only over a short range
        ax.set_xlabel("seconds per image")
        ax.set_ylabel(f"{name} ({better} is better)")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def comparison_grid(run: RunDir, cfg: BenchConfig, entries: list[dict], rows: int = 6):
    """The first ``rows`` images of the first mask set and seed: masked input, every method, ground truth."""
    by_key = {e["key"]: e for e in entries}
    mask_set, seed = cfg.masks[0], cfg.seeds[0]
    firsts = [e for e in entries
              if e["mask_set"] == mask_set and e["seed"] == seed and e["label"] == cfg.methods[0].label]
    sheet = []
    for e in firsts[:rows]:
        stem = Path(e["gt"]).stem
        gt, mask = load_image(run.root / e["gt"]), load_mask(run.root / e["mask"])
        row = [gt * (1 - mask) + mask * torch.tensor([1.0, -1.0, 1.0]).view(1, 3, 1, 1)]  # hole in magenta
        for m in cfg.methods:
            hit = by_key.get(f"{m.label}/{mask_set}/{stem}/s{seed}")
            row.append(load_image(run.root / hit["output"]) if hit else torch.zeros_like(gt))
        sheet.append(row + [gt])
    return image_grid(sheet, ["input"] + [m.label for m in cfg.methods] + ["ground truth"], cell=96)


def report(run_dir: str | Path, out: str | Path | None = None, device: str = "auto", grid_rows: int = 6,
           against: str | None = None, against_run: str | Path | None = None) -> Path:
    """Write report.md, report.csv, quality_vs_time.png and grid.png into ``out`` (default: the run folder); with
    ``against`` (a row's label, of ``against_run`` if given), report.md and report.json add every row's paired
    differences from that row."""
    run = RunDir(run_dir)
    out = Path(out) if out is not None else run.root
    out.mkdir(parents=True, exist_ok=True)
    rows, reference_n, groups = summarize(run.root, device)
    paired = paired_rows(run, groups, against, against_run, device) if against else []
    cfg = run.read_config()
    entries = read_manifest(run)
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=[k for k, _, _ in COLUMNS], lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: r[k] for k, _, _ in COLUMNS} for r in rows)
    write_text(out / "report.csv", table.getvalue())
    base = f"{against} of {RunDir(against_run).root}" if against_run is not None else against
    write_text(out / "report.md", f"# Benchmark: {run.root}\n\n" + markdown_table(rows, reference_n)
               + (f"\n{markdown_paired(base, paired)}" if paired else "")
               + "\n![quality vs time](quality_vs_time.png)\n\n![grid](grid.png)\n")
    plot_quality_vs_time(rows, out / "quality_vs_time.png")
    save_image(comparison_grid(run, cfg, entries, grid_rows), out / "grid.png")
    write_json(out / "report.json", {"reference_n": reference_n, "rows": rows}
               | ({"paired_against": base, "paired": paired} if paired else {}))
    return out / "report.md"
