"""What the commands share: the Typer app, the one-line error handling, the device / threads / precision
options."""
from __future__ import annotations

import sys
import warnings
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from ...core.errors import InpaintInputError, MissingDependencyError

app = typer.Typer(help="Inpaint images with pretrained diffusion models.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None)


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"
    mps = "mps"


DeviceOption = Annotated[Device, typer.Option(help="Where to run the model.")]
ThreadsOption = Annotated[str, typer.Option(
    help="CPU threads: a number, or auto (one per core that no other process keeps busy; docs/speed.md).")]


class Precision(str, Enum):
    fp32 = "fp32"
    bf16 = "bf16"
    auto = "auto"


PrecisionOption = Annotated[Precision, typer.Option(
    help="Network precision: fp32, bf16 (the fast path: 1.5-1.8x for pixel models and 2.4x for DPS-latent in the "
         "bench on a 2-core AVX512-BF16 CPU, docs/speed.md), or "
         "auto (bf16 where the hardware has it).")]


MemoryOption = Annotated[Optional[list[str]], typer.Option(
    "--memory", metavar="WORD", show_default=False,
    help="For large models (repeatable): cpu-offload, vae-tiling, vae-slicing, channels-last, unet=fp16|bf16, "
         "vae=fp16|bf16, text=fp16|bf16 (README, memory).")]


VariantOption = Annotated[Optional[str], typer.Option(help="Weights variant where a component has it (fp16: "
                                                   "*.fp16.safetensors, half the download).", show_default=False)]
RevisionOption = Annotated[Optional[str], typer.Option(help="Hub revision: a branch, tag or commit.",
                                                    show_default=False)]
HubCacheOption = Annotated[Optional[Path], typer.Option(help="Hub cache folder [default: the hub's].",
                                                     show_default=False)]
ConfigOption = Annotated[Optional[Path], typer.Option(help="Single-file checkpoints: a local diffusers folder of the "
                                                   "same model kind, whose configs are read.", show_default=False)]


def hub_options(variant: str | None, revision: str | None, hub_cache: Path | None, config: Path | None):
    from ...models.hub import HubOptions

    return HubOptions(variant, revision, hub_cache and str(hub_cache), config and str(config))


def warn(message: str) -> None:
    from tqdm.auto import tqdm

    tqdm.write(f"warning: {message}", file=sys.stderr)


@contextmanager
def user_errors():
    """One ``error: ...`` line and exit status 1 for bad input; library warnings as ``warning: ...`` lines."""
    with warnings.catch_warnings():
        warnings.filterwarnings("always", module="inpaintkit")
        warnings.showwarning = lambda message, *args, **kwargs: warn(str(message))
        try:
            yield
        except (ValueError, OSError, MissingDependencyError) as e:  # InpaintInputError, bad values, file errors
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            typer.echo("interrupted (finished outputs are kept: run the same command again to resume)", err=True)
            raise typer.Exit(130) from None


def start(device: Device, threads: str) -> str:
    """Apply the thread policy and check the device before any work; returns the device's name."""
    from ...core.env import pick_device, set_threads

    set_threads(threads)
    pick_device(device.value)
    return device.value
