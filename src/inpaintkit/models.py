"""One interface for every pretrained denoiser: pixel or latent, unconditional, class- or text-conditioned.

A method sees a :class:`DiffusionModel` and nothing else. It asks for ``predict(x_t, t, cond)``
(x0 and eps, whatever the network's parameterisation, with classifier-free guidance applied),
``encode`` / ``decode`` between pixels and the model's space (identity for pixel models), and the
``schedule`` the model was trained with. Everything is a plain ``torch.nn.Module``: gradients flow
through the denoiser and the decoder, U-Net blocks can be hooked, attention processors replaced
(``model.set_attn_processor``, for every U-Net class) and the VAE fine-tuned.

Sources for :func:`load_model`: a built-in name (``inpaintkit models``), a local folder in diffusers
layout (a bare ``UNet2DModel`` folder, a DDPM pipeline folder or a Stable Diffusion pipeline
folder), or a model-hub id, which needs network access the first time.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from .schedule import NoiseSchedule, ScheduleConfig

BUILTIN_DIR = Path(__file__).parent / "weights"


class ModelNotFoundError(ValueError):
    """A model source that is neither a built-in name, a local folder nor a reachable hub id."""


@dataclass
class Conditioning:
    """Prompt embeddings for a batch, with the unconditional branch for classifier-free guidance."""

    embeds: torch.Tensor | None
    uncond_embeds: torch.Tensor | None = None
    guidance_scale: float = 1.0

    def expand(self, batch: int) -> "Conditioning":
        rep = lambda e: e if e is None or e.shape[0] == batch else e.expand(batch, *e.shape[1:])  # noqa: E731
        return Conditioning(rep(self.embeds), rep(self.uncond_embeds), self.guidance_scale)


@dataclass
class Prediction:
    x0: torch.Tensor
    eps: torch.Tensor


class DiffusionModel(torch.nn.Module):
    """A denoiser with its schedule and, for latent models, its autoencoder and text encoder."""

    def __init__(self, unet: torch.nn.Module, schedule: NoiseSchedule, vae: torch.nn.Module | None = None,
                 text_encoder=None, name: str = "", info: dict | None = None):
        super().__init__()
        self.unet = unet
        self.vae = vae
        self.text_encoder = text_encoder  # a callable (a PromptEncoder module): list[str] -> (B, L, D)
        self.schedule = schedule
        self.name = name
        self.info = dict(info or {})
        self.network_calls = 0  # U-Net forward passes per sample (a CFG batch of two counts as two)
        self.backward_calls = 0  # backward passes through the U-Net, counted the same way (gradient methods)

    # -- geometry ----------------------------------------------------------------------
    @property
    def space(self) -> str:
        return "latent" if self.vae is not None else "pixel"

    @property
    def vae_scale(self) -> int:
        if self.vae is None:
            return 1
        cfg = self.vae.config
        if "upsampling_scaling_factor" in cfg:  # AutoencoderTiny
            return cfg.upsampling_scaling_factor ** (len(cfg.decoder_block_out_channels) - 1)
        return 2 ** (len(cfg.block_out_channels) - 1)  # AutoencoderKL

    @property
    def sample_size(self) -> int:
        s = self.unet.config.sample_size
        return s[0] if isinstance(s, (tuple, list)) else s

    @property
    def resolution(self) -> int:
        """Side of the square images the model generates, in pixels."""
        return self.sample_size * self.vae_scale

    @property
    def channels(self) -> int:
        return self.unet.config.in_channels

    @property
    def device(self) -> torch.device:
        return next(self.unet.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.unet.parameters()).dtype

    @property
    def is_conditional(self) -> bool:
        return self.text_encoder is not None

    def latent_shape(self, batch: int, resolution: int | None = None) -> tuple[int, int, int, int]:
        side = (resolution or self.resolution) // self.vae_scale
        return (batch, self.channels, side, side)

    # -- network -------------------------------------------------------------------------
    def forward(self, x_t: torch.Tensor, t, cond: torch.Tensor | None = None) -> torch.Tensor:
        """The raw network output (eps, v or x0 as the schedule says)."""
        t = torch.as_tensor(t, device=x_t.device).reshape(-1).expand(x_t.shape[0])
        self.network_calls += x_t.shape[0]
        x_in = x_t.to(self.dtype)
        if "cross_attention_dim" in self.unet.config:
            if cond is None:
                raise ValueError(f"model {self.name!r} is text-conditioned: pass a Conditioning from model.condition()")
            out = self.unet(x_in, t, encoder_hidden_states=cond.to(x_in.device, self.dtype)).sample
        else:
            out = self.unet(x_in, t).sample
        return out.to(x_t.dtype)

    def predict(self, x_t: torch.Tensor, t, cond: Conditioning | None = None) -> Prediction:
        """x0 and eps estimates at (x_t, t), with classifier-free guidance (Ho & Salimans 2022, Eq. 6)
        applied to the network output; x0 is clipped to the data range for models trained that way."""
        if cond is None or cond.embeds is None:
            out = self(x_t, t)
        else:
            cond = cond.expand(x_t.shape[0])
            if cond.guidance_scale == 1.0 or cond.uncond_embeds is None:
                out = self(x_t, t, cond.embeds)
            else:
                both = self(torch.cat([x_t, x_t]), t, torch.cat([cond.uncond_embeds, cond.embeds]))
                out_u, out_c = both.chunk(2)
                out = out_u + cond.guidance_scale * (out_c - out_u)
        x0, eps = self.schedule.to_x0_eps(out, x_t, t)
        if self.vae is None:
            x0 = self.schedule.clip(x0)
        return Prediction(x0, eps)

    # -- pixels <-> model space ----------------------------------------------------------
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1] to the model's space (scaled latents, or the images themselves)."""
        if self.vae is None:
            return images
        out = self.vae.encode(images.to(self.vae.dtype))
        z = out.latents if hasattr(out, "latents") else out.latent_dist.mean  # AutoencoderTiny / AutoencoderKL
        cfg = self.vae.config
        return ((z.float() - (getattr(cfg, "shift_factor", None) or 0.0)) * cfg.scaling_factor)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The model's space back to images in [-1, 1]."""
        if self.vae is None:
            return z
        cfg = self.vae.config
        z = z / cfg.scaling_factor + (getattr(cfg, "shift_factor", None) or 0.0)
        return self.vae.decode(z.to(self.vae.dtype)).sample.float().clamp(-1, 1)

    def condition(self, prompts: list[str] | str | None, guidance_scale: float = 1.0) -> Conditioning | None:
        """Embed prompts; the empty prompt is the unconditional branch (trained by condition dropout)."""
        if self.text_encoder is None:
            if prompts:
                raise ValueError(f"model {self.name!r} is unconditional and takes no prompt")
            return None
        prompts = [prompts or ""] if prompts is None or isinstance(prompts, str) else list(prompts)
        with torch.no_grad():
            embeds = self.text_encoder(prompts)
            uncond = self.text_encoder([""] * len(prompts)) if guidance_scale != 1.0 else None
        return Conditioning(embeds, uncond, guidance_scale)

    # -- attention processors (``UNet2DModel`` lacks diffusers' accessors) -------------------------
    @property
    def attn_processors(self) -> dict:
        """The U-Net's attention processors, keyed by module path as in diffusers."""
        return {f"{name}.processor": m.get_processor() for name, m in self.unet.named_modules()
                if hasattr(m, "get_processor")}

    def set_attn_processor(self, processor) -> None:
        """Replace the U-Net's attention processors: one for every layer, or a dict keyed like
        :attr:`attn_processors`."""
        for name, m in self.unet.named_modules():
            if hasattr(m, "set_processor"):
                m.set_processor(processor[f"{name}.processor"] if isinstance(processor, dict) else processor)

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.unet.parameters())


# -- loading ---------------------------------------------------------------------------------
def builtin_models() -> dict[str, Path]:
    """Built-in model name -> its folder inside the package."""
    if not BUILTIN_DIR.is_dir():
        return {}
    return {p.name: p for p in sorted(BUILTIN_DIR.iterdir()) if (p / "model_index.json").exists()}


def model_info(folder: Path) -> dict:
    """The model card's figures (``inpaintkit.json``), empty for foreign folders."""
    f = Path(folder) / "inpaintkit.json"
    return json.loads(f.read_text()) if f.exists() else {}


def model_summary(folder: Path) -> dict:
    """What ``inpaintkit models`` lists of a model folder, read from its configs and weight headers
    without loading a network (a text-conditioned model's encoder may not even be installed)."""
    from safetensors import safe_open

    folder = Path(folder)
    info = model_info(folder)
    unet_dir = folder / "unet" if (folder / "unet").is_dir() else folder
    config = json.loads((unet_dir / "config.json").read_text())
    latent = "vae" in info or (folder / "vae").is_dir()
    side = config["sample_size"][0] if isinstance(config["sample_size"], (list, tuple)) else config["sample_size"]
    parameters = 0
    for file in unet_dir.glob("*.safetensors"):
        with safe_open(file, "pt") as f:
            parameters += sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys())
    return {"resolution": info.get("resolution") or side * (8 if latent else 1),
            "space": "latent" if latent else "pixel",
            "conditioning": "text-conditioned" if "cross_attention_dim" in config else "unconditional",
            "parameters": parameters, "training_steps": info.get("training_steps"), "fid": info.get("fid")}


def _load_module(folder: Path, dtype: torch.dtype | None):
    from diffusers import AutoencoderKL, AutoencoderTiny, UNet2DConditionModel, UNet2DModel

    classes = {c.__name__: c for c in (UNet2DModel, UNet2DConditionModel, AutoencoderKL, AutoencoderTiny)}
    name = json.loads((folder / "config.json").read_text()).get("_class_name")
    if name not in classes:
        raise ModelNotFoundError(f"{folder}: unsupported component class {name!r}; supported: {sorted(classes)}")
    return classes[name].from_pretrained(folder, torch_dtype=dtype)


class PromptEncoder(torch.nn.Module):
    """A CLIP tokenizer + text encoder as one module: prompts -> (B, L, D) token embeddings (the
    encoder's last hidden state, what Stable Diffusion's U-Net cross-attends to)."""

    def __init__(self, tokenizer, encoder: torch.nn.Module):
        super().__init__()
        self.tokenizer = tokenizer
        self.encoder = encoder

    def forward(self, prompts: list[str]) -> torch.Tensor:
        ids = self.tokenizer(prompts, padding="max_length", max_length=self.tokenizer.model_max_length,
                             truncation=True, return_tensors="pt").input_ids
        return self.encoder(ids.to(next(self.encoder.parameters()).device))[0]


def _text_encoder_from_folder(root: Path, device) -> PromptEncoder:
    """The ``tokenizer/`` + ``text_encoder/`` (a ``CLIPTextModel``) of a Stable Diffusion folder."""
    from transformers import AutoTokenizer, CLIPTextModel

    tokenizer = AutoTokenizer.from_pretrained(root / "tokenizer")
    return PromptEncoder(tokenizer, CLIPTextModel.from_pretrained(root / "text_encoder")).to(device).eval()


def load_folder(folder: str | Path, device="cpu", dtype: torch.dtype | None = None, vae_override: str | Path | None = None,
                name: str | None = None) -> DiffusionModel:
    """Load a diffusers-layout folder: ``unet/`` (or the folder itself), ``scheduler/``, optional ``vae/``
    and ``text_encoder/`` + ``tokenizer/``, or the autoencoder and text encoder that ``inpaintkit.json``
    names (``"vae": {"hub_id": ...}``, ``"text_encoder": {"name": ...}``; see :mod:`inpaintkit.taesd`
    and :mod:`inpaintkit.text`). ``vae_override``: a local autoencoder folder to use instead."""
    from .taesd import load_vae, load_vae_reference
    from .text import load_text_encoder

    root = Path(folder)
    unet_dir = root / "unet" if (root / "unet" / "config.json").exists() else root
    if not (unet_dir / "config.json").exists():
        raise ModelNotFoundError(f"{root}: no unet/config.json or config.json: not a diffusers model folder")
    unet = _load_module(unet_dir, dtype).to(device).eval()
    info = model_info(root)
    if vae_override or (root / "vae" / "config.json").exists():
        vae = load_vae(vae_override or root / "vae", dtype).to(device)
    else:
        vae = load_vae_reference(info["vae"], dtype).to(device) if "vae" in info else None
    if vae is not None:  # channels-last convolutions: TAESD decodes ~1.1-1.25x faster on CPU
        # (benchmarks/bench_vae_layout.py), and it is the layout cuDNN prefers in half precision
        vae = vae.to(memory_format=torch.channels_last)
    sched_file = root / "scheduler" / "scheduler_config.json"
    sched = json.loads(sched_file.read_text()) if sched_file.exists() else {}
    # diffusers' schedulers default to clipping x0 to [-1, 1], which is wrong for latents.
    sched = ScheduleConfig.from_dict({"clip_sample": vae is None, **sched})
    if (root / "text_encoder").is_dir():
        text_encoder = _text_encoder_from_folder(root, device)
    else:
        text_encoder = load_text_encoder(info["text_encoder"], device) if "text_encoder" in info else None
    return DiffusionModel(unet, NoiseSchedule(sched), vae=vae, text_encoder=text_encoder,
                          name=name or root.name, info=info)


def load_model(source: str | Path, device="cpu", dtype: torch.dtype | None = None) -> DiffusionModel:
    """A built-in name, a local diffusers folder, or a hub id such as ``runwayml/stable-diffusion-v1-5``."""
    builtins = builtin_models()
    if str(source) in builtins:
        return load_folder(builtins[str(source)], device, dtype, name=str(source))
    path = Path(source)
    if path.exists():
        return load_folder(path, device, dtype)
    if str(source).count("/") == 1 and not str(source).startswith((".", "/")):
        return load_folder(_download(str(source)), device, dtype, name=str(source))
    known = ", ".join(builtins) or "none installed"
    raise ModelNotFoundError(f"unknown model {source!r}: not a built-in model ({known}), a local folder or a hub id")


# What a hub snapshot needs: each component's configs and tokenizer files, and one weights file per
# component (safetensors before pickles; never fp16/EMA variants or single-file checkpoints).
HUB_COMPONENTS = ("", "unet", "vae", "scheduler", "text_encoder", "tokenizer")
WEIGHT_FILES = ("diffusion_pytorch_model.safetensors", "model.safetensors", "diffusion_pytorch_model.bin",
                "pytorch_model.bin")


def hub_files_to_fetch(repo_files: list[str]) -> list[str]:
    """The subset of a hub repository's files that :func:`load_folder` reads."""
    by_folder: dict[str, set[str]] = {}
    for f in repo_files:
        folder, _, name = f.rpartition("/")
        by_folder.setdefault(folder, set()).add(name)
    wanted = []
    for folder in HUB_COMPONENTS:
        names = by_folder.get(folder, set())
        prefix = f"{folder}/" if folder else ""
        wanted += [prefix + n for n in sorted(names) if n.endswith((".json", ".txt"))]
        wanted += [prefix + n for n in WEIGHT_FILES if n in names][:1]
    return wanted


def _download(repo_id: str) -> Path:
    from huggingface_hub import list_repo_files, snapshot_download

    try:
        return Path(snapshot_download(repo_id, allow_patterns=hub_files_to_fetch(list_repo_files(repo_id))))
    except Exception as e:  # offline, unknown id, gated repo ...
        reason = type(e).__name__
    try:
        return Path(snapshot_download(repo_id, local_files_only=True))  # fetched before, offline now
    except Exception:
        raise ModelNotFoundError(
            f"could not fetch model {repo_id!r} from the Hugging Face hub ({reason}) and there is no local "
            "folder of that name; check the id and your network, or pass a local folder in diffusers layout"
        ) from None
