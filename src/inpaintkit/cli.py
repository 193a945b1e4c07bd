"""The ``inpaintkit`` command: inpaint an image or a folder, list methods and models, run the demo, train.

A user error (a missing or unreadable file, a size mismatch, an unknown name, an output that exists)
prints one ``error: ...`` line on stderr, exits with status 1 and writes nothing.
"""
from __future__ import annotations

import dataclasses
import sys
import warnings
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import torch
import typer
from tqdm.auto import tqdm

from .api import DEFAULT_METHOD, DEFAULT_MODEL, Inpainter
from .data import CELEBA_CROP
from .demo import make_demo
from .io import Pair, check_writable, image_format, output_paths, pair_folders, save_image_atomic
from .methods import METHODS, describe_options, get_method, make_options
from .models import builtin_models, model_summary
from .problem import InpaintInputError, load_image, load_mask, to_pil
from .train import TRAIN_PRESETS, UNET_PRESETS, TrainConfig, preset_config, train

app = typer.Typer(help="Inpaint images with pretrained diffusion models.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False,
                  rich_markup_mode=None)

# Flags that fill the method's options of the same name, for the methods that have them.
OPTION_FLAGS = {"steps": "--steps", "eta": "--eta", "guidance_scale": "--guidance-scale"}


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


def warn(message: str) -> None:
    tqdm.write(f"warning: {message}", file=sys.stderr)


@contextmanager
def user_errors():
    """One ``error: ...`` line and exit status 1 for bad input; library warnings as ``warning: ...`` lines."""
    with warnings.catch_warnings():
        warnings.filterwarnings("always", module="inpaintkit")
        warnings.showwarning = lambda message, *args, **kwargs: warn(str(message))
        try:
            yield
        except (ValueError, OSError) as e:  # InpaintInputError, ModelNotFoundError, bad option values, file errors
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            typer.echo("interrupted (finished outputs are kept: run the same command again to resume)", err=True)
            raise typer.Exit(130) from None


def pick_device(device: Device) -> str:
    if device is Device.cuda and not torch.cuda.is_available():
        raise InpaintInputError("--device cuda: no CUDA device is available")
    return device.value


def method_options(method: str, flags: dict, settings: list[str]) -> dict:
    """The method's options from ``--set KEY=VALUE`` and the flags it has, validated (names and types)."""
    spec = get_method(method)
    values = {}
    for item in settings:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InpaintInputError(f"--set expects KEY=VALUE, got {item!r}")
        values[key.strip().replace("-", "_")] = value.strip()
    fields = {f.name for f in dataclasses.fields(spec.options)}
    for name, value in flags.items():
        if value is None:
            continue
        if name not in fields:
            warn(f"method {method!r} has no {OPTION_FLAGS[name]} option; ignored")
        elif name in values:
            raise InpaintInputError(f"{OPTION_FLAGS[name]} and --set {name}=... both given")
        else:
            values[name] = value
    make_options(method, values)
    return values


def read_pair(pair: Pair, resize_mask: bool) -> tuple[torch.Tensor, torch.Tensor]:
    image = load_image(pair.image)
    return image, load_mask(pair.mask, size=tuple(image.shape[-2:]), resize=resize_mask)


def check_not_input(out: Path, *inputs: Path) -> None:
    if any(out.resolve() == p.resolve() for p in inputs):
        raise InpaintInputError(f"output {out} is one of the inputs; inputs are never overwritten")


def plan_folder(image_dir: Path, mask_dir: Path, out_dir: Path, num_samples: int, overwrite: bool) -> list[Pair]:
    """The pairs still to do: unpaired images are skipped with a warning, finished ones (every output
    exists) unless ``overwrite``."""
    if not (image_dir.is_dir() and mask_dir.is_dir()):
        raise InpaintInputError("IMAGE and MASK must both be files or both be folders")
    if out_dir.exists() and not out_dir.is_dir():
        raise InpaintInputError(f"output {out_dir} is a file; in folder mode it must be a folder")
    check_not_input(out_dir, image_dir, mask_dir)
    check_writable(out_dir / "image.png")
    pairs, unpaired = pair_folders(image_dir, mask_dir, out_dir, num_samples)
    if not pairs:
        raise InpaintInputError(f"no image in {image_dir} has a mask in {mask_dir}")
    for message in unpaired:
        warn(message)
    todo = [p for p in pairs if overwrite or not all(o.exists() for o in p.outputs)]
    if len(todo) < len(pairs):
        typer.echo(f"{len(pairs) - len(todo)} of {len(pairs)} images already done, skipping them "
                   "(--overwrite redoes them)", err=True)
    return todo


def plan_single(pair: Pair, overwrite: bool) -> None:
    """Refuse outputs that exist (unless ``overwrite``), overwrite an input, or cannot be written."""
    for out in pair.outputs:
        image_format(out)
        check_not_input(out, pair.image, pair.mask)
        if out.exists() and not overwrite:
            raise InpaintInputError(f"output {out} exists (use --overwrite to replace it)")
        check_writable(out)


@app.command("inpaint")
def inpaint_command(
    image: Annotated[Path, typer.Argument(metavar="IMAGE", help="Image file, or a folder of images.",
                                          show_default=False)],
    mask: Annotated[Path, typer.Argument(
        metavar="MASK", help="Mask file (white = fill; grey levels are thresholded at 0.5), or a folder of masks "
        "named <stem>.png or <stem>_mask.png after their images.", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output file; a folder when IMAGE and MASK are "
                                         "folders (one <stem>.png per image; existing ones are skipped, so an "
                                         "interrupted run resumes).", show_default=False)],
    method: Annotated[str, typer.Option("--method", "-m", help="Inpainting method (see `inpaintkit methods`).")]
    = DEFAULT_METHOD,
    model: Annotated[str, typer.Option(help="Built-in model (see `inpaintkit models`), diffusers folder or hub id.")]
    = DEFAULT_MODEL,
    steps: Annotated[Optional[int], typer.Option(help="Denoising steps [default: the method's].",
                                                 show_default=False)] = None,
    seed: Annotated[int, typer.Option(help="Random seed (the same for every image of a folder).")] = 0,
    prompt: Annotated[Optional[str], typer.Option(help="Text prompt, for text-conditioned models.")] = None,
    num_samples: Annotated[int, typer.Option(min=1, help="Samples per image, written as <stem>_<k>.")] = 1,
    guidance_scale: Annotated[Optional[float], typer.Option(help="Classifier-free guidance scale [default: the "
                                                            "method's].", show_default=False)] = None,
    eta: Annotated[Optional[float], typer.Option(help="1: DDPM steps, 0: DDIM [default: the method's].",
                                                 show_default=False)] = None,
    padding: Annotated[float, typer.Option(min=0.0, help="Context around the hole, as a fraction of its size.")]
    = 0.5,
    feather: Annotated[int, typer.Option(min=0, help="Blend this many pixels outward from the hole.")] = 0,
    resize_mask: Annotated[bool, typer.Option("--resize-mask", help="Resize a mask of another size to the "
                                              "image's.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing outputs.")] = False,
    device: Annotated[Device, typer.Option(help="Where to run the model.")] = Device.auto,
    settings: Annotated[Optional[list[str]], typer.Option(
        "--set", metavar="KEY=VALUE", help="A method option (repeatable; see `inpaintkit methods`).",
        show_default=False)] = None,
):
    """Inpaint an image, or a folder of images.

    Fills the white region of MASK in IMAGE. With folders, each image is paired with its mask by file
    name, one output per image is written to the output folder, and outputs that already exist are
    skipped, so an interrupted run resumes where it stopped.
    """
    with user_errors():
        spec = get_method(method)
        options = method_options(method, {"steps": steps, "eta": eta, "guidance_scale": guidance_scale},
                                 settings or [])
        folder_mode = image.is_dir() or mask.is_dir()
        if folder_mode:
            todo = plan_folder(image, mask, output, num_samples, overwrite)
        else:  # read the inputs before loading the model: bad input fails fast
            todo = [Pair(image, mask, output_paths(output, num_samples))]
            inputs = read_pair(todo[0], resize_mask)
            plan_single(todo[0], overwrite)
        if not todo:
            return
        inpainter = Inpainter(model if spec.needs_model else None, device=pick_device(device))
        if prompt and (inpainter.model is None or not inpainter.model.is_conditional):
            raise InpaintInputError(f"--prompt needs a text-conditioned model; {model!r} is unconditional"
                                    if spec.needs_model else f"method {method!r} takes no prompt")
        failed = 0
        for pair in tqdm(todo, desc="images", disable=not folder_mode):
            if folder_mode:
                try:
                    inputs = read_pair(pair, resize_mask)
                except InpaintInputError as e:
                    warn(f"skipping {pair.image.name}: {e}")
                    failed += 1
                    continue
            results = inpainter(*inputs, method=method, prompt=prompt, seed=seed, num_samples=num_samples,
                                padding=padding, feather=feather, **options)
            for out, result in zip(pair.outputs, results):
                save_image_atomic(to_pil(result), out)
        if failed:
            raise InpaintInputError(f"{failed} of {len(todo)} images could not be read (see the warnings above)")
        if not folder_mode:
            typer.echo(f"wrote {', '.join(str(o) for o in todo[0].outputs)}", err=True)


@app.command("methods")
def methods_command():
    """List the inpainting methods and their options.

    Set an option with --set KEY=VALUE.
    """
    for name in sorted(METHODS):
        spec = METHODS[name]
        typer.echo(f"{name}: {spec.summary}")
        typer.echo(f"    models: {', '.join(spec.spaces) if spec.spaces else 'none needed'}"
                   + (f"    paper: {spec.paper}" if spec.paper else ""))
        options = ", ".join(f"{key}: {typ} = {default!r}" for key, typ, default in describe_options(name))
        typer.echo(f"    options: {options or 'none'}")


def _format_fid(fid) -> str:
    if isinstance(fid, dict):
        return ", ".join(f"FID {value} ({key})" for key, value in fid.items())
    return f"FID {fid}"


@app.command("models")
def models_command():
    """List the built-in models.

    Any other model: pass a diffusers folder or hub id with --model.
    """
    with user_errors():
        builtins = builtin_models()
        if not builtins:
            typer.echo("no built-in models installed; pass a diffusers folder or hub id with --model")
        for name, folder in builtins.items():
            m = model_summary(folder)
            facts = [f"{m['resolution']}x{m['resolution']} {m['space']}", m["conditioning"],
                     f"{m['parameters']:,} parameters"]
            if m["training_steps"] is not None:
                facts.append(f"{m['training_steps']} training steps")
            if m["fid"] is not None:
                facts.append(_format_fid(m["fid"]))
            typer.echo(f"{name}{' (default)' if name == DEFAULT_MODEL else ''}: {', '.join(facts)}")


@app.command("demo")
def demo_command(
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the grid.")] = Path("demo.png"),
    model: Annotated[str, typer.Option(help="Model to sample and inpaint with.")] = DEFAULT_MODEL,
    rows: Annotated[int, typer.Option(min=1, help="Sampled images (one mask shape each).")] = 3,
    steps: Annotated[int, typer.Option(min=1, help="Denoising steps.")] = 50,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    prompt: Annotated[Optional[str], typer.Option(
        help="Text-conditioned models: the prompt of every row [default: the model's class captions in turn].",
        show_default=False)] = None,
    guidance_scale: Annotated[float, typer.Option(help="Text-conditioned models: classifier-free guidance.")] = 3.0,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output.")] = False,
    device: Annotated[Device, typer.Option(help="Where to run the model.")] = Device.auto,
):
    """Compare methods on sampled images, offline.

    Samples images from the model (faces from the default one), masks part of each, inpaints them with
    every baseline made for the model's space and writes one labelled grid: original, masked input,
    one column per method. Text-conditioned models sample and inpaint with a prompt per row.
    """
    with user_errors():
        image_format(output)
        if output.exists() and not overwrite:
            raise InpaintInputError(f"output {output} exists (use --overwrite to replace it)")
        check_writable(output)
        grid = make_demo(model, rows=rows, steps=steps, seed=seed, device=pick_device(device), prompt=prompt,
                         guidance_scale=guidance_scale)
        save_image_atomic(grid, output)
        typer.echo(f"wrote {output}", err=True)


@app.command("train")
def train_command(
    out: Annotated[Path, typer.Option(help="Run folder: checkpoint, log and the exported model in out/model; "
                                      "an existing run resumes from its checkpoint.", show_default=False)],
    preset: Annotated[Optional[str], typer.Option(
        help=f"A built-in model's recipe ({', '.join(TRAIN_PRESETS)}; see docs/training.md); the options "
             "below override its settings.", show_default=False)] = None,
    data: Annotated[Optional[Path], typer.Option(
        help="Folder of training images; for text-conditioned presets, class folders or a tar archive of "
             "<split>/<class>/<image> [default: the preset's].", show_default=False)] = None,
    resolution: Annotated[Optional[int], typer.Option(min=8, help="Image side in pixels.  [default: 32]",
                                                      show_default=False)] = None,
    crop: Annotated[Optional[int], typer.Option(
        min=0, help=f"Central square crop before resizing (0: the largest).  [default: {CELEBA_CROP}]",
        show_default=False)] = None,
    architecture: Annotated[Optional[str], typer.Option(
        help=f"U-Net preset: {', '.join(UNET_PRESETS)}.  [default: face32]", show_default=False)] = None,
    steps: Annotated[Optional[int], typer.Option(min=1, help="Total training steps.  [default: 10000]",
                                                 show_default=False)] = None,
    batch_size: Annotated[Optional[int], typer.Option(min=1, help="[default: 32]", show_default=False)] = None,
    lr: Annotated[Optional[float], typer.Option(help="Peak learning rate.  [default: 0.0003]",
                                                show_default=False)] = None,
    hflip: Annotated[Optional[bool], typer.Option(
        "--hflip/--no-hflip", help="Mirror half of the samples (latent models: encode the mirrored images "
        "too, twice the encoding).  [default: on]", show_default=False)] = None,
    max_images: Annotated[Optional[int], typer.Option(
        min=1, help="Train on the first N images of an image folder (sorted by name) only.  [default: all]", show_default=False)]
    = None,
    checkpoint_every: Annotated[int, typer.Option(min=1, help="Steps between checkpoints and model exports.")]
    = 500,
    seed: Annotated[int, typer.Option()] = 0,
    cache_dir: Annotated[Optional[Path], typer.Option(
        help="Where the latent / prompt-embedding caches are kept [default: OUT].", show_default=False)] = None,
    max_minutes: Annotated[Optional[float], typer.Option(
        min=0, help="Stop after this many minutes, with a checkpoint (run again to go on).", show_default=False)]
    = None,
    device: Annotated[Device, typer.Option(help="Where to train.")] = Device.auto,
    bf16: Annotated[Optional[bool], typer.Option(
        "--bf16/--no-bf16", help="bf16 autocast of the U-Net (weights, optimiser and loss stay fp32); about "
        "1.8x faster on CPUs with AVX512-BF16 or AMX.  [default: on CUDA only]", show_default=False)] = None,
):
    """Train a diffusion model: unconditional on a folder of images, or a built-in model's recipe.

    Presets also train latent models (on autoencoder latents, encoded once into a cache) and
    text-conditioned models with classifier-free guidance. Run the same command again to resume from
    the last checkpoint.
    """
    with user_errors():
        given = dict(data=data and str(data), resolution=resolution, crop=crop, architecture=architecture,
                     steps=steps, batch_size=batch_size, lr=lr, hflip=hflip, max_images=max_images,
                     cache_dir=cache_dir and str(cache_dir), bf16=bf16)
        settings = {k: v for k, v in given.items() if v is not None}
        if crop == 0:
            settings["crop"] = None
        settings.update(checkpoint_every=checkpoint_every, seed=seed, device=pick_device(device))
        if preset is not None:
            cfg = preset_config(preset, str(out), **settings)
        elif data is None:
            raise InpaintInputError("--data is required without --preset")
        else:
            cfg = TrainConfig(out=str(out), **settings)
        if cfg.architecture not in UNET_PRESETS:
            raise InpaintInputError(f"unknown architecture {cfg.architecture!r}; "
                                    f"choose one of {', '.join(UNET_PRESETS)}")
        source = Path(cfg.data)
        if not (source.is_dir() or (cfg.text_encoder and source.is_file()) or cfg.vae):
            raise InpaintInputError(f"training data folder not found: {source}")
        typer.echo(f"model written to {train(cfg, max_minutes=max_minutes)}", err=True)


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
    device: Annotated[Device, typer.Option(help="Where to run the model.")] = Device.auto,
):
    """Benchmark methods on an image folder and mask sets; resumable, and sharded under torchrun or
    accelerate launch (one manifest shard per process)."""
    from .bench import build_config, parse_method_settings, run_bench

    with user_errors():
        if set_ and not method:
            raise InpaintInputError("--set needs the --method flags it applies to")
        cfg = build_config(
            str(config) if config else None, preset,
            methods=parse_method_settings(method, set_ or []) if method else None, model=model,
            images=[str(p) for p in images] if images else None, masks=masks or None, n_images=n,
            seeds=seed or None, mask_seed=mask_seed, resolution=resolution,
            crop=crop, fid_reference=[str(p) for p in fid_reference]
            if fid_reference else None, batch_size=batch_size, device=pick_device(device))
        if crop == 0:
            cfg.crop = None
        typer.echo(f"wrote {run_bench(cfg, out)}", err=True)


@app.command("report")
def report_command(
    run_dir: Annotated[Path, typer.Argument(help="A bench run folder.", show_default=False)],
    out: Annotated[Optional[Path], typer.Option(help="Where to write the report [default: RUN_DIR].",
                                                show_default=False)] = None,
    device: Annotated[Device, typer.Option(help="Where to run the metric networks.")] = Device.auto,
):
    """Metrics of a bench run: report.md, report.csv, quality_vs_time.png and grid.png."""
    from .report import report

    with user_errors():
        typer.echo(f"wrote {report(run_dir, out, device=pick_device(device))}", err=True)


if __name__ == "__main__":  # pragma: no cover
    app()
