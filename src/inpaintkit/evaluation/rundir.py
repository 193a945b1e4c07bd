"""A benchmark run folder::

    config.json                       the run's configuration (a rerun must match it)
    gt/<stem>.png                     ground truth, prepared at the benchmark resolution
    masks/<mask set>/<stem>.png       the mask of each image (white = hole), drawn at that resolution
    outputs/<label>/<mask set>/<stem>_s<seed>.png
    manifest.rank<r>.jsonl            one line per finished output, written by process r
    manifest.jsonl                    the merged manifest, once every output exists

A manifest line is appended (one ``write`` + ``fsync``) only after its image is in place; a truncated
last line left by a killed process is ignored and cut on the next run.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from ..core.errors import InpaintInputError
from ..core.files import write_json, write_text
from .config import BenchConfig, Item, image_paths, work_items

EXECUTION_SETTINGS = ("device", "batch_size")  # how a run is computed, not what: a resumed run may change them


class RunDir:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    def gt(self, stem: str) -> Path:
        return self.root / "gt" / f"{stem}.png"

    def mask(self, mask_set: str, stem: str) -> Path:
        return self.root / "masks" / mask_set / f"{stem}.png"

    def output(self, item: Item) -> Path:
        suffix = f"_k{item.completion}" if item.completions > 1 else ""
        return self.root / "outputs" / item.method.label / item.mask_set / f"{item.stem}_s{item.seed}{suffix}.png"

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

    def write_config(self, cfg: BenchConfig) -> None:
        """Record the config, or check that the folder's recorded one is the same run. A rerun may add
        methods (new rows of the same table: recorded after the old ones); every other setting, and every
        method it shares a label with, must match. A recorded config with no finished output yet (a run
        that failed before its first image) is simply replaced."""
        new = json.loads(json.dumps({k: v for k, v in cfg.to_dict().items() if k not in EXECUTION_SETTINGS}))
        record = cfg.to_dict()
        if self.config.is_file() and self.entries():
            recorded = BenchConfig.from_dict(json.loads(self.config.read_text())).to_dict()  # defaults filled in
            old = {k: v for k, v in recorded.items() if k not in EXECUTION_SETTINGS}
            old_methods = {m["label"]: m for m in old.pop("methods")}
            new_methods = new.pop("methods")
            if old != new or any(old_methods.get(m["label"], m) != m for m in new_methods):
                raise InpaintInputError(f"{self.root} holds a run with another configuration; use a new folder")
            added = [m for m in new_methods if m["label"] not in old_methods]
            if not added:
                return
            record = {**recorded, "methods": [*old_methods.values(), *added]}
            self.manifest.unlink(missing_ok=True)  # merged again once the new rows are done
        write_json(self.config, record)


def open_shard(path: Path) -> int:
    """The shard opened for appending, after cutting a truncated last line left by a killed run."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
    if os.fstat(fd).st_size:
        data = path.read_bytes()
        if not data.endswith(b"\n"):
            os.ftruncate(fd, data.rfind(b"\n") + 1)
    return fd


def append_line(fd: int, entry: dict) -> None:
    os.write(fd, (json.dumps(entry, sort_keys=True) + "\n").encode())
    os.fsync(fd)


def merge_manifests(run: RunDir | str | Path) -> Path | None:
    """Write ``manifest.jsonl`` (entries in work-list order) once every item of the run is done."""
    run = run if isinstance(run, RunDir) else RunDir(run)
    cfg = run.read_config()
    items = work_items(cfg, image_paths(cfg))
    entries = run.entries()
    if any(it.key not in entries for it in items):
        return None
    return write_text(run.manifest, "".join(json.dumps(entries[it.key], sort_keys=True) + "\n" for it in items))


def read_manifest(run: RunDir | str | Path) -> list[dict]:
    """The run's entries in work-list order (merged when complete, else those finished so far)."""
    run = run if isinstance(run, RunDir) else RunDir(run)
    cfg = run.read_config()
    entries = run.entries()
    return [entries[it.key] for it in work_items(cfg, image_paths(cfg)) if it.key in entries]
