"""The built-in models shipped in the package, and what their cards say, read without loading a network."""
from __future__ import annotations

import math
from pathlib import Path

from .hub import read_config, read_json

BUILTIN_DIR = Path(__file__).resolve().parents[1] / "weights"


def builtin_models() -> dict[str, Path]:
    """Built-in model name -> its folder inside the package."""
    if not BUILTIN_DIR.is_dir():
        return {}
    return {p.name: p for p in sorted(BUILTIN_DIR.iterdir()) if (p / "model_index.json").exists()}


def shipped_folder(source: str | Path) -> Path:
    """``source`` itself, or, when no such path exists, the folder of that name shipped in the package (the
    prompt-accuracy classifier ``cifar10-classifier``)."""
    path = Path(source)
    if not path.exists() and path.name == str(source) and (BUILTIN_DIR / path.name).is_dir():
        return BUILTIN_DIR / path.name
    return path


def model_info(folder: str | Path) -> dict:
    """The model card's figures and references (``inpaintkit.json``), empty for foreign folders."""
    f = Path(folder) / "inpaintkit.json"
    return read_json(f) if f.exists() else {}


def model_summary(folder: str | Path) -> dict:
    """What ``inpaintkit models`` lists of a model folder, read from its configs and weight headers
    without loading a network (a text-conditioned model's encoder may not even be installed)."""
    from safetensors import safe_open

    folder = Path(folder)
    info = model_info(folder)
    unet_dir = folder / "unet" if (folder / "unet").is_dir() else folder
    config = read_config(unet_dir)
    latent = "vae" in info or (folder / "vae").is_dir()
    side = config["sample_size"][0] if isinstance(config["sample_size"], (list, tuple)) else config["sample_size"]
    parameters = 0
    for file in unet_dir.glob("*.safetensors"):
        with safe_open(file, "pt") as f:
            parameters += sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys())
    return {"resolution": info.get("resolution") or side * (8 if latent else 1),
            "space": "latent" if latent else "pixel",
            "conditioning": "text-conditioned" if "cross_attention_dim" in config else "unconditional",
            "parameters": parameters, "training_steps": info.get("training_steps"), "fid": info.get("fid"),
            "fid_floor": info.get("fid_floor")}
