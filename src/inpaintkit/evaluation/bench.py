"""``inpaintkit bench``: methods x images x mask sets x seeds, resumable and shardable.

The run folder's layout is in :mod:`.rundir`; the config in :mod:`.config`.

**Preparation.** Each image is cut to its central ``crop`` square (CelebA's 140x140 for faces; the
largest central square when ``crop`` is None), resized to ``resolution`` (the model's, by default;
bicubic, :func:`inpaintkit.data.images.center_crop_resize`) and stored as 8-bit PNG: metrics are computed
at that resolution, and masks are generated at that size. A method sees the observation A(I), the ground
truth with its hole grey (0), so no method can read what it must fill.

**Resuming.** An output image is written to a temporary file and renamed into place; only then is
its manifest line appended. Killed at any point, SIGKILL included, a rerun skips the keys already in a
manifest and recomputes the rest; an output written but not yet recorded is simply written again (the
same bytes: everything is seeded). Everything that can be checked is checked before the folder is
touched, and a folder whose run failed before its first output takes a corrected config.

**Sharding.** Under ``torchrun`` or ``accelerate launch`` (which set ``RANK`` / ``WORLD_SIZE``, or
``LOCAL_RANK`` / ``LOCAL_WORLD_SIZE``), process r takes the items i with i % world == r and writes
its own manifest shard; the shards merge into the manifest of a one-process run. One process is the
default.

Reference rows: ``copy`` (the ground truth itself, GradPaint's COPY oracle), ``greyfill`` (the
hole filled with uniform grey, GREYFILL) and, for latent models, ``latent-copy`` (the hole filled
with the ground truth after a round trip through the model's autoencoder: GradPaint Table 3's
"Latent COPY", the floor of any latent method); every registered method runs through
:meth:`inpaintkit.api.Inpainter.many`, the batching path of the command line's folder mode.
"""
from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import NamedTuple

import torch
from tqdm.auto import tqdm

from ..api import Inpainter
from ..core.errors import InpaintInputError
from ..core.files import save_image
from ..core.geometry import blend, hole_ratio
from ..core.images import load_image, load_mask, to_pil
from ..data.images import prepare_ground_truth
from ..data.masks import mask_from_name
from ..methods import get_method
from ..models.hooks import count_calls
from .config import DEFAULT_RESOLUTION, BenchConfig, Item, derived_seed, image_paths, image_prompts, work_items
from .metrics.pixel import known_region_change
from .rundir import RunDir, append_line, merge_manifests, open_shard


def batches(items: list[Item], size: int) -> list[list[Item]]:
    """The items grouped by method, mask set and seed, ``size`` images at a time (an image's completions
    stay together: a method that draws them from one fit makes them in one call)."""
    groups: dict[tuple, list[Item]] = {}
    for item in items:
        groups.setdefault((item.method.label, item.mask_set, item.seed), []).append(item)
    out = []
    for group in groups.values():
        per_image: dict[int, list[Item]] = {}
        for item in group:
            per_image.setdefault(item.image_index, []).append(item)
        images = list(per_image.values())
        out += [[it for image in images[i:i + size] for it in image] for i in range(0, len(images), size)]
    return out


def shard() -> tuple[int, int]:
    """(rank, world size) from the launcher's environment; (0, 1) for a plain process."""
    for rank_var, world_var in (("RANK", "WORLD_SIZE"), ("LOCAL_RANK", "LOCAL_WORLD_SIZE")):
        if world_var in os.environ:
            return int(os.environ.get(rank_var, 0)), int(os.environ[world_var])
    return 0, 1


def _ground_truth(run: RunDir, cfg: BenchConfig, path: Path, resolution: int) -> torch.Tensor:
    file = run.gt(path.stem)
    if not file.is_file():
        save_image(to_pil(prepare_ground_truth(path, resolution, cfg.crop)), file)
    return load_image(file)


def _mask(run: RunDir, cfg: BenchConfig, item: Item, resolution: int) -> torch.Tensor:
    file = run.mask(item.mask_set, item.stem)
    if not file.is_file():
        m = mask_from_name(item.mask_set, resolution, derived_seed(cfg.mask_seed, item.image_index))
        save_image(to_pil(m[0].expand(3, -1, -1) * 2 - 1), file)
    return load_mask(file)


class PhaseClock:
    """A method callback that times the phases a method reports (``StepInfo.extra["phase"]``: VIPaint's
    fit and sampling); seconds per phase, the time before the first report counted in the first phase."""

    def __init__(self):
        self.start = self.mark = time.perf_counter()
        self.phase = None
        self.seconds: dict[str, float] = {}

    def __call__(self, step) -> None:
        phase = step.extra.get("phase")
        if phase is None or phase == self.phase:
            return
        now = time.perf_counter()
        if self.phase is not None:
            self.seconds[self.phase] = self.seconds.get(self.phase, 0.0) + now - self.mark
        self.phase, self.mark = phase, now

    def finish(self) -> dict[str, float]:
        if self.phase is not None:
            self.seconds[self.phase] = self.seconds.get(self.phase, 0.0) + time.perf_counter() - self.mark
        return self.seconds


class BatchResult(NamedTuple):
    outputs: torch.Tensor  # (B, 3, H, W), the known pixels pasted back
    before_paste: torch.Tensor  # (B, 3, H, W), the method's own pixels, known region included
    calls: float  # network calls per output, forward
    backward_calls: float
    phases: dict[str, float]  # seconds per output of the phases the method reports


def run_batch(batch: list[Item], gt: torch.Tensor, mask: torch.Tensor, inpainter: Inpainter | None,
              prompts: list[str | None] | None = None) -> BatchResult:
    """The method's outputs for a batch of items of one method (ground truths (B, 3, H, W), masks (B, 1, H, W),
    one prompt or None each), before and after paste-back, with its network calls and phase seconds."""
    masked = gt * (1 - mask)  # A(I): the hole is grey, no method can read what it fills
    method = batch[0].method
    if method.name == "copy":
        return BatchResult(gt, gt, 0.0, 0.0, {})
    if method.name == "greyfill":
        return BatchResult(masked, masked, 0.0, 0.0, {})
    model = inpainter.model
    if method.name == "latent-copy":
        if model is None or model.autoencoder is None:
            raise InpaintInputError("the latent-copy row needs a latent model")
        with torch.no_grad():
            roundtrip = model.decode(model.encode(gt.to(model.device))).float().cpu()
        return BatchResult(masked + mask * roundtrip, roundtrip, 0.0, 0.0, {})
    options = dict(method.options)
    prompts = prompts or [None] * len(batch)
    if get_method(method.name).multi_sample:  # one call per image draws all its completions from one fit
        firsts = [i for i, item in enumerate(batch) if item.completion == 0]
        triples = [(masked[i:i + 1], mask[i:i + 1], batch[i].sample_seed, prompts[i]) for i in firsts]
        options["samples"] = batch[0].completions
    else:
        triples = [(masked[i:i + 1], mask[i:i + 1], item.sample_seed, prompts[i]) for i, item in enumerate(batch)]
    clock = PhaseClock()
    with count_calls(model) as calls:
        raw = torch.cat(list(inpainter.many(triples, method.name, batch_size=len(triples), callback=clock,
                                            paste=False, **options)))
    phases = {name: seconds / len(batch) for name, seconds in clock.finish().items()}
    return BatchResult(blend(masked, mask, raw), raw, calls.forward / len(batch), calls.backward / len(batch), phases)


def run_bench(cfg: BenchConfig, out: str | Path, progress: bool = True) -> Path:
    """Run (or resume) the benchmark into ``out``; returns the merged manifest's path once complete,
    else the folder."""
    cfg.check()
    run = RunDir(out)
    rank, world = shard()
    paths = image_paths(cfg)
    prompts = image_prompts(cfg, paths)
    items = work_items(cfg, paths)
    done = run.entries()
    todo = [it for i, it in enumerate(items) if i % world == rank and it.key not in done]
    partial = {(it.method.label, it.mask_set, it.seed, it.image_index) for it in todo
               if not it.method.is_reference and get_method(it.method.name).multi_sample}
    todo = [it for i, it in enumerate(items) if i % world == rank and (  # a fit draws all of an image's completions
        it.key not in done or (it.method.label, it.mask_set, it.seed, it.image_index) in partial)]
    needs_model = any(m.needs_model for m in cfg.methods)
    inpainter = None
    if todo and any(m.needs_model or not m.is_reference for m in cfg.methods):
        device = cfg.device
        if device == "auto" and world > 1 and torch.cuda.is_available():
            device = f"cuda:{int(os.environ.get('LOCAL_RANK', rank)) % torch.cuda.device_count()}"
        inpainter = Inpainter(cfg.model if needs_model else None, device=device, threads=None,
                              precision=cfg.precision)
    run.write_config(cfg)  # only once the model has loaded: a failure before leaves the folder as it was
    resolution = cfg.resolution or (inpainter.model.resolution if inpainter and inpainter.model else DEFAULT_RESOLUTION)
    fd = open_shard(run.shard_manifest(rank))
    bar = tqdm(total=len(todo), desc=f"bench (rank {rank}/{world})" if world > 1 else "bench", disable=not progress)
    try:
        for batch in batches(todo, cfg.batch_size):
            gt = torch.cat([_ground_truth(run, cfg, paths[item.image_index], resolution) for item in batch])
            mask = torch.cat([_mask(run, cfg, item, resolution) for item in batch])
            start = time.perf_counter()
            batch_prompts = [prompts[item.image_index] if item.method.needs_model else None for item in batch]
            result = run_batch(batch, gt, mask, inpainter, batch_prompts)
            seconds = (time.perf_counter() - start) / len(batch)
            eight_bit = torch.cat([load_image(to_pil(x)) for x in result.before_paste])  # as the outputs are stored
            before_paste = known_region_change(eight_bit, gt, mask)
            for item, output, m, change in zip(batch, result.outputs, mask, before_paste):
                file = save_image(to_pil(output), run.output(item))
                append_line(fd, {
                    "key": item.key, "method": item.method.name, "label": item.method.label,
                    "options": item.method.resolved_options(),
                    "model": cfg.model if item.method.needs_model else None,
                    "image": str(paths[item.image_index]), "gt": str(run.gt(item.stem).relative_to(run.root)),
                    "mask_set": item.mask_set, "mask": str(run.mask(item.mask_set, item.stem).relative_to(run.root)),
                    "hole_ratio": hole_ratio(m[None]), "seed": item.seed, "prompt": prompts[item.image_index],
                    "sample_seed": item.sample_seed, "completion": item.completion, "resolution": resolution,
                    "output": str(file.relative_to(run.root)),
                    "sha256": hashlib.sha256(file.read_bytes()).hexdigest(), "seconds": seconds,
                    "batch_size": len(batch), "network_calls": result.calls, "backward_calls": result.backward_calls,
                    "known_change_before_paste": float(change),
                    **{f"{name}_seconds": value for name, value in result.phases.items()},
                })
                bar.update(1)
    finally:
        bar.close()
        os.close(fd)
    merged = merge_manifests(run)
    return merged if merged is not None else run.root
