"""U-Net architectures by name (diffusers ``UNet2DModel``, or ``UNet2DConditionModel`` for the presets with
cross-attention blocks), built with random weights for training or for tests."""
from __future__ import annotations

# U-Net architectures, by name (``UNet2DConditionModel`` for those with cross-attention blocks).
# "face32" is the CPU-sized architecture of the shipped faces-32 model: 3.9 M parameters, ~17 ms per call
# at batch 1 on 2 CPU cores.
UNET_PRESETS: dict[str, dict] = {
    "face32": dict(
        block_out_channels=(32, 64, 128),
        down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
        layers_per_block=2,
        norm_num_groups=16,
    ),
    "face64": dict(  # 12.5 M parameters (25 MB in fp16), the GPU recipe of faces-64
        block_out_channels=(64, 128, 128, 192),
        down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "AttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
        layers_per_block=2,
        norm_num_groups=32,
    ),
    # The CPU-sized 64 px face model: narrow at 64x64 (the costliest level), self-attention at 16x16.
    "face64-cpu": dict(
        block_out_channels=(32, 64, 128, 128),
        down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "AttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
        layers_per_block=2,
        norm_num_groups=16,
        attention_head_dim=32,
    ),
    "tiny": dict(
        block_out_channels=(8, 16),
        down_block_types=("DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D"),
        layers_per_block=1,
        norm_num_groups=4,
    ),
    # 4x32x32 TAESD latents of 256 px faces. 13.5 M parameters (27 MB in fp16), self-attention at 16x16 and 8x8.
    "latent32": dict(
        block_out_channels=(96, 160, 192),
        down_block_types=("DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
        layers_per_block=2,
        norm_num_groups=32,
        attention_head_dim=32,
    ),
    # The same on 2 CPU cores: 3.8 M parameters.
    "latent32-cpu": dict(
        block_out_channels=(48, 96, 96),
        down_block_types=("DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
        layers_per_block=2,
        norm_num_groups=16,
        attention_head_dim=32,
    ),
    # Between the two: 6.2 M parameters (12 MB in fp16), for the CPU pilot of the latent face model.
    "latent32-mid": dict(
        block_out_channels=(64, 128, 128),
        down_block_types=("DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
        layers_per_block=2,
        norm_num_groups=32,
        attention_head_dim=32,
    ),
    # Text-conditioned (``UNet2DConditionModel``: cross-attention blocks) 32 px CIFAR-10. For this class
    # ``attention_head_dim`` is diffusers' legacy name for the number of heads: 32 channels per head.
    "text32": dict(  # 10.8 M parameters with 384-d prompt embeddings (22 MB in fp16)
        block_out_channels=(64, 128, 128),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        layers_per_block=2,
        norm_num_groups=32,
        attention_head_dim=(2, 4, 4),
    ),
    "text32-cpu": dict(  # 4.2 M parameters
        block_out_channels=(48, 96, 96),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        layers_per_block=1,
        norm_num_groups=16,
        attention_head_dim=(1, 3, 3),
    ),
    "tiny-text": dict(
        block_out_channels=(8, 16),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        layers_per_block=1,
        norm_num_groups=4,
        attention_head_dim=2,
    ),
}


def is_text_architecture(architecture: str) -> bool:
    return "CrossAttnDownBlock2D" in UNET_PRESETS[architecture]["down_block_types"]


def build_unet(architecture: str, resolution: int, channels: int = 3, cross_attention_dim: int | None = None):
    """A random-weight U-Net of a :data:`UNET_PRESETS` architecture: a ``UNet2DModel``, or for the
    cross-attention presets a ``UNet2DConditionModel`` attending to ``cross_attention_dim``-wide tokens."""
    from diffusers import UNet2DConditionModel, UNet2DModel

    if architecture not in UNET_PRESETS:
        raise ValueError(f"unknown architecture {architecture!r}; choose one of {sorted(UNET_PRESETS)}")
    shape = dict(sample_size=resolution, in_channels=channels, out_channels=channels)
    if not is_text_architecture(architecture):
        if cross_attention_dim is not None:
            raise ValueError(f"architecture {architecture!r} has no cross-attention; a text-conditioned model "
                             "needs one of " + ", ".join(a for a in UNET_PRESETS if is_text_architecture(a)))
        return UNet2DModel(**shape, **UNET_PRESETS[architecture])
    if cross_attention_dim is None:
        raise ValueError(f"architecture {architecture!r} cross-attends to prompts: train it with a text encoder")
    return UNet2DConditionModel(**shape, cross_attention_dim=cross_attention_dim, **UNET_PRESETS[architecture])
