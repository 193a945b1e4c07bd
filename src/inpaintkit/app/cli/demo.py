"""``inpaintkit demo``: the library end to end, offline, on a built-in model."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ...core.errors import InpaintInputError
from ..files import check_writable, image_format, write_output
from .common import DeviceOption, ThreadsOption, app, start, user_errors


@app.command("demo")
def demo_command(
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the grid.")] = Path("demo.png"),
    model: Annotated[Optional[str], typer.Option(help="Model to sample and inpaint with [default: the demo's "
                                                 "face model].", show_default=False)] = None,
    rows: Annotated[int, typer.Option(min=1, max=16, help="Images (one mask shape each).")] = 3,
    steps: Annotated[int, typer.Option(min=1, max=1000, help="Denoising steps.")] = 50,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    prompt: Annotated[Optional[str], typer.Option(
        help="Text-conditioned models: the prompt of every row [default: the model's class captions in turn].",
        show_default=False)] = None,
    guidance_scale: Annotated[float, typer.Option(min=0.0, max=50.0, help="Text-conditioned models: "
                                                  "classifier-free guidance.")] = 3.0,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output.")] = False,
    device: DeviceOption = "auto",
    threads: ThreadsOption = "auto",
):
    """Compare methods on faces, offline.

    Masks part of a few images (faces the model generated itself, shipped with the package, for the
    default model; samples drawn from any other model), inpaints them with every baseline made for the
    model's space and writes one labelled grid: original, masked input, one column per method.
    Text-conditioned models sample and inpaint with a prompt per row.
    """
    with user_errors():
        from ..demo import DEMO_MODEL, make_demo

        image_format(output)
        check_writable(output)
        if output.exists() and not overwrite:
            raise InpaintInputError(f"output {output} exists (use --overwrite to replace it)")
        grid = make_demo(model or DEMO_MODEL, rows=rows, steps=steps, seed=seed, device=start(device, threads),
                         prompt=prompt, guidance_scale=guidance_scale)
        write_output(grid, output)
        typer.echo(f"wrote {output}", err=True)
