"""Tensors computed once and kept (autoencoder latents, prompt embeddings), with a record of what they
were computed from, checked when they are read back."""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import safe_open

from ..core.files import save_tensors


def save_cache(path: str | Path, tensors: dict[str, torch.Tensor], meta: dict) -> Path:
    """A safetensors file of ``tensors`` that records ``meta``, what they were computed from."""
    return save_tensors(path, tensors, metadata={"inpaintkit": json.dumps(meta)})


def load_cache(path: str | Path, expect: dict | None = None) -> dict[str, torch.Tensor]:
    """The tensors of :func:`save_cache`; raises if the recorded ``meta`` differs from ``expect``
    (latents of other images, another crop or another autoencoder; embeddings of other prompts)."""
    with safe_open(str(path), "pt") as f:
        stored = json.loads((f.metadata() or {}).get("inpaintkit", "{}"))
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    stale = {k: (stored.get(k), v) for k, v in (expect or {}).items() if stored.get(k) != v}
    if stale:
        details = "; ".join(f"{k}: cache has {a!r}, run wants {b!r}" for k, (a, b) in stale.items())
        raise ValueError(f"cache {path} was made from other inputs ({details}); delete it to recompute")
    return tensors
