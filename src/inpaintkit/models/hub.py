"""Components on disk and on the model hub: reading one diffusers component folder, and fetching a hub
repository with a fast, explicit answer when the hub cannot be reached.

Weights are read from safetensors. Pickled weights (``*.bin``, ``*.pt``) can run code when loaded, so a
component that has nothing else is refused unless the caller passes ``allow_pickle=True``
(``--allow-pickle`` on the command line) for a source they trust.
"""
from __future__ import annotations

import json
import os
import socket
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import torch

from ..core.errors import ModelNotFoundError, UnsafeFileError

# What a hub snapshot needs: each component's configs and tokenizer files, and one weights file per
# component (safetensors before pickles; never fp16/EMA variants or single-file checkpoints).
HUB_COMPONENTS = ("", "unet", "vae", "scheduler", "text_encoder", "tokenizer", "text_encoder_2", "tokenizer_2")
SAFE_WEIGHTS = ("diffusion_pytorch_model.safetensors", "model.safetensors")
PICKLE_WEIGHTS = ("diffusion_pytorch_model.bin", "pytorch_model.bin")
HUB_TIMEOUT = 3.0  # seconds to wait for the hub's host before calling it unreachable


@dataclass(frozen=True)
class HubOptions:
    """How a model is fetched and read: ``variant`` (weights such as ``*.fp16.safetensors``, where a component
    has them), ``revision`` (a branch, tag or commit of the hub repository), ``cache_dir`` (instead of the hub's
    default cache), ``config`` (a local diffusers folder with the configs a single-file checkpoint needs)."""

    variant: str | None = None
    revision: str | None = None
    cache_dir: str | None = None
    config: str | None = None


def variant_in(folder: Path, variant: str | None) -> str | None:
    """``variant`` where ``folder`` has weights of that variant, else None (the component's plain weights)."""
    return variant if variant and any(folder.glob(f"*.{variant}.*")) else None


def read_json(file: str | Path) -> dict:
    """A JSON object from a model folder, or an error naming the file."""
    file = Path(file)
    try:
        data = json.loads(file.read_text())
    except FileNotFoundError:
        raise ModelNotFoundError(f"{file} not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelNotFoundError(f"{file} is not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise ModelNotFoundError(f"{file}: expected a JSON object")
    return data


def read_config(folder: str | Path) -> dict:
    """A component's ``config.json``."""
    return read_json(Path(folder) / "config.json")


@contextmanager
def quiet_diffusers():
    """diffusers' notices (casting with .to(), unsafe serialisation the caller chose) kept off the console."""
    from diffusers.utils import logging as diffusers_logging

    verbosity = diffusers_logging.get_verbosity()
    diffusers_logging.set_verbosity_error()
    try:
        yield
    finally:
        diffusers_logging.set_verbosity(verbosity)


def load_component(folder: str | Path, dtype: torch.dtype | None = None, allow_pickle: bool = False,
                   variant: str | None = None):
    """A diffusers U-Net or autoencoder from its folder (``config.json`` + weights)."""
    from diffusers import AutoencoderKL, AutoencoderTiny, UNet2DConditionModel, UNet2DModel

    folder = Path(folder)
    classes = {c.__name__: c for c in (UNet2DModel, UNet2DConditionModel, AutoencoderKL, AutoencoderTiny)}
    name = read_config(folder).get("_class_name")
    if name not in classes:
        raise ModelNotFoundError(f"{folder}: unsupported component class {name!r}; supported: {sorted(classes)}")
    return load_component_class(classes[name], folder, dtype, allow_pickle, variant)


def load_component_class(cls, folder: str | Path, dtype: torch.dtype | None = None, allow_pickle: bool = False,
                         variant: str | None = None):
    """``cls.from_pretrained(folder)``, from safetensors (pickled weights only with ``allow_pickle``); the
    ``variant``'s weights where the folder has them."""
    folder = Path(folder)
    read_config(folder)
    safe = any(folder.glob("*.safetensors"))
    if not safe:
        pickles = sorted(p.name for p in folder.iterdir() if p.suffix in (".bin", ".pt", ".pth", ".ckpt"))
        if not pickles:
            raise ModelNotFoundError(f"{folder}: no weights file (*.safetensors)")
        if not allow_pickle:
            raise UnsafeFileError(f"{folder}: only pickled weights ({', '.join(pickles)}), which can run code when "
                                  "loaded; convert them to safetensors, or pass --allow-pickle (allow_pickle=True) "
                                  "for a source you trust")
    with quiet_diffusers():
        return cls.from_pretrained(folder, torch_dtype=dtype, use_safetensors=safe, variant=variant_in(folder, variant))


def hub_files_to_fetch(repo_files: list[str], allow_pickle: bool = False, variant: str | None = None) -> list[str]:
    """The subset of a hub repository's files that :func:`inpaintkit.models.loading.load_folder` reads: per
    component its configs and one weights file, the ``variant``'s where there is one."""
    by_folder: dict[str, set[str]] = {}
    for f in repo_files:
        folder, _, name = f.rpartition("/")
        by_folder.setdefault(folder, set()).add(name)
    weights = SAFE_WEIGHTS + (PICKLE_WEIGHTS if allow_pickle else ())
    if variant:
        weights = tuple(w.replace(".", f".{variant}.", 1) for w in weights) + weights
    wanted = []
    for folder in HUB_COMPONENTS:
        names = by_folder.get(folder, set())
        prefix = f"{folder}/" if folder else ""
        wanted += [prefix + n for n in sorted(names) if n.endswith((".json", ".txt"))]
        wanted += [prefix + n for n in weights if n in names][:1]
    return wanted


def hub_reachable(timeout: float = HUB_TIMEOUT) -> bool:
    """Whether the hub's host accepts a connection (False at once when ``HF_HUB_OFFLINE`` is set)."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        return False
    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    try:
        socket.create_connection((url.hostname, url.port or (443 if url.scheme == "https" else 80)), timeout).close()
        return True
    except OSError:
        return False


def download(repo_id: str, what: str = "model", local_hint: str = "", allow_pickle: bool = False,
             hub: HubOptions | None = None) -> Path:
    """A snapshot of a hub repository (the files :func:`hub_files_to_fetch` names): from the hub cache
    when it is there, else fetched. Offline, or for an unknown or gated id, one clear error that says
    what is missing and ``local_hint`` (how to provide a local copy instead)."""
    from huggingface_hub import list_repo_files, snapshot_download

    hint = f"; {local_hint}" if local_hint else "; or pass a local folder in diffusers layout"
    hub = hub or HubOptions()
    where = dict(revision=hub.revision, cache_dir=hub.cache_dir)
    if not hub_reachable():
        try:
            return Path(snapshot_download(repo_id, local_files_only=True, **where))  # fetched before
        except Exception:
            raise ModelNotFoundError(f"{what} {repo_id!r} is not on this machine and the model hub is not reachable "
                                     f"(offline){hint}") from None
    try:
        files = hub_files_to_fetch(list_repo_files(repo_id, revision=hub.revision), allow_pickle, hub.variant)
        return Path(snapshot_download(repo_id, allow_patterns=files, **where))
    except Exception as e:  # unknown id, gated repository, network failure
        kind = type(e).__name__
        if kind == "GatedRepoError":
            reason = "it is gated: accept its terms on the hub and log in (hf auth login)"
        elif kind == "RevisionNotFoundError":
            reason = f"it has no revision {hub.revision!r}"
        elif kind == "RepositoryNotFoundError":
            reason = "no such repository on the hub (or it is private: log in with hf auth login)"
        else:
            reason = f"the hub did not answer ({kind})"
        raise ModelNotFoundError(f"could not fetch {what} {repo_id!r}: {reason}{hint}") from None
