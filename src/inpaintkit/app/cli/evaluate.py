"""``inpaintkit bench`` and ``inpaintkit report``: tables of methods on the same images, masks and seeds."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ...core.errors import InpaintInputError
from .common import DeviceOption, ThreadsOption, app, start, user_errors


@app.command("bench")
def bench_command(
    out: Annotated[Path, typer.Option(help="Run folder (a rerun of the same settings resumes it).",
                                      show_default=False)],
    config: Annotated[Optional[Path], typer.Option(help="YAML or JSON file of bench settings (docs/evaluation.md).",
                                                   show_default=False)] = None,
    preset: Annotated[Optional[str], typer.Option(help="A named setup: faces-thick (the standard table).",
                                                  show_default=False)] = None,
    method: Annotated[Optional[list[str]], typer.Option(
        help="A method to run (repeatable); copy and greyfill are the reference rows.", show_default=False)] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="A method option, METHOD.KEY=VALUE (repeatable).",
                                                      show_default=False)] = None,
    model: Annotated[Optional[str], typer.Option(help="Model for the diffusion methods.", show_default=False)] = None,
    images: Annotated[Optional[list[Path]], typer.Option(help="Image folder (repeatable).", show_default=False)] = None,
    masks: Annotated[Optional[list[str]], typer.Option(help="Mask set (repeatable): thin, medium, thick, "
                                                       "nvidia-30-40, box-center, pixels-80, ...",
                                                       show_default=False)] = None,
    n: Annotated[Optional[int], typer.Option(min=1, help="Use the first N images.", show_default=False)] = None,
    seed: Annotated[Optional[list[int]], typer.Option(help="Sample seed (repeatable).", show_default=False)] = None,
    mask_seed: Annotated[Optional[int], typer.Option(show_default=False)] = None,
    resolution: Annotated[Optional[int], typer.Option(min=8, help="[default: the model's]", show_default=False)] = None,
    crop: Annotated[Optional[int], typer.Option(min=0, help="Central square crop before resizing (0: the largest).",
                                                show_default=False)] = None,
    fid_reference: Annotated[Optional[list[Path]], typer.Option(
        help="FID/KID reference folder (repeatable) [default: the ground truth].", show_default=False)] = None,
    batch_size: Annotated[Optional[int], typer.Option(
        min=1, help="Images of one method inpainted together (each gets the noise it gets alone).  [default: 1]",
        show_default=False)] = None,
    precision: Annotated[Optional[str], typer.Option(help="fp32, bf16 or auto (a setting of the run).  "
                                                     "[default: fp32]", show_default=False)] = None,
    prompts: Annotated[Optional[str], typer.Option(help="Text models: true-class (the image's folder name), "
                                                   "other-class, or one prompt for every image.",
                                                   show_default=False)] = None,
    prompt_classifier: Annotated[Optional[str], typer.Option(help="A classifier folder (train-classifier), or "
                                                             "cifar10-classifier (shipped), for the report's prompt "
                                                             "accuracy.", show_default=False)] = None,
    device: DeviceOption = "auto",
    threads: ThreadsOption = "auto",
):
    """Benchmark methods on an image folder and mask sets; resumable, and sharded under torchrun or
    accelerate launch (one manifest shard per process)."""
    with user_errors():
        from ...evaluation.bench import run_bench
        from ...evaluation.config import build_config, parse_method_settings

        if set_ and not method:
            raise InpaintInputError("--set needs the --method flags it applies to")
        cfg = build_config(
            str(config) if config else None, preset,
            methods=parse_method_settings(method, set_ or []) if method else None, model=model,
            images=[str(p) for p in images] if images else None, masks=masks or None, n_images=n,
            seeds=seed or None, mask_seed=mask_seed, resolution=resolution,
            crop=crop, fid_reference=[str(p) for p in fid_reference]
            if fid_reference else None, batch_size=batch_size, precision=precision, prompts=prompts,
            prompt_classifier=prompt_classifier and str(prompt_classifier), device=start(device, threads))
        if crop == 0:
            cfg.crop = None
        typer.echo(f"wrote {run_bench(cfg, out)}", err=True)


@app.command("report")
def report_command(
    run_dir: Annotated[Path, typer.Argument(help="A bench run folder.", show_default=False)],
    out: Annotated[Optional[Path], typer.Option(help="Where to write the report [default: RUN_DIR].",
                                                show_default=False)] = None,
    against: Annotated[Optional[str], typer.Option(help="A row's label: add every row's differences from it, "
                                                        "image by image (mean, standard error, images better).",
                                                   show_default=False)] = None,
    against_run: Annotated[Optional[Path], typer.Option(help="The run --against's row comes from (the same images, "
                                                             "masks and seeds) [default: RUN_DIR].",
                                                        show_default=False)] = None,
    device: DeviceOption = "auto",
    threads: ThreadsOption = "auto",
):
    """Metrics of a bench run: report.md, report.csv, quality_vs_time.png and grid.png."""
    with user_errors():
        from ...evaluation.report import report

        if against_run is not None and against is None:
            raise InpaintInputError("--against-run needs --against (the label of a row of that run)")
        path = report(run_dir, out, device=start(device, threads), against=against, against_run=against_run)
        typer.echo(f"wrote {path}", err=True)
