"""Tiny random-weight models for tests, benchmarks' ``--quick`` runs and examples: every kind of model a
method can meet (pixel, latent, text-conditioned latent), built offline in a fraction of a second from a
seed. Importing this module registers the ``tiny`` text encoder (``{"text_encoder": {"name": "tiny"}}``).

They produce noise, not images; they exist to exercise the code paths (shapes, gradients, hooks,
guidance, loading) of the real models they stand in for.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..core.schedule import SD_EPS_SCHEDULE, NoiseSchedule
from ..models.autoencoder import Autoencoder
from ..models.denoiser import DiffusionModel
from ..models.export import write_model_folder
from ..models.text import PromptEncoder, register_text_encoder
from ..nets.unets import build_unet

TEXT_DIM = 16  # width of the tiny text encoder's token embeddings
MAX_PROMPT_TOKENS = 8


def _seeded(seed: int, build):
    """``build()`` with the global RNG seeded, leaving the caller's RNG state untouched."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def tiny_pixel_model(resolution: int = 16, seed: int = 0, prediction_type: str = "epsilon") -> DiffusionModel:
    """A two-level ``UNet2DModel`` on RGB pixels with the DDPM linear schedule."""
    unet = _seeded(seed, lambda: build_unet("tiny", resolution))
    return DiffusionModel(unet.eval(), NoiseSchedule(prediction_type=prediction_type), name="tiny-pixel")


def tiny_vae(seed: int = 0):
    """An ``AutoencoderTiny`` (TAESD's architecture, 8x downsampling to 4 channels) with 8-channel blocks."""
    from diffusers import AutoencoderTiny

    return _seeded(seed, lambda: AutoencoderTiny(
        encoder_block_out_channels=(8, 8, 8, 8), decoder_block_out_channels=(8, 8, 8, 8),
        num_encoder_blocks=(1, 1, 1, 1), num_decoder_blocks=(1, 1, 1, 1))).eval()


def tiny_latent_model(resolution: int = 32, seed: int = 0, prediction_type: str = "epsilon") -> DiffusionModel:
    """A ``UNet2DModel`` on 4-channel latents of a tiny ``AutoencoderTiny``; images are ``resolution`` px."""
    vae = tiny_vae(seed)
    unet = _seeded(seed + 1, lambda: build_unet("tiny", resolution // 8, channels=4))
    schedule = NoiseSchedule(SD_EPS_SCHEDULE, prediction_type=prediction_type)
    return DiffusionModel(unet.eval(), schedule, autoencoder=Autoencoder(vae), name="tiny-latent")


def tiny_tokenizer(max_length: int = MAX_PROMPT_TOKENS):
    """A ``CLIPTokenizer`` over single bytes (CLIP's byte-level alphabet, no merges), built offline."""
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import CLIPTokenizer

    alphabet = sorted(ByteLevel.alphabet())
    tokens = ["<|startoftext|>", "<|endoftext|>"] + alphabet + [c + "</w>" for c in alphabet]
    return CLIPTokenizer(vocab={tok: i for i, tok in enumerate(tokens)}, merges=[], model_max_length=max_length)


def tiny_prompt_encoder(seed: int = 0) -> PromptEncoder:
    """A one-layer random ``CLIPTextModel`` behind :func:`tiny_tokenizer`: prompts -> (B, 8, 16)."""
    from transformers import CLIPTextConfig, CLIPTextModel

    tokenizer = tiny_tokenizer()
    config = CLIPTextConfig(vocab_size=len(tokenizer), hidden_size=TEXT_DIM, intermediate_size=2 * TEXT_DIM,
                            num_hidden_layers=1, num_attention_heads=2, max_position_embeddings=MAX_PROMPT_TOKENS,
                            bos_token_id=0, eos_token_id=1, pad_token_id=1)
    return PromptEncoder(tokenizer, _seeded(seed, lambda: CLIPTextModel(config))).eval()


def tiny_conditional_unet(sample_size: int, seed: int = 0, in_channels: int = 4):
    """A ``UNet2DConditionModel`` with cross-attention to :data:`TEXT_DIM`-wide prompt embeddings (``in_channels``
    9: an inpainting U-Net, x_t + mask + masked latents)."""
    from diffusers import UNet2DConditionModel

    return _seeded(seed, lambda: UNet2DConditionModel(
        sample_size=sample_size, in_channels=in_channels, out_channels=4, block_out_channels=(8, 16), layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        norm_num_groups=4, cross_attention_dim=TEXT_DIM, attention_head_dim=4)).eval()


def tiny_conditional_model(resolution: int = 32, seed: int = 0, inpainting: bool = False) -> DiffusionModel:
    """A text-conditioned latent model: tiny VAE + cross-attention U-Net + tiny CLIP text encoder (``inpainting``:
    Stable Diffusion's 9-channel inpainting U-Net)."""
    unet = tiny_conditional_unet(resolution // 8, seed + 1, in_channels=9 if inpainting else 4)
    return DiffusionModel(unet, NoiseSchedule(SD_EPS_SCHEDULE),
                          autoencoder=Autoencoder(tiny_vae(seed)), text_encoder=tiny_prompt_encoder(seed + 2),
                          name="tiny-conditional")


POOLED_DIM = 8  # the tiny SDXL second encoder's projection width
TIME_ID_DIM = 4  # the tiny SDXL U-Net's width per size/crop number


def tiny_sdxl_unet(sample_size: int, seed: int = 0, in_channels: int = 4):
    """A ``UNet2DConditionModel`` in SDXL's layout: cross-attention to both encoders' tokens (2 x TEXT_DIM) and the
    ``text_time`` added embedding (the pooled text and the six size/crop numbers)."""
    from diffusers import UNet2DConditionModel

    return _seeded(seed, lambda: UNet2DConditionModel(
        sample_size=sample_size, in_channels=in_channels, out_channels=4, block_out_channels=(8, 16), layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        norm_num_groups=4, cross_attention_dim=2 * TEXT_DIM, attention_head_dim=4, addition_embed_type="text_time",
        addition_time_embed_dim=TIME_ID_DIM, projection_class_embeddings_input_dim=POOLED_DIM + 6 * TIME_ID_DIM)).eval()


def tiny_sdxl_prompt_encoder(seed: int = 0):
    """SDXL's pair in miniature: a ``CLIPTextModel`` and a ``CLIPTextModelWithProjection``, one layer each."""
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from ..models.text import SDXLPromptEncoder

    config = dict(hidden_size=TEXT_DIM, intermediate_size=2 * TEXT_DIM, num_hidden_layers=2, num_attention_heads=2,
                  max_position_embeddings=MAX_PROMPT_TOKENS, bos_token_id=0, eos_token_id=1, pad_token_id=1)
    tokenizer = tiny_tokenizer()
    first = _seeded(seed, lambda: CLIPTextModel(CLIPTextConfig(vocab_size=len(tokenizer), **config)))
    second = _seeded(seed + 1, lambda: CLIPTextModelWithProjection(
        CLIPTextConfig(vocab_size=len(tokenizer), projection_dim=POOLED_DIM, **config)))
    return SDXLPromptEncoder([tokenizer, tiny_tokenizer()], [first, second]).eval()


def tiny_sdxl_model(resolution: int = 32, seed: int = 0, inpainting: bool = False) -> DiffusionModel:
    """A latent model in SDXL's layout (``inpainting``: the 9-channel SDXL inpainting U-Net)."""
    unet = tiny_sdxl_unet(resolution // 8, seed + 1, in_channels=9 if inpainting else 4)
    return DiffusionModel(unet, NoiseSchedule(SD_EPS_SCHEDULE), autoencoder=Autoencoder(tiny_vae(seed)),
                          text_encoder=tiny_sdxl_prompt_encoder(seed + 2), name="tiny-sdxl")


def save_tiny_sdxl_folder(path: str | Path, resolution: int = 32, seed: int = 0, inpainting: bool = False) -> Path:
    """Write :func:`tiny_sdxl_model` as an SDXL pipeline folder (``text_encoder_2/``, ``tokenizer_2/`` too)."""
    model = tiny_sdxl_model(resolution, seed, inpainting)
    return write_model_folder(path, model.unet, model.schedule.config, vae=model.autoencoder.vae,
                              text_encoder=model.text_encoder, dtype=None)


def save_tiny_sd_folder(path: str | Path, resolution: int = 32, seed: int = 0, inpainting: bool = False) -> Path:
    """Write :func:`tiny_conditional_model` as a Stable Diffusion pipeline folder (``unet/``, ``vae/``,
    ``scheduler/``, ``text_encoder/``, ``tokenizer/``, ``model_index.json``) for ``load_folder``."""
    model = tiny_conditional_model(resolution, seed, inpainting)
    return write_model_folder(path, model.unet, model.schedule.config, vae=model.autoencoder.vae,
                              text_encoder=model.text_encoder, dtype=None)


register_text_encoder("tiny", tiny_prompt_encoder)
