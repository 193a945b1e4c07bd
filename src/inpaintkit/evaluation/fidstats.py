"""Inception features of FID/KID reference sets, computed once per set and kept: the one cache behind the
bench report and the model cards. A set is named by what it is (a JSON-able key: its files, resolution,
crop, transform); a changed key computes the features again. A large set is featurized part by part, the
finished parts kept beside the cache file, so an interrupted computation resumes where it stopped."""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from tqdm.auto import tqdm

from ..core.files import save_npz


class FeatureCache:
    """``FeatureCache(folder).get(name, key, compute)``: the features ``compute()`` returns (with a dict of
    facts about the set), from ``folder/<name>-<digest>.npz`` when it holds the same key."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder).expanduser()

    def path(self, name: str, key: dict) -> Path:
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40]
        digest = hashlib.sha1(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:12]
        return self.folder / f"{slug}-{digest}.npz"

    def get(self, name: str, key: dict, compute: Callable[[], tuple[np.ndarray, dict]]) -> tuple[np.ndarray, dict]:
        key = _jsonable(key)
        path = self.path(name, key)
        stored = _load(path, key)
        if stored is not None:
            return stored
        features, info = compute()
        _save(path, features, key, info)
        return np.asarray(features, np.float32).astype(np.float64), info  # as stored: the same on every call

    def get_in_parts(self, name: str, key: dict, items: Sequence, featurize: Callable[[Sequence], np.ndarray],
                     part_size: int = 500) -> np.ndarray:
        """The features of ``items``, ``featurize``-d ``part_size`` at a time. Every finished part is added to
        ``<cache file>.partial.npz`` (same key), which a later call resumes from and the last part removes."""
        key = _jsonable(key)
        path = self.path(name, key)
        stored = _load(path, key)
        if stored is not None:
            return stored[0]
        partial = path.with_suffix(".partial.npz")
        done = _load(partial, key)
        parts = [done[0]] if done is not None else []
        start = len(parts[0]) if parts else 0
        with tqdm(total=len(items), initial=start, desc=f"{name} features", unit="image") as bar:
            for i in range(start, len(items), part_size):
                parts.append(np.asarray(featurize(items[i:i + part_size]), np.float32))  # as stored
                _save(partial, np.concatenate(parts), key, {"n": i + len(parts[-1])})
                bar.update(len(parts[-1]))
        features = np.concatenate(parts)
        _save(path, features, key, {"n": len(items)})
        partial.unlink(missing_ok=True)
        return features.astype(np.float64)


def _jsonable(key: dict) -> dict:
    return json.loads(json.dumps(key, default=str))


def _load(path: Path, key: dict) -> tuple[np.ndarray, dict] | None:
    if not path.is_file():
        return None
    with np.load(path) as z:
        meta = json.loads(str(z["meta"]))
        if meta["key"] != key:
            return None
        return z["features"].astype(np.float64), meta["info"]


def _save(path: Path, features: np.ndarray, key: dict, info: dict) -> None:
    save_npz(path, features=np.asarray(features, np.float32), meta=json.dumps({"key": key, "info": info}))
