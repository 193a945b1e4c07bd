"""Inception features of FID/KID reference sets, computed once per set and kept: the one cache behind the
bench report and the model cards. A set is named by what it is (a JSON-able key: its files, resolution,
crop, transform); a changed key computes the features again."""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Callable

import numpy as np

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
        key = json.loads(json.dumps(key, default=str))
        path = self.path(name, key)
        if path.is_file():
            with np.load(path) as z:
                meta = json.loads(str(z["meta"]))
                if meta["key"] == key:
                    return z["features"].astype(np.float64), meta["info"]
        features, info = compute()
        save_npz(path, features=np.asarray(features, np.float32), meta=json.dumps({"key": key, "info": info}))
        return np.asarray(features, np.float64), info
