"""``inpaintkit convert``: foreign checkpoints as model folders that every command reads."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .common import app, user_errors

convert_app = typer.Typer(help="Convert a foreign checkpoint into a model folder (safetensors).", no_args_is_help=True,
                          rich_markup_mode=None, pretty_exceptions_enable=False)
app.add_typer(convert_app, name="convert")


def parse_ints(text: str | None) -> tuple[int, ...] | None:
    return None if text is None else tuple(int(v) for v in text.replace(" ", "").split(",") if v)


@convert_app.command("guided-diffusion")
def guided_diffusion_command(
    checkpoint: Annotated[Path, typer.Argument(metavar="CKPT", help="guided-diffusion model .pt (a state dict).",
                                               show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="The model folder to write.", show_default=False)],
    preset: Annotated[Optional[str], typer.Option(help="celeba256, places256, imagenet256, imagenet256-uncond or "
                                                  "ffhq256: the published settings shapes cannot tell.",
                                                  show_default=False)] = None,
    image_size: Annotated[Optional[int], typer.Option(min=8, help="Image side [default: 256].",
                                                      show_default=False)] = None,
    num_head_channels: Annotated[Optional[int], typer.Option(help="Channels per attention head (-1: use "
                                                             "--num-heads) [default: 64].", show_default=False)] = None,
    num_heads: Annotated[Optional[int], typer.Option(min=1, help="Heads, with --num-head-channels -1.",
                                                     show_default=False)] = None,
    new_attention_order: Annotated[bool, typer.Option("--new-attention-order", help="The checkpoint was trained "
                                                      "with use_new_attention_order.")] = False,
    num_channels: Annotated[Optional[int], typer.Option(help="Checked against the checkpoint.",
                                                        show_default=False)] = None,
    num_res_blocks: Annotated[Optional[int], typer.Option(help="Checked.", show_default=False)] = None,
    channel_mult: Annotated[Optional[str], typer.Option(help="e.g. 1,1,2,2,4,4 (checked).", show_default=False)] = None,
    attention_resolutions: Annotated[Optional[str], typer.Option(help="e.g. 32,16,8 at 256 px (checked).",
                                                                 show_default=False)] = None,
    use_scale_shift_norm: Annotated[Optional[bool], typer.Option(help="Checked.", show_default=False)] = None,
    resblock_updown: Annotated[Optional[bool], typer.Option(help="Checked.", show_default=False)] = None,
    learn_sigma: Annotated[Optional[bool], typer.Option(help="Checked.", show_default=False)] = None,
    num_classes: Annotated[Optional[int], typer.Option(help="Checked (class-conditional models).",
                                                       show_default=False)] = None,
):
    """A guided-diffusion (ADM) checkpoint as a diffusers UNet2DModel folder; the architecture is read off the
    tensors, the flags given are checked against it."""
    with user_errors():
        from ...core.errors import InpaintInputError
        from ...models.guided_diffusion import convert_checkpoint

        if output.exists():
            raise InpaintInputError(f"{output} exists; choose another folder")
        size = image_size or 256
        flags = dict(image_size=image_size, num_head_channels=num_head_channels, num_heads=num_heads,
                     use_new_attention_order=new_attention_order or None, model_channels=num_channels,
                     num_res_blocks=num_res_blocks, channel_mult=parse_ints(channel_mult),
                     attention_ds=tuple(sorted(size // r for r in parse_ints(attention_resolutions)))
                     if attention_resolutions else None,
                     use_scale_shift_norm=use_scale_shift_norm, resblock_updown=resblock_updown,
                     learn_sigma=learn_sigma, num_classes=num_classes)
        folder = convert_checkpoint(checkpoint, output, preset, **{k: v for k, v in flags.items() if v is not None})
        typer.echo(f"wrote {folder}", err=True)
