"""A training pilot: recipe variants of one preset, each trained for the same wall-clock minutes alone on the
machine, one after the other, then compared side by side on the same footing.

    python benchmarks/train_pilot.py benchmarks/configs/pilot-faces-256-latent.yaml --out runs/pilot-latent
    python benchmarks/train_pilot.py --quick            # tiny data and model: checks the script runs

Per variant: steps and images seen in the time; the loss of the EMA weights on a fixed evaluation batch
(fixed samples, timesteps and noise, unweighted MSE of the schedule's target: comparable whatever the
variant's loss weighting); FID and KID of a small sample (DDPM, ``sample_steps``) against held-out
images prepared like training (FID of a few hundred images is biased upwards, the same for every row;
KID is not). The config (YAML) names the preset, the shared settings, the minutes, the evaluation sizes
and the variants (each a dict of TrainConfig overrides with a ``name``). A rerun skips variants already
evaluated (``results.jsonl`` in the output folder).
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from inpaintkit.core.schedule import NoiseSchedule, ScheduleConfig
from inpaintkit.data.images import list_images, load_image_tensor
from inpaintkit.evaluation.fidstats import FeatureCache
from inpaintkit.evaluation.metrics import InceptionFeatures, frechet_distance, kernel_inception_distance
from inpaintkit.models import load_folder
from inpaintkit.sampling import sample
from inpaintkit.train import TrainConfig, preset_config, train
from inpaintkit.train.datasets import load_training_data


def eval_loss(model_dir: Path, cfg, n: int = 256, seed: int = 1234) -> float:
    """Unweighted MSE of the schedule's target on ``n`` fixed training samples, timesteps and noises."""
    model = load_folder(model_dir)
    data = load_training_data(cfg, Path(cfg.out), torch.device("cpu"), progress=False)
    schedule = NoiseSchedule(ScheduleConfig.from_dict(cfg.schedule))
    g = torch.Generator().manual_seed(seed)
    n = min(n, len(data.samples))
    idx = torch.randperm(len(data.samples), generator=g)[:n]
    x0 = data.images(idx, None)
    t = torch.randint(0, schedule.num_train_timesteps, (n,), generator=g)
    noise = torch.randn(x0.shape, generator=g)
    cond = {}
    if data.labels is not None:
        cond["encoder_hidden_states"] = data.embeds(idx, torch.zeros(n, dtype=torch.bool))
    with torch.no_grad():
        losses = []
        for i in range(0, n, 64):
            s = slice(i, i + 64)
            x_t = schedule.add_noise(x0[s], noise[s], t[s])
            extra = {k: v[s] for k, v in cond.items()}
            pred = model.unet(x_t, t[s], **extra).sample.float()
            losses.append((pred - schedule.training_target(x0[s], noise[s], t[s])).square().flatten(1).mean(1))
    return float(torch.cat(losses).mean())


def main(argv=None) -> list[dict]:
    import yaml

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("config", nargs="?", type=Path)
    p.add_argument("--out", type=Path)
    p.add_argument("--quick", action="store_true", help="a few seconds on tiny random images and a tiny U-Net")
    args = p.parse_args(argv)
    if args.quick:
        tmp = Path(tempfile.mkdtemp(prefix="pilot-quick-"))
        folder = tmp / "images"
        folder.mkdir()
        from inpaintkit.testing.images import smooth_pil

        for i in range(12):
            smooth_pil(16, seed=i).save(folder / f"{i:03d}.png")
        spec = {"preset": None, "base": {"data": str(folder), "resolution": 16, "crop": None, "architecture": "tiny",
                                         "batch_size": 4, "warmup_steps": 1, "checkpoint_every": 1000},
                "minutes": 0.02, "sample_n": 8, "sample_steps": 3, "reference": str(folder), "reference_n": 12,
                "variants": [{"name": "a", "lr": 1e-3}, {"name": "b", "lr": 1e-3, "loss_weighting": "min-snr"}]}
        out = args.out or tmp / "run"
    else:
        if args.config is None or args.out is None:
            p.error("CONFIG and --out are needed (or --quick)")
        spec = yaml.safe_load(args.config.read_text())
        out = args.out
    out.mkdir(parents=True, exist_ok=True)
    results_file = out / "results.jsonl"
    done = {json.loads(line)["name"]: json.loads(line) for line in results_file.read_text().splitlines()} \
        if results_file.exists() else {}
    inception = None
    rows = []
    for variant in spec["variants"]:
        name = variant["name"]
        if name in done:
            rows.append(done[name])
            continue
        overrides = {**spec.get("base", {}), **{k: v for k, v in variant.items() if k != "name"}}
        run = out / name
        cfg = preset_config(spec["preset"], str(run), **overrides) if spec.get("preset") else \
            TrainConfig(out=str(run), **overrides)
        start = time.time()
        model_dir = train(cfg, progress=False, max_minutes=spec["minutes"])
        minutes = (time.time() - start) / 60
        steps = json.loads((model_dir / "inpaintkit.json").read_text())["training_steps"]
        loss = eval_loss(model_dir, cfg)
        model = load_folder(model_dir)
        inception = inception or InceptionFeatures()
        resolution = cfg.resolution
        ref_paths = list_images(spec["reference"])[:spec["reference_n"]]
        ref, _ = FeatureCache(out / "cache").get(
            "reference", {"files": [p.name for p in ref_paths], "resolution": resolution, "crop": cfg.crop},
            lambda: (inception(load_image_tensor(ref_paths, resolution, cfg.crop, progress=False)), {}))
        images = torch.cat([sample(model, min(50, spec["sample_n"] - i), spec["sample_steps"],
                                   [torch.Generator().manual_seed(i + k) for k in range(min(50, spec["sample_n"] - i))],
                                   show_progress=False) for i in range(0, spec["sample_n"], 50)])
        feats = np.concatenate([inception(images[i:i + 50]) for i in range(0, len(images), 50)])
        kid, kid_std = kernel_inception_distance(feats, ref)
        row = {"name": name, **{k: v for k, v in variant.items() if k != "name"}, "minutes": round(minutes, 1),
               "steps": steps, "images_seen": steps * cfg.batch_size, "eval_loss": round(loss, 5),
               "fid": round(frechet_distance(feats, ref), 2), "kid_x1e3": round(kid * 1e3, 2),
               "kid_std_x1e3": round(kid_std * 1e3, 2), "fid_n": len(feats), "reference_n": len(ref)}
        with open(results_file, "a") as f:
            f.write(json.dumps(row) + "\n")
        rows.append(row)
    keys = ["name", "minutes", "steps", "images_seen", "eval_loss", "fid", "kid_x1e3"]
    print(" | ".join(keys))
    for r in rows:
        print(" | ".join(str(r[k]) for k in keys), " ", {k: v for k, v in r.items() if k not in keys and
                                                         k not in ("kid_std_x1e3", "fid_n", "reference_n")})
    return rows


if __name__ == "__main__":
    main()
