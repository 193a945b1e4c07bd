"""One interface for every pretrained denoiser: pixel or latent, unconditional, class- or text-conditioned.

A method sees a :class:`DiffusionModel` and nothing else. It asks for ``predict(x_t, t, cond)``
(x0 and eps, whatever the network's parameterisation, with classifier-free guidance applied),
``encode`` / ``decode`` between pixels and the model's space (identity for pixel models), and the
``schedule`` the model was trained with. Everything is a plain ``torch.nn.Module``: gradients flow
through the denoiser and the decoder, U-Net blocks can be hooked, attention processors replaced
(``model.set_attn_processor``, for every U-Net class) and the VAE fine-tuned.

Loading (built-in names, diffusers folders, hub ids) is :mod:`inpaintkit.models.loading`.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..core.errors import InpaintInputError
from ..core.schedule import NoiseSchedule
from .autoencoder import Autoencoder
from .text import unpack_pooled


@dataclass
class Conditioning:
    """Prompt embeddings for a batch, with the unconditional branch for classifier-free guidance."""

    embeds: torch.Tensor | None
    uncond_embeds: torch.Tensor | None = None
    guidance_scale: float = 1.0

    def expand(self, batch: int) -> "Conditioning":
        rep = lambda e: e if e is None or e.shape[0] == batch else e.expand(batch, *e.shape[1:])  # noqa: E731
        return Conditioning(rep(self.embeds), rep(self.uncond_embeds), self.guidance_scale)

    def repeat_each(self, n: int) -> "Conditioning":
        """Each prompt's embeddings ``n`` times in a row (for ``n`` samples per image)."""
        rep = lambda e: e if e is None or n == 1 else e.repeat_interleave(n, dim=0)  # noqa: E731
        return Conditioning(rep(self.embeds), rep(self.uncond_embeds), self.guidance_scale)

    def without_guidance(self) -> "Conditioning":
        """The conditional branch alone (guidance 1)."""
        return Conditioning(self.embeds, None, 1.0)


@dataclass
class Prediction:
    x0: torch.Tensor
    eps: torch.Tensor
    variance_v: torch.Tensor | None = None  # a learned-variance model's v (Improved DDPM Eq. 15), else None


class DiffusionModel(torch.nn.Module):
    """A denoiser with its schedule and, for latent models, its autoencoder and text encoder."""

    def __init__(self, unet: torch.nn.Module, schedule: NoiseSchedule, autoencoder: Autoencoder | None = None,
                 text_encoder=None, name: str = "", info: dict | None = None, folder=None):
        super().__init__()
        self.folder = folder  # the model folder it was loaded from (add-ons such as EP weights live there)
        self.execution_device: torch.device | None = None  # where an offloaded model computes (models/memory.py)
        self.class_label: int | None = None  # the class a class-conditional U-Net (num_class_embeds) generates
        self.unet = unet
        self.autoencoder = autoencoder
        self.text_encoder = text_encoder  # a callable (a PromptEncoder module): list[str] -> (B, L, D)
        self.schedule = schedule
        self.name = name
        self.info = dict(info or {})
        self.network_calls = 0  # U-Net forward passes per sample (a CFG batch of two counts as two)
        self.backward_calls = 0  # backward passes through the U-Net, counted the same way (gradient methods)

    # -- geometry ----------------------------------------------------------------------
    @property
    def space(self) -> str:
        return "latent" if self.autoencoder is not None else "pixel"

    @property
    def vae_scale(self) -> int:
        """Pixels per cell of the model's space along each side: 1 for pixel models."""
        return 1 if self.autoencoder is None else self.autoencoder.downsampling

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
        """Channels of the sample x_t (a learned-variance U-Net outputs more, an inpainting U-Net takes more in)."""
        return min(self.unet.config.in_channels, self.unet.config.out_channels)

    @property
    def learns_variance(self) -> bool:
        """The network outputs the variance interpolation v beside its eps (guided-diffusion's learn_sigma)."""
        return (self.schedule.config.variance_type == "learned_range"
                and self.unet.config.out_channels == 2 * self.channels)

    @property
    def is_inpainting_unet(self) -> bool:
        """A U-Net that takes the mask and the masked image's latents beside x_t (Stable Diffusion's 9-channel)."""
        return self.unet.config.in_channels > self.unet.config.out_channels

    @property
    def device(self) -> torch.device:
        return self.execution_device or next(self.unet.parameters()).device

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
    def forward(self, x_t: torch.Tensor, t, cond: torch.Tensor | None = None, **unet_kwargs) -> torch.Tensor:
        """The raw network output (eps, v or x0 as the schedule says); ``unet_kwargs`` go to the U-Net (a
        ControlNet's residuals)."""
        t = torch.as_tensor(t, device=x_t.device).reshape(-1).expand(x_t.shape[0])
        self.network_calls += x_t.shape[0]
        x_in = x_t.to(self.dtype)
        if self.unet.config.get("num_class_embeds"):
            if self.class_label is None:
                raise InpaintInputError(f"model {self.name!r} is class-conditional: give a class label "
                                        f"(class_label=, --class-label; 0..{self.unet.config.num_class_embeds - 1})")
            unet_kwargs["class_labels"] = torch.full((x_t.shape[0],), self.class_label, device=x_t.device)
        if "cross_attention_dim" in self.unet.config:
            if cond is None:
                raise InpaintInputError(f"model {self.name!r} is text-conditioned: pass a Conditioning from "
                                        "model.condition()")
            cond = cond.to(x_in.device, self.dtype)
            if self.unet.config.get("addition_embed_type") == "text_time":  # SDXL: pooled text + size micro-conditioning
                config = self.unet.config
                cond, pooled = unpack_pooled(cond, config.projection_class_embeddings_input_dim
                                             - 6 * config.addition_time_embed_dim)
                h, w = (side * self.vae_scale for side in x_t.shape[-2:])
                time_ids = torch.tensor([h, w, 0, 0, h, w], device=x_in.device, dtype=self.dtype)  # size, crop, target
                unet_kwargs["added_cond_kwargs"] = {"text_embeds": pooled,
                                                    "time_ids": time_ids.expand(x_t.shape[0], 6)}
            out = self.unet(x_in, t, encoder_hidden_states=cond, **unet_kwargs).sample
        else:
            out = self.unet(x_in, t, **unet_kwargs).sample
        return out.to(x_t.dtype)

    def predict(self, x_t: torch.Tensor, t, cond: Conditioning | None = None, clip: bool = True,
                concat: torch.Tensor | None = None) -> Prediction:
        """x0 and eps estimates at (x_t, t), with classifier-free guidance (Ho & Salimans 2022, Eq. 6)
        applied to the network output; x0 is clipped to the data range for models trained that way (unless
        ``clip`` is False: methods that differentiate the x0 estimate keep every pixel's gradient).
        ``concat``: channels the network takes beside x_t (an inpainting U-Net's mask and masked latents)."""
        x_in = x_t if concat is None else torch.cat([x_t, concat.to(x_t)], dim=1)
        if cond is None or cond.embeds is None:
            out = self(x_in, t)
        else:
            cond = cond.expand(x_t.shape[0])
            if cond.guidance_scale == 1.0 or cond.uncond_embeds is None:
                out = self(x_in, t, cond.embeds)
            else:
                both = self(torch.cat([x_in, x_in]), t, torch.cat([cond.uncond_embeds, cond.embeds]))
                out_u, out_c = both.chunk(2)
                out = out_u + cond.guidance_scale * (out_c - out_u)
        variance_v = out[:, self.channels:] if self.learns_variance else None
        x0, eps = self.schedule.to_x0_eps(out, x_t, t)
        if clip and self.autoencoder is None:
            x0 = self.schedule.clip(x0)
        return Prediction(x0, eps, variance_v)

    # -- pixels <-> model space ----------------------------------------------------------
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1] to the model's space (scaled latents, or the images themselves)."""
        return images if self.autoencoder is None else self.autoencoder.encode(images)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The model's space back to images in [-1, 1]."""
        return z if self.autoencoder is None else self.autoencoder.decode(z)

    def condition(self, prompts: list[str] | str | None, guidance_scale: float = 1.0) -> Conditioning | None:
        """Embed prompts; the empty prompt is the unconditional branch (trained by condition dropout)."""
        if self.text_encoder is None:
            if prompts:
                raise InpaintInputError(f"model {self.name!r} is unconditional and takes no prompt")
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
