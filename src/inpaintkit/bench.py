"""``inpaintkit bench``: methods x images x mask sets x seeds, resumable and shardable.

A run folder holds::

    config.json                       the run's configuration (a rerun must match it)
    gt/<stem>.png                     ground truth, prepared at the benchmark resolution
    masks/<mask set>/<stem>.png       the mask of each image (white = hole), drawn at that resolution
    outputs/<label>/<mask set>/<stem>_s<seed>.png
    manifest.rank<r>.jsonl            one line per finished output, written by process r
    manifest.jsonl                    the merged manifest, once every output exists

**Preparation.** Each image is cut to its central ``crop`` square (CelebA's 140x140 for faces; the
largest central square when ``crop`` is None), resized to ``resolution`` (the model's, by default;
bicubic, :func:`inpaintkit.data.center_crop_resize`) and stored as 8-bit PNG: metrics are computed at
that resolution, and masks are generated at that size. A method sees the ground truth with its hole
set to grey (0), so no method can read what it must fill.

**Resuming.** An output image is written to a temporary file and renamed into place; only then is
its manifest line appended (one ``write`` + ``fsync``). Killed at any point, SIGKILL included, a
rerun ignores a truncated last line, skips the keys already in a manifest and recomputes the rest;
an output written but not yet recorded is simply written again (the same bytes: everything is
seeded).

**Sharding.** Under ``torchrun`` or ``accelerate launch`` (which set ``RANK`` / ``WORLD_SIZE``, or
``LOCAL_RANK`` / ``LOCAL_WORLD_SIZE``), process r takes the items i with i % world == r and writes
its own manifest shard; the shards merge into the manifest of a one-process run. One process is the
default.

Reference rows: ``copy`` (the ground truth itself, GradPaint's COPY oracle), ``greyfill`` (the
hole filled with uniform grey, GREYFILL) and, for latent models, ``latent-copy`` (the hole filled
with the ground truth after a round trip through the model's autoencoder: GradPaint Table 3's
"Latent COPY", the floor of any latent method); every registered method runs through
:class:`inpaintkit.api.Inpainter`.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from .api import DEFAULT_MODEL, Inpainter
from .data import CELEBA_CROP, center_crop_resize, list_images
from .io import save_image_atomic
from .masks import SHARED_DATA, hole_ratio, mask_from_name
from .methods import get_method, make_options
from .problem import InpaintInputError, load_image, load_mask, to_pil

REFERENCE_ROWS = {"copy": "COPY", "greyfill": "GREYFILL", "latent-copy": "LATENT-COPY"}
DEFAULT_RESOLUTION = 256  # for runs of classical methods only (no model to take the resolution from)


@dataclass
class MethodSpec:
    """A method to run: a registered name or a reference row, its options, and its column label."""

    name: str
    options: dict = field(default_factory=dict)
    label: str = ""

    def __post_init__(self):
        self.label = self.label or REFERENCE_ROWS.get(self.name, self.name)

    @property
    def is_reference(self) -> bool:
        return self.name in REFERENCE_ROWS

    @property
    def needs_model(self) -> bool:
        return self.name == "latent-copy" or not self.is_reference and get_method(self.name).needs_model

    def resolved_options(self) -> dict:
        return {} if self.is_reference else dataclasses.asdict(make_options(self.name, self.options))


@dataclass
class BenchConfig:
    methods: list[MethodSpec]
    images: list[str]  # folders, concatenated in order, each sorted by file name
    masks: list[str] = field(default_factory=lambda: ["thick"])
    model: str | None = DEFAULT_MODEL  # needed only by diffusion methods
    n_images: int | None = None  # the first n images; None: all
    seeds: list[int] = field(default_factory=lambda: [0])
    mask_seed: int = 0
    resolution: int | None = None  # None: the model's resolution
    crop: int | None = None  # central square cut before resizing; None: the largest one
    fid_reference: list[str] | None = None  # FID/KID reference folders (same preparation); None: the ground truth
    device: str = "auto"
    batch_size: int = 1  # images of one method, mask set and seed inpainted together (same noise as alone)

    @classmethod
    def from_dict(cls, d: dict) -> "BenchConfig":
        d = dict(d)
        unknown = sorted(set(d) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise InpaintInputError(f"unknown bench setting(s): {', '.join(unknown)}")
        d["methods"] = [MethodSpec(m) if isinstance(m, str) else MethodSpec(**m) for m in d.get("methods", [])]
        for key in ("images", "masks", "seeds", "fid_reference"):
            if isinstance(d.get(key), (str, int)):
                d[key] = [d[key]]
        return cls(**d)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def check(self) -> None:
        if not self.methods:
            raise InpaintInputError("bench needs at least one method")
        if self.batch_size < 1:
            raise InpaintInputError(f"batch_size must be >= 1, got {self.batch_size}")
        labels = [m.label for m in self.methods]
        if len(set(labels)) != len(labels):
            raise InpaintInputError(f"method labels must be unique, got {labels}")
        for m in self.methods:
            if not m.is_reference:
                m.resolved_options()  # unknown method or option: fail before any work
        if not self.images:
            raise InpaintInputError("bench needs at least one image folder")


# The project's standard table: the held-out faces (CelebA test + validation, 1,199), thick masks,
# fixed seeds, at the face model's resolution after CelebA's central 140x140 crop.
PRESETS: dict[str, dict] = {
    "faces-thick": dict(
        methods=["copy", "greyfill", "opencv-telea", "combine-image", "combine-noisy"],
        images=[str(SHARED_DATA / "celeba" / "test"), str(SHARED_DATA / "celeba" / "validation")],
        masks=["thick"], model=DEFAULT_MODEL, n_images=None, seeds=[0], mask_seed=0, crop=CELEBA_CROP,
        fid_reference=[str(SHARED_DATA / "celeba" / "test"), str(SHARED_DATA / "celeba" / "validation")],
    ),
}


def load_config_file(path: str | Path) -> dict:
    """A YAML (.yaml/.yml) or JSON config file as a dict of :class:`BenchConfig` fields."""
    path = Path(path)
    if not path.is_file():
        raise InpaintInputError(f"config file not found: {path}")
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(path.read_text())
    else:
        data = json.loads(path.read_text())
    if not isinstance(data, dict):
        raise InpaintInputError(f"{path}: expected a mapping of bench settings")
    return data


# -- the work list ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Item:
    key: str
    method: MethodSpec
    image_index: int
    stem: str
    mask_set: str
    seed: int


def derived_seed(*parts: int) -> int:
    """A 31-bit seed from integers (numpy's SeedSequence: independent streams for each tuple)."""
    return int(np.random.SeedSequence(list(parts)).generate_state(1)[0] & 0x7FFFFFFF)


def image_paths(cfg: BenchConfig) -> list[Path]:
    paths = [p for folder in cfg.images for p in list_images(folder)]
    paths = paths[:cfg.n_images] if cfg.n_images is not None else paths
    stems = [p.stem for p in paths]
    if len(set(stems)) != len(stems):
        raise InpaintInputError("image file names must be unique across the image folders")
    if not paths:
        raise InpaintInputError(f"no images in {', '.join(cfg.images)}")
    return paths


def work_items(cfg: BenchConfig, paths: list[Path]) -> list[Item]:
    """Every output of the run, in a fixed order (mask set, image, seed, method)."""
    return [Item(f"{m.label}/{mask_set}/{p.stem}/s{seed}", m, i, p.stem, mask_set, seed)
            for mask_set in cfg.masks for i, p in enumerate(paths) for seed in cfg.seeds for m in cfg.methods]


def batches(items: list[Item], size: int) -> list[list[Item]]:
    """The items grouped by method, mask set and seed, ``size`` images at a time."""
    groups: dict[tuple, list[Item]] = {}
    for item in items:
        groups.setdefault((item.method.label, item.mask_set, item.seed), []).append(item)
    return [g[i:i + size] for g in groups.values() for i in range(0, len(g), size)]


def shard() -> tuple[int, int]:
    """(rank, world size) from the launcher's environment; (0, 1) for a plain process."""
    for rank_var, world_var in (("RANK", "WORLD_SIZE"), ("LOCAL_RANK", "LOCAL_WORLD_SIZE")):
        if world_var in os.environ:
            return int(os.environ.get(rank_var, 0)), int(os.environ[world_var])
    return 0, 1


# -- the run folder ---------------------------------------------------------------------------
class RunDir:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    def gt(self, stem: str) -> Path:
        return self.root / "gt" / f"{stem}.png"

    def mask(self, mask_set: str, stem: str) -> Path:
        return self.root / "masks" / mask_set / f"{stem}.png"

    def output(self, item: Item) -> Path:
        return self.root / "outputs" / item.method.label / item.mask_set / f"{item.stem}_s{item.seed}.png"

    def shard_manifest(self, rank: int) -> Path:
        return self.root / f"manifest.rank{rank}.jsonl"

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.jsonl"

    @property
    def config(self) -> Path:
        return self.root / "config.json"

    def read_config(self) -> BenchConfig:
        if not self.config.is_file():
            raise InpaintInputError(f"{self.root} is not a bench run folder (no config.json)")
        return BenchConfig.from_dict(json.loads(self.config.read_text()))

    def entries(self) -> dict[str, dict]:
        """Finished outputs by key, from every manifest shard: unparseable (truncated) lines are
        ignored, the first line of a key wins, and a line whose image is missing does not count."""
        found: dict[str, dict] = {}
        for path in sorted(self.root.glob("manifest.rank*.jsonl")):
            for line in path.read_text().splitlines():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if entry["key"] not in found and (self.root / entry["output"]).is_file():
                    found[entry["key"]] = entry
        return found


EXECUTION_SETTINGS = ("device", "batch_size")  # how a run is computed, not what: a resumed run may change them


def _write_config(run: RunDir, cfg: BenchConfig) -> None:
    """Record the config, or check that the folder's recorded one is the same run. A rerun may add
    methods (new rows of the same table: recorded after the old ones); every other setting, and every
    method it shares a label with, must match."""
    new = json.loads(json.dumps({k: v for k, v in cfg.to_dict().items() if k not in EXECUTION_SETTINGS}))
    record = cfg.to_dict()
    if run.config.is_file():
        recorded = json.loads(run.config.read_text())
        old = {k: v for k, v in recorded.items() if k not in EXECUTION_SETTINGS}
        old_methods = {m["label"]: m for m in old.pop("methods")}
        new_methods = new.pop("methods")
        if old != new or any(old_methods.get(m["label"], m) != m for m in new_methods):
            raise InpaintInputError(f"{run.root} holds a run with another configuration; use a new folder")
        added = [m for m in new_methods if m["label"] not in old_methods]
        if not added:
            return
        record = {**recorded, "methods": [*old_methods.values(), *added]}
        run.manifest.unlink(missing_ok=True)  # merged again once the new rows are done
    run.root.mkdir(parents=True, exist_ok=True)
    tmp = run.config.with_name(f".config.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record, indent=2))
    os.replace(tmp, run.config)


def _open_shard(path: Path) -> int:
    """The shard opened for appending, after cutting a truncated last line left by a killed run."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
    size = os.fstat(fd).st_size
    if size:
        data = path.read_bytes()
        if not data.endswith(b"\n"):
            os.ftruncate(fd, data.rfind(b"\n") + 1)
    return fd


def _append_line(fd: int, entry: dict) -> None:
    os.write(fd, (json.dumps(entry, sort_keys=True) + "\n").encode())
    os.fsync(fd)


def prepare_ground_truth(path: Path, resolution: int, crop: int | None) -> torch.Tensor:
    with Image.open(path) as im:
        return load_image(center_crop_resize(im.convert("RGB"), resolution, crop))


def _ground_truth(run: RunDir, cfg: BenchConfig, path: Path, resolution: int) -> torch.Tensor:
    file = run.gt(path.stem)
    if not file.is_file():
        save_image_atomic(to_pil(prepare_ground_truth(path, resolution, cfg.crop)), file)
    return load_image(file)


def _mask(run: RunDir, cfg: BenchConfig, item: Item, resolution: int) -> torch.Tensor:
    file = run.mask(item.mask_set, item.stem)
    if not file.is_file():
        m = mask_from_name(item.mask_set, resolution, derived_seed(cfg.mask_seed, item.image_index))
        save_image_atomic(to_pil(m[0].expand(3, -1, -1) * 2 - 1), file)
    return load_mask(file)


def _run_batch(batch: list[Item], gt: torch.Tensor, mask: torch.Tensor,
               inpainter: Inpainter | None) -> tuple[torch.Tensor, float, float]:
    """The method's outputs for a batch of items of one method (ground truths (B, 3, H, W), masks
    (B, 1, H, W)) and the network calls per image it made, forward and backward."""
    masked = gt * (1 - mask)  # the hole is grey: no method can read what it fills
    method = batch[0].method
    if method.name == "copy":
        return gt, 0.0, 0.0
    if method.name == "greyfill":
        return masked, 0.0, 0.0
    model = inpainter.model
    if method.name == "latent-copy":
        if model is None or model.vae is None:
            raise InpaintInputError("the latent-copy row needs a latent model")
        with torch.no_grad():
            roundtrip = model.decode(model.encode(gt.to(model.device))).float().cpu()
        return masked + mask * roundtrip, 0.0, 0.0
    def counts() -> tuple[int, int]:
        return (model.network_calls, model.backward_calls) if model is not None else (0, 0)

    before = counts()
    seeds = [derived_seed(item.seed, item.image_index) for item in batch]
    out = inpainter.batch(masked, mask, seeds, method=method.name, progress=False, **method.options)
    forward, backward = (after - start for after, start in zip(counts(), before))
    return out, forward / len(batch), backward / len(batch)


def run_bench(cfg: BenchConfig, out: str | Path, progress: bool = True) -> Path:
    """Run (or resume) the benchmark into ``out``; returns the merged manifest's path once complete,
    else the folder."""
    cfg.check()
    run = RunDir(out)
    rank, world = shard()
    _write_config(run, cfg)
    paths = image_paths(cfg)
    items = work_items(cfg, paths)
    done = run.entries()
    todo = [it for i, it in enumerate(items) if i % world == rank and it.key not in done]
    needs_model = any(m.needs_model for m in cfg.methods)
    inpainter = None
    if todo and any(m.needs_model or not m.is_reference for m in cfg.methods):
        device = cfg.device
        if device == "auto" and world > 1 and torch.cuda.is_available():
            device = f"cuda:{int(os.environ.get('LOCAL_RANK', rank)) % torch.cuda.device_count()}"
        inpainter = Inpainter(cfg.model if needs_model else None, device=device)
    resolution = cfg.resolution or (inpainter.model.resolution if inpainter and inpainter.model else DEFAULT_RESOLUTION)
    fd = _open_shard(run.shard_manifest(rank))
    bar = tqdm(total=len(todo), desc=f"bench (rank {rank}/{world})" if world > 1 else "bench", disable=not progress)
    try:
        for batch in batches(todo, cfg.batch_size):
            gt = torch.cat([_ground_truth(run, cfg, paths[item.image_index], resolution) for item in batch])
            mask = torch.cat([_mask(run, cfg, item, resolution) for item in batch])
            start = time.perf_counter()
            outputs, calls, backward_calls = _run_batch(batch, gt, mask, inpainter)
            seconds = (time.perf_counter() - start) / len(batch)
            for item, output, m in zip(batch, outputs, mask):
                file = save_image_atomic(to_pil(output), run.output(item))
                _append_line(fd, {
                    "key": item.key, "method": item.method.name, "label": item.method.label,
                    "options": item.method.resolved_options(),
                    "model": cfg.model if item.method.needs_model else None,
                    "image": str(paths[item.image_index]), "gt": str(run.gt(item.stem).relative_to(run.root)),
                    "mask_set": item.mask_set, "mask": str(run.mask(item.mask_set, item.stem).relative_to(run.root)),
                    "hole_ratio": hole_ratio(m[None]), "seed": item.seed,
                    "sample_seed": derived_seed(item.seed, item.image_index), "resolution": resolution,
                    "output": str(file.relative_to(run.root)),
                    "sha256": hashlib.sha256(file.read_bytes()).hexdigest(), "seconds": seconds,
                    "batch_size": len(batch), "network_calls": calls, "backward_calls": backward_calls,
                })
                bar.update(1)
    finally:
        bar.close()
        os.close(fd)
    merged = merge_manifests(run)
    return merged if merged is not None else run.root


def merge_manifests(run: RunDir | str | Path) -> Path | None:
    """Write ``manifest.jsonl`` (entries in work-list order) once every item of the run is done."""
    run = run if isinstance(run, RunDir) else RunDir(run)
    cfg = run.read_config()
    items = work_items(cfg, image_paths(cfg))
    entries = run.entries()
    if any(it.key not in entries for it in items):
        return None
    tmp = run.manifest.with_name(f".manifest.{os.getpid()}.tmp")
    tmp.write_text("".join(json.dumps(entries[it.key], sort_keys=True) + "\n" for it in items))
    os.replace(tmp, run.manifest)
    return run.manifest


def read_manifest(run: RunDir | str | Path) -> list[dict]:
    """The run's entries in work-list order (merged when complete, else those finished so far)."""
    run = run if isinstance(run, RunDir) else RunDir(run)
    cfg = run.read_config()
    entries = run.entries()
    return [entries[it.key] for it in work_items(cfg, image_paths(cfg)) if it.key in entries]


def build_config(config_file: str | None = None, preset: str | None = None, **overrides) -> BenchConfig:
    """A config from a preset, then a config file, then explicit settings (None = not given)."""
    data: dict = {}
    if preset is not None:
        if preset not in PRESETS:
            raise InpaintInputError(f"unknown preset {preset!r}; available: {', '.join(PRESETS)}")
        data.update(PRESETS[preset])
    if config_file is not None:
        data.update(load_config_file(config_file))
    data.update({k: v for k, v in overrides.items() if v is not None})
    return BenchConfig.from_dict(data)


def parse_method_settings(methods: list[str], settings: list[str]) -> list[dict]:
    """``--method NAME`` flags and ``--set NAME.KEY=VALUE`` flags as method entries."""
    options: dict[str, dict] = {m: {} for m in methods}
    for item in settings:
        target, sep, value = item.partition("=")
        name, dot, key = target.partition(".")
        if not sep or not dot or name not in options:
            raise InpaintInputError(f"--set expects METHOD.KEY=VALUE for a --method given, got {item!r}")
        options[name][key.strip()] = value.strip()
    return [{"name": m, "options": options[m]} for m in methods]
