"""OpenAI guided-diffusion (ADM, Dhariwal & Nichol 2021) checkpoints as diffusers ``UNet2DModel`` folders: the
models RePaint, GradPaint, LatentPaint, CoPaint and DPS evaluate on.

ADM's ``UNetModel`` is a ``UNet2DModel`` with these settings: sinusoidal timestep features cos-first
(``flip_sin_to_cos``, no frequency shift), ``scale_shift`` time conditioning (``use_scale_shift_norm``),
residual blocks that resample (``resblock_updown``: ``ResnetDownsampleBlock2D`` / ``ResnetUpsampleBlock2D``
and ``downsample_type = upsample_type = "resnet"``), attention after each residual block at the listed
downsampling factors, GroupNorm(32) everywhere, and 6 output channels when ``learn_sigma`` (eps, then the v of
Improved DDPM Eq. 15: the scheduler's ``variance_type = "learned_range"``). The key mapping:

    time_embed.{0,2}                 -> time_embedding.linear_{1,2}          label_emb -> class_embedding
    input_blocks.0.0                 -> conv_in
    input_blocks.{1 + L(n+1) + j}    -> down_blocks.L.resnets.j (.0), down_blocks.L.attentions.j (.1)
    input_blocks.{1 + L(n+1) + n}    -> down_blocks.L.downsamplers.0 (a ResBlock, or Downsample's op -> conv)
    middle_block.{0,1,2}             -> mid_block.resnets.0, mid_block.attentions.0, mid_block.resnets.1
    output_blocks.{L'(n+1) + j}      -> up_blocks.L'.resnets.j (.0), .attentions.j (.1), .upsamplers.0 (last)
    out.{0,2}                        -> conv_norm_out, conv_out
    ResBlock: in_layers.{0,2} -> norm1, conv1; emb_layers.1 -> time_emb_proj; out_layers.{0,3} -> norm2, conv2;
              skip_connection -> conv_shortcut
    AttentionBlock: norm -> group_norm; qkv (a 1x1 conv1d, 3C x C) -> to_q, to_k, to_v; proj_out -> to_out.0

(n = res blocks per level, L a level from the top, L' from the bottom). The one reordering is the qkv split:
``QKVAttentionLegacy`` (every published checkpoint) stacks q, k, v per head; the "new order" (``use_new_attention_order``)
stacks all heads' q, then k, then v, as diffusers does.

Checkpoints are read with ``torch.load(weights_only=True)``: one that needs pickle code execution is refused.
The architecture is read off the tensors' shapes (channels, levels and their multipliers, res blocks,
attention levels, resampling and time-conditioning kinds, learned sigma, classes); what shapes cannot tell
(image size, channels per attention head, the qkv order) comes from a preset or from flags.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from ..core.errors import InpaintInputError
from ..core.files import torch_load
from ..core.schedule import ScheduleConfig

# The published configurations (image size, channels per head, ... ) of the checkpoints the papers use;
# what the shapes tell (channels, res blocks, attention levels ...) is checked against the checkpoint.
PRESETS = {
    "celeba256": dict(image_size=256, num_head_channels=64),    # RePaint's celeba256_250000.pt
    "places256": dict(image_size=256, num_head_channels=64),    # RePaint's places256_300000.pt
    "imagenet256": dict(image_size=256, num_head_channels=64),  # 256x256_diffusion.pt (1,000 classes)
    "imagenet256-uncond": dict(image_size=256, num_head_channels=64),  # 256x256_diffusion_uncond.pt
    "ffhq256": dict(image_size=256, num_head_channels=64),      # DPS's ffhq_10m.pt
}


@dataclass(frozen=True)
class AdmArchitecture:
    """guided-diffusion's ``create_model`` arguments (its names), as far as a checkpoint needs them."""

    image_size: int = 256
    in_channels: int = 3
    model_channels: int = 256
    channel_mult: tuple[int, ...] = (1, 1, 2, 2, 4, 4)
    num_res_blocks: int = 2
    attention_ds: tuple[int, ...] = (8, 16, 32)  # downsampling factors with attention ("32,16,8" at 256 px)
    num_head_channels: int = 64  # -1: num_heads heads everywhere
    num_heads: int = 4
    use_scale_shift_norm: bool = True
    resblock_updown: bool = True
    learn_sigma: bool = True
    num_classes: int | None = None
    use_new_attention_order: bool = False

    def heads(self, channels: int) -> int:
        return self.num_heads if self.num_head_channels == -1 else channels // self.num_head_channels

    def unet_config(self) -> dict:
        """The ``UNet2DModel`` config of this architecture."""
        levels = len(self.channel_mult)
        attention = [2**level in self.attention_ds for level in range(levels)]
        widths = [self.model_channels * m for m in self.channel_mult]
        head_dims = {w // self.heads(w) for w, a in zip(widths, attention) if a} | {widths[-1] // self.heads(widths[-1])}
        if len(head_dims) != 1:
            raise InpaintInputError(f"attention heads of {sorted(head_dims)} channels at different levels: diffusers' "
                                    "UNet2DModel has one head width; use --num-head-channels")
        down = ["AttnDownBlock2D" if a else ("ResnetDownsampleBlock2D" if self.resblock_updown else "DownBlock2D")
                for a in attention]
        up = ["AttnUpBlock2D" if a else ("ResnetUpsampleBlock2D" if self.resblock_updown else "UpBlock2D")
              for a in reversed(attention)]
        return dict(sample_size=self.image_size, in_channels=self.in_channels,
                    out_channels=self.in_channels * (2 if self.learn_sigma else 1), center_input_sample=False,
                    time_embedding_type="positional", flip_sin_to_cos=True, freq_shift=0,
                    down_block_types=down, up_block_types=up, block_out_channels=widths,
                    layers_per_block=self.num_res_blocks, mid_block_scale_factor=1, downsample_padding=1,
                    downsample_type="resnet" if self.resblock_updown else "conv",
                    upsample_type="resnet" if self.resblock_updown else "conv", dropout=0.0, act_fn="silu",
                    attention_head_dim=head_dims.pop(), norm_num_groups=32, attn_norm_num_groups=32, norm_eps=1e-5,
                    resnet_time_scale_shift="scale_shift" if self.use_scale_shift_norm else "default",
                    add_attention=True, num_class_embeds=self.num_classes)


def read_architecture(state: dict[str, torch.Tensor], **known) -> AdmArchitecture:
    """The architecture the tensors' shapes say, with ``known`` (what shapes cannot tell: ``image_size``,
    ``num_head_channels``, ``num_heads``, ``use_new_attention_order``) and any flag the user gave, which must
    agree with the shapes."""
    if "input_blocks.0.0.weight" not in state or "out.2.weight" not in state:
        raise InpaintInputError("not a guided-diffusion UNetModel state dict (no input_blocks.0.0 / out.2 weights)")
    conv_in, conv_out = state["input_blocks.0.0.weight"], state["out.2.weight"]
    model_channels, in_channels = conv_in.shape[0], conv_in.shape[1]
    outputs = 1 + max(int(m.group(1)) for k in state if (m := re.match(r"output_blocks\.(\d+)\.", k)))
    # a decoder block that upsamples holds an Upsample (its .conv) or a second ResBlock (resblock_updown);
    # the first is the (n + 1)-th of n + 1 blocks per level
    conv_up = [b for b in range(outputs) if any(re.match(rf"output_blocks\.{b}\.\d+\.conv\.weight$", k) for k in state)]
    res_up = [b for b in range(outputs)
              if len({k.split(".")[2] for k in state if k.startswith(f"output_blocks.{b}.") and ".in_layers." in k}) > 1]
    upsampling = sorted(conv_up + res_up)
    num_res_blocks = upsampling[0] if upsampling else outputs - 1
    levels = outputs // (num_res_blocks + 1)
    mults, attention = [], []
    for level in range(levels):
        first = 1 + level * (num_res_blocks + 1)
        mults.append(state[f"input_blocks.{first}.0.out_layers.3.weight"].shape[0] // model_channels)
        if f"input_blocks.{first}.1.qkv.weight" in state:
            attention.append(2**level)
    width = state["input_blocks.1.0.out_layers.3.weight"].shape[0]
    shapes = dict(in_channels=in_channels, model_channels=model_channels, channel_mult=tuple(mults),
                  num_res_blocks=num_res_blocks, attention_ds=tuple(attention),
                  use_scale_shift_norm=state["input_blocks.1.0.emb_layers.1.weight"].shape[0] == 2 * width,
                  resblock_updown=bool(res_up), learn_sigma=conv_out.shape[0] == 2 * in_channels,
                  num_classes=state["label_emb.weight"].shape[0] if "label_emb.weight" in state else None)
    for name, value in known.items():
        if name in shapes and value is not None and shapes[name] != value:
            raise InpaintInputError(f"--{name.replace('_', '-')} {value!r} does not match the checkpoint "
                                    f"({shapes[name]!r})")
    return AdmArchitecture(**{**{k: v for k, v in known.items() if v is not None}, **shapes})


def convert_state_dict(state: dict[str, torch.Tensor], arch: AdmArchitecture) -> dict[str, torch.Tensor]:
    """guided-diffusion tensors -> ``UNet2DModel`` tensors (the mapping in the module docstring)."""
    out: dict[str, torch.Tensor] = {}
    n, levels = arch.num_res_blocks, len(arch.channel_mult)

    def resblock(src: str, dst: str) -> None:
        for a, b in (("in_layers.0", "norm1"), ("in_layers.2", "conv1"), ("emb_layers.1", "time_emb_proj"),
                     ("out_layers.0", "norm2"), ("out_layers.3", "conv2"), ("skip_connection", "conv_shortcut")):
            for p in ("weight", "bias"):
                if f"{src}.{a}.{p}" in state:
                    out[f"{dst}.{b}.{p}"] = state[f"{src}.{a}.{p}"]

    def attention(src: str, dst: str) -> None:
        out[f"{dst}.group_norm.weight"], out[f"{dst}.group_norm.bias"] = state[f"{src}.norm.weight"], state[f"{src}.norm.bias"]
        w, b = state[f"{src}.qkv.weight"][..., 0], state[f"{src}.qkv.bias"]
        channels = w.shape[1]
        heads = arch.heads(channels)
        if arch.use_new_attention_order:
            parts = w.chunk(3), b.chunk(3)
        else:  # legacy: per head [q_h, k_h, v_h]
            wh, bh = w.reshape(heads, 3, channels // heads, channels), b.reshape(heads, 3, channels // heads)
            parts = ([wh[:, i].reshape(channels, channels) for i in range(3)],
                     [bh[:, i].reshape(channels) for i in range(3)])
        for i, name in enumerate(("to_q", "to_k", "to_v")):
            out[f"{dst}.{name}.weight"], out[f"{dst}.{name}.bias"] = parts[0][i].contiguous(), parts[1][i].contiguous()
        out[f"{dst}.to_out.0.weight"] = state[f"{src}.proj_out.weight"][..., 0]
        out[f"{dst}.to_out.0.bias"] = state[f"{src}.proj_out.bias"]

    def copy(src: str, dst: str) -> None:
        for p in ("weight", "bias"):
            out[f"{dst}.{p}"] = state[f"{src}.{p}"]

    copy("time_embed.0", "time_embedding.linear_1")
    copy("time_embed.2", "time_embedding.linear_2")
    if arch.num_classes:
        out["class_embedding.weight"] = state["label_emb.weight"]
    copy("input_blocks.0.0", "conv_in")
    for level in range(levels):
        for j in range(n):
            src = f"input_blocks.{1 + level * (n + 1) + j}"
            resblock(f"{src}.0", f"down_blocks.{level}.resnets.{j}")
            if f"{src}.1.qkv.weight" in state:
                attention(f"{src}.1", f"down_blocks.{level}.attentions.{j}")
        if level < levels - 1:
            src, dst = f"input_blocks.{1 + level * (n + 1) + n}.0", f"down_blocks.{level}.downsamplers.0"
            resblock(src, dst) if arch.resblock_updown else copy(f"{src}.op", f"{dst}.conv")
    resblock("middle_block.0", "mid_block.resnets.0")
    attention("middle_block.1", "mid_block.attentions.0")
    resblock("middle_block.2", "mid_block.resnets.1")
    for level in range(levels):
        for j in range(n + 1):
            src = f"output_blocks.{level * (n + 1) + j}"
            resblock(f"{src}.0", f"up_blocks.{level}.resnets.{j}")
            has_attention = f"{src}.1.qkv.weight" in state
            if has_attention:
                attention(f"{src}.1", f"up_blocks.{level}.attentions.{j}")
            if j == n and level < levels - 1:
                up, dst = f"{src}.{2 if has_attention else 1}", f"up_blocks.{level}.upsamplers.0"
                resblock(up, dst) if arch.resblock_updown else copy(f"{up}.conv", f"{dst}.conv")
    copy("out.0", "conv_norm_out")
    copy("out.2", "conv_out")
    return out


# guided-diffusion's training schedule: 1,000 linear betas 1e-4..2e-2, eps-prediction, x0 clipped
ADM_SCHEDULE = ScheduleConfig()


def load_checkpoint(path: str | Path, preset: str | None = None, **flags):
    """A guided-diffusion ``.pt`` as a ``UNet2DModel`` (fp32) and its schedule, loaded strictly: no missing or
    unexpected key. ``preset``: one of :data:`PRESETS`; ``flags``: :class:`AdmArchitecture` fields."""
    from diffusers import UNet2DModel

    if preset is not None and preset not in PRESETS:
        raise InpaintInputError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    state = torch_load(path, map_location="cpu")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise InpaintInputError(f"{path}: expected a state dict of tensors (guided-diffusion's model .pt)")
    arch = read_architecture(state, **{**PRESETS.get(preset, {}), **flags})
    unet = UNet2DModel(**arch.unet_config())
    converted = convert_state_dict(state, arch)
    result = unet.load_state_dict({k: v.float() for k, v in converted.items()}, strict=False)
    unused = sorted(set(state) - _used_keys(state, arch))
    if result.missing_keys or result.unexpected_keys or unused:
        raise InpaintInputError(f"{path}: the checkpoint does not match architecture {asdict(arch)}: missing "
                                f"{result.missing_keys[:5]}, unexpected {result.unexpected_keys[:5]}, unused {unused[:5]}")
    variance = "learned_range" if arch.learn_sigma else "fixed_small"
    return unet.eval(), replace(ADM_SCHEDULE, variance_type=variance), arch


def _used_keys(state, arch) -> set[str]:
    """The checkpoint keys :func:`convert_state_dict` reads (every key, for a checkpoint that matches)."""
    seen: set[str] = set()

    class Recorder(dict):
        def __getitem__(self, key):
            seen.add(key)
            return super().__getitem__(key)

    convert_state_dict(Recorder(state), arch)
    return seen


def convert_checkpoint(path: str | Path, out: str | Path, preset: str | None = None, **flags) -> Path:
    """Write the checkpoint as a model folder that :func:`inpaintkit.load_model` reads (fp32 safetensors)."""
    from .export import write_model_folder

    unet, schedule, arch = load_checkpoint(path, preset, **flags)
    return write_model_folder(out, unet, schedule, dtype=None,
                              meta={"source": {"guided_diffusion": str(Path(path).name), "preset": preset,
                                               "architecture": asdict(arch)}})
