"""The autoencoder of a latent model: pixels in [-1, 1] <-> the scaled latents the denoiser was trained on."""
from __future__ import annotations

import torch


class Autoencoder(torch.nn.Module):
    """A diffusers ``AutoencoderTiny`` (TAESD) or ``AutoencoderKL`` with its latent scaling:
    ``z = (E(x) - shift) * scale`` and ``x = D(z / scale + shift)``; KL autoencoders encode to their
    posterior mean. Runs channels-last (TAESD decodes 1.1-1.25x faster on CPU, benchmarks/bench_vae_layout.py,
    and it is the layout cuDNN prefers in half precision)."""

    def __init__(self, vae: torch.nn.Module):
        super().__init__()
        self.vae = vae.to(memory_format=torch.channels_last).eval()

    @property
    def config(self):
        return self.vae.config

    @property
    def downsampling(self) -> int:
        """Pixels per latent cell along each side (8 for TAESD and Stable Diffusion's VAE)."""
        cfg = self.vae.config
        if "upsampling_scaling_factor" in cfg:  # AutoencoderTiny
            return cfg.upsampling_scaling_factor ** (len(cfg.decoder_block_out_channels) - 1)
        return 2 ** (len(cfg.block_out_channels) - 1)  # AutoencoderKL

    @property
    def dtype(self) -> torch.dtype:
        return next(self.vae.parameters()).dtype

    def _shift(self) -> float:
        return getattr(self.vae.config, "shift_factor", None) or 0.0

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1] to scaled latents (float32)."""
        out = self.vae.encode(images.to(self.dtype))
        z = out.latents if hasattr(out, "latents") else out.latent_dist.mean  # AutoencoderTiny / AutoencoderKL
        return (z.float() - self._shift()) * self.vae.config.scaling_factor

    def decode(self, z: torch.Tensor, clamp: bool = True) -> torch.Tensor:
        """Scaled latents to images in [-1, 1] (float32); ``clamp=False`` keeps out-of-range pixels (and their
        gradients: decoder training)."""
        z = z / self.vae.config.scaling_factor + self._shift()
        x = self.vae.decode(z.to(self.dtype)).sample.float()
        return x.clamp(-1, 1) if clamp else x
