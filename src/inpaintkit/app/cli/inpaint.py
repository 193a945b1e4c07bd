"""``inpaintkit inpaint``: one image, or a folder of images inpainted in batches, resumable."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Optional

import typer

from ...api import DEFAULT_METHOD, DEFAULT_MODEL
from ...core.errors import InpaintInputError
from ...core.files import remove_stale_temps
from ..files import (Pair, check_writable, image_format, is_lossy, output_paths, pair_folders, write_output)
from .common import (ConfigOption, DeviceOption, HubCacheOption, MemoryOption, PrecisionOption, RevisionOption,
                     ThreadsOption, VariantOption, app, hub_options, start, user_errors, warn)

# Flags that fill the method's options of the same name, for the methods that have them.
OPTION_FLAGS = {"steps": "--steps", "eta": "--eta", "guidance_scale": "--guidance-scale"}


def method_options(method: str, flags: dict, settings: list[str]) -> dict:
    """The method's options from ``--set KEY=VALUE`` and the flags it has, validated (names, types, limits)."""
    from ...core.options import parse_assignments
    from ...methods import get_method, make_options

    spec = get_method(method)
    values = parse_assignments(settings)
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


def read_pair(pair: Pair, resize_mask: bool):
    from ...core.images import load_image, load_mask

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
    remove_stale_temps(out_dir)  # left by a run killed while writing
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
        check_writable(out)
        if out.exists() and not overwrite:
            raise InpaintInputError(f"output {out} exists (use --overwrite to replace it)")
    remove_stale_temps(pair.outputs[0].absolute().parent)


@app.command("inpaint")
def inpaint_command(
    image: Annotated[Path, typer.Argument(metavar="IMAGE", help="Image file, or a folder of images.",
                                          show_default=False)],
    mask: Annotated[Path, typer.Argument(
        metavar="MASK", help="Mask file (white = fill; grey levels are thresholded at 0.5), or a folder of masks "
        "named <stem>.png or <stem>_mask.png after their images.", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output file; a folder when IMAGE and MASK are "
                                         "folders (one <stem>.png per image; existing ones are skipped, so an "
                                         "interrupted run resumes). .jpg is lossy: pixels outside the mask change "
                                         "(a warning says so).", show_default=False)],
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
    padding: Annotated[float, typer.Option(min=0.0, max=10.0, help="Context around the hole, as a fraction of "
                                           "its size.")] = 0.5,
    feather: Annotated[int, typer.Option(min=0, help="Blend this many pixels outward from the hole.")] = 0,
    resize_mask: Annotated[bool, typer.Option("--resize-mask", help="Resize a mask of another size to the "
                                              "image's.")] = False,
    batch_size: Annotated[int, typer.Option(min=1, help="Folder mode: images inpainted together (each gets the "
                                            "noise it gets alone).")] = 8,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing outputs.")] = False,
    allow_pickle: Annotated[bool, typer.Option("--allow-pickle", help="Allow pickled weights (*.bin) of a model "
                                               "you trust: loading them can run code.")] = False,
    device: DeviceOption = "auto",
    threads: ThreadsOption = "auto",
    precision: PrecisionOption = "fp32",
    memory: MemoryOption = None,
    variant: VariantOption = None,
    revision: RevisionOption = None,
    hub_cache: HubCacheOption = None,
    config: ConfigOption = None,
    compile: Annotated[bool, typer.Option("--compile", help="torch.compile the U-Net: faster on long runs, tens of "
                                          "seconds of compilation first (docs/speed.md).")] = False,
    class_label: Annotated[Optional[int], typer.Option(min=0, help="The class a class-conditional model (an "
                                                       "ImageNet guided-diffusion checkpoint) generates.",
                                                       show_default=False)] = None,
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
        from ...methods import get_method
        from ...models.memory import MemoryOptions

        spec = get_method(method)
        options = method_options(method, {"steps": steps, "eta": eta, "guidance_scale": guidance_scale},
                                 settings or [])
        memory_options = MemoryOptions.parse(memory or [])
        if prompt and not spec.needs_model:
            raise InpaintInputError(f"method {method!r} takes no prompt")
        folder_mode = image.is_dir() or mask.is_dir()
        if folder_mode:
            todo = plan_folder(image, mask, output, num_samples, overwrite)
        else:  # read the inputs before loading the model: bad input fails fast
            todo = [Pair(image, mask, output_paths(output, num_samples))]
            plan_single(todo[0], overwrite)
            read_pair(todo[0], resize_mask)
        if any(is_lossy(o) for p in todo for o in p.outputs):
            warn("JPEG is lossy: pixels outside the mask will change too; write .png to keep them exactly")
        if not todo:
            return
        from ...api import Inpainter

        inpainter = Inpainter(model if spec.needs_model else None, device=start(device, threads), threads=None,
                              precision=precision.value, allow_pickle=allow_pickle, memory=memory_options,
                              class_label=class_label, hub=hub_options(variant, revision, hub_cache, config),
                              compile=compile)
        if prompt and not inpainter.model.is_conditional:
            raise InpaintInputError(f"--prompt needs a text-conditioned model; {model!r} is unconditional")
        failed = run_pairs(inpainter, todo, method, options, seed, num_samples, batch_size, prompt, padding, feather,
                           resize_mask, progress=folder_mode)
        if failed:
            raise InpaintInputError(f"{failed} of {len(todo)} images could not be read (see the warnings above)")
        if not folder_mode:
            typer.echo(f"wrote {', '.join(str(o) for o in todo[0].outputs)}", err=True)


def run_pairs(inpainter, todo: list[Pair], method: str, options: dict, seed: int, num_samples: int, batch_size: int,
              prompt, padding: float, feather: int, resize_mask: bool, progress: bool) -> int:
    """Inpaint the pairs through the API's batching path, writing each output as soon as it is done;
    unreadable pairs are skipped with a warning. Returns how many were skipped."""
    from tqdm.auto import tqdm

    from ...api import sample_seed
    from ...core.images import to_pil

    skipped = 0
    order: list[tuple[Pair, int]] = []

    def jobs():
        nonlocal skipped
        for pair in todo:
            try:
                image, mask = read_pair(pair, resize_mask)
            except InpaintInputError as e:
                warn(f"skipping {pair.image.name}: {e}")
                skipped += 1
                continue
            for k in range(num_samples):
                order.append((pair, k))
                yield image, mask, sample_seed(seed, k)

    bar = tqdm(total=len(todo) * num_samples, desc="images", disable=not progress)
    for result in inpainter.many(jobs(), method, batch_size, prompt, padding, feather, progress=not progress,
                                 **options):
        pair, k = order.pop(0)
        write_output(to_pil(result), pair.outputs[k])
        bar.update(1)
    bar.close()
    return skipped


def parse_size(text: str) -> tuple[int, int]:
    width, sep, height = text.lower().partition("x")
    if not sep or not width.isdigit() or not height.isdigit():
        raise InpaintInputError(f"--to expects WIDTHxHEIGHT, got {text!r}")
    return int(width), int(height)


@app.command("outpaint")
def outpaint_command(
    image: Annotated[Path, typer.Argument(metavar="IMAGE", help="The image to extend.", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output file.", show_default=False)],
    left: Annotated[int, typer.Option(min=0, help="Pixels to add on the left.")] = 0,
    right: Annotated[int, typer.Option(min=0, help="Pixels to add on the right.")] = 0,
    top: Annotated[int, typer.Option(min=0, help="Pixels to add on top.")] = 0,
    bottom: Annotated[int, typer.Option(min=0, help="Pixels to add below.")] = 0,
    to: Annotated[Optional[str], typer.Option("--to", metavar="WxH", help="Grow to this size instead, the image "
                                              "centred.", show_default=False)] = None,
    method: Annotated[str, typer.Option("--method", "-m", help="Inpainting method (see `inpaintkit methods`).")]
    = DEFAULT_METHOD,
    model: Annotated[str, typer.Option(help="Built-in model, diffusers folder or hub id.")] = DEFAULT_MODEL,
    steps: Annotated[Optional[int], typer.Option(help="Denoising steps [default: the method's].",
                                                 show_default=False)] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    prompt: Annotated[Optional[str], typer.Option(help="Text prompt, for text-conditioned models.")] = None,
    num_samples: Annotated[int, typer.Option(min=1, help="Samples, written as <stem>_<k>.")] = 1,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output.")] = False,
    device: DeviceOption = "auto",
    threads: ThreadsOption = "auto",
    precision: PrecisionOption = "fp32",
    memory: MemoryOption = None,
    variant: VariantOption = None,
    revision: RevisionOption = None,
    hub_cache: HubCacheOption = None,
    config: ConfigOption = None,
    settings: Annotated[Optional[list[str]], typer.Option(
        "--set", metavar="KEY=VALUE", help="A method option (repeatable).", show_default=False)] = None,
):
    """Extend an image beyond its borders: the new border is the region to fill; the original pixels are kept."""
    with user_errors():
        from ...api import Inpainter
        from ...core.geometry import borders_to, check_borders
        from ...core.images import MAX_PIXELS, load_image, to_pil
        from ...methods import get_method
        from ...models.memory import MemoryOptions

        spec = get_method(method)
        options = method_options(method, {"steps": steps}, settings or [])
        memory_options = MemoryOptions.parse(memory or [])
        pair = Pair(image, image, output_paths(output, num_samples))
        plan_single(pair, overwrite)
        picture = load_image(image)
        borders = borders_to(tuple(picture.shape[-2:]), *parse_size(to)) if to else None
        if borders and any((left, right, top, bottom)):
            raise InpaintInputError("give either --left/--right/--top/--bottom or --to, not both")
        borders = borders or dict(left=left, right=right, top=top, bottom=bottom)
        check_borders(tuple(picture.shape[-2:]), **borders, max_pixels=MAX_PIXELS)  # before the model loads
        inpainter = Inpainter(model if spec.needs_model else None, device=start(device, threads), threads=None,
                              precision=precision.value, memory=memory_options,
                              hub=hub_options(variant, revision, hub_cache, config))
        results = inpainter.outpaint(picture, **borders, method=method, prompt=prompt, seed=seed,
                                     num_samples=num_samples, **options)
        for out, result in zip(pair.outputs, results):
            write_output(to_pil(result), out)
        typer.echo(f"wrote {', '.join(str(o) for o in pair.outputs)}", err=True)
