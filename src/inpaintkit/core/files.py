"""Atomic files: everything inpaintkit writes goes to a hidden temporary file in the target's folder
and is renamed into place, so a killed run never leaves a half-written file under the real name.

Temporary names carry the writer's process id (``.<name>.<pid>.<random>.tmp``): :func:`remove_stale_temps`
deletes those of processes that are gone (a run killed mid-write) and leaves live writers alone.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .errors import InpaintInputError

_TEMP = re.compile(r"^\..+\.(\d+)\.[0-9a-f]{8}\.tmp(\.\w+)?$")


def temp_path(path: Path, suffix: str = "") -> Path:
    """A hidden temporary name beside ``path``, unique to this process (``suffix`` keeps an extension
    that a writer insists on, such as numpy's ``.npz``)."""
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp{suffix}")


@contextmanager
def atomic_path(path: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path`` (parents created), on failure it
    is removed and ``path`` is untouched."""
    path = Path(path)
    if path.is_dir():
        raise InpaintInputError(f"cannot write {path}: it is a folder")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path, suffix)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_bytes(path: str | Path, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_json(path: str | Path, data, indent: int = 2) -> Path:
    return write_text(path, json.dumps(data, indent=indent) + "\n")


def save_image(image, path: str | Path, fmt: str | None = None, **params) -> Path:
    """A PIL image, in the format of ``fmt`` or of the extension."""
    with atomic_path(path) as tmp:
        with open(tmp, "xb") as f:
            image.save(f, format=fmt or _pil_format(Path(path)), **params)
    return Path(path)


def _pil_format(path: Path) -> str:
    from PIL import Image

    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise InpaintInputError(f"{path}: unknown image extension {path.suffix!r}")
    return fmt


def save_npz(path: str | Path, **arrays) -> Path:
    import numpy as np

    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, **arrays)
    return Path(path)


def save_tensors(path: str | Path, tensors: dict, metadata: dict[str, str] | None = None) -> Path:
    """A safetensors file (tensors made contiguous)."""
    from safetensors.torch import save_file

    with atomic_path(path) as tmp:
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp), metadata=metadata)
    return Path(path)


def torch_save(obj, path: str | Path) -> Path:
    """``torch.save`` of tensors and plain values (read back with :func:`torch_load`)."""
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return Path(path)


def torch_load(path: str | Path, map_location=None):
    """``torch.load`` with ``weights_only=True``: tensors, numbers, strings, lists, tuples and dicts only.
    A file that needs more (a pickle that would construct other objects or run code) is refused."""
    import pickle

    import torch

    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        from .errors import UnsafeFileError

        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UnsafeFileError(f"{path}: refused to load, it needs pickle code execution, not only tensors "
                              f"({reason[:200]})") from None


@contextmanager
def atomic_folder(path: str | Path) -> Iterator[Path]:
    """Yield a temporary folder to fill; on success it replaces the folder ``path`` as a whole."""
    path = Path(path)
    tmp = temp_path(path)
    tmp.mkdir(parents=True)
    try:
        yield tmp
        if path.exists():
            old = temp_path(path)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(folder: str | Path) -> int:
    """Delete the temporary files and folders of :func:`atomic_path` / :func:`atomic_folder` in ``folder``
    whose writer is no longer running; returns how many went."""
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    removed = 0
    for p in folder.iterdir():
        match = _TEMP.match(p.name)
        if match and int(match.group(1)) != os.getpid() and not _alive(int(match.group(1))):
            shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)
            removed += 1
    return removed
