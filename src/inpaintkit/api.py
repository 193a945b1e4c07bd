"""The Python API: ``inpaintkit.inpaint(image, mask, ...)`` and the reusable :class:`Inpainter`.

Any image size works with a fixed-size model: a padded square box around the hole is cropped, resized to
the model's resolution and inpainted, and only the filled region is pasted back at full resolution.
Crops of several images are inpainted together in batches (:meth:`Inpainter.many`), each image with
generators of its own, so its noise is the noise it gets alone whatever the batch.
"""
from __future__ import annotations

import warnings
from typing import Iterable, Iterator, Sequence

import numpy as np
import torch
from PIL import Image

from .core.env import pick_device, set_threads
from .core.errors import InpaintInputError
from .core.geometry import borders_to, crop, crop_box, outpaint_canvas, paste_back, place
from .core.images import MAX_PIXELS, load_image, load_mask, to_pil
from .methods import DiffusionOptions, get_method, make_options
from .models import DiffusionModel, load_model
from .models.hub import HubOptions
from .models.memory import MemoryOptions, apply_memory_options
from .models.precision import set_precision
from .sampling import Task

DEFAULT_MODEL = "faces-64"
DEFAULT_METHOD = "combine-image"
DEFAULT_BATCH_SIZE = 8


def sample_seed(seed: int, k: int) -> int:
    """The seed of the k-th sample of an image inpainted with ``seed``: ``seed`` itself for the first, so
    one sample is the same whether or not more are asked for; independent streams for the others."""
    if k == 0:
        return seed
    return int(np.random.SeedSequence([seed, k]).generate_state(1)[0] & 0x7FFFFFFF)


class Inpainter:
    """A loaded model (or none, for classical methods) that inpaints image/mask pairs of any size.

    ``threads``: CPU threads for torch (``"auto"``: one per idle core, the default; an int; None leaves
    torch's setting alone). ``precision``: ``"fp32"``, ``"bf16"`` (the fast path) or ``"auto"`` (bf16 where
    the hardware has it), see :mod:`inpaintkit.models.precision`; None keeps the model as loaded.
    ``allow_pickle``: permit pickled weights of a foreign model (they can run code). ``memory``: dtypes per
    component, VAE tiling / slicing, CPU offload, channels-last (:mod:`inpaintkit.models.memory`).
    ``class_label``: the class a class-conditional model (an ImageNet guided-diffusion checkpoint) generates.
    ``hub``: weights variant, revision, cache folder, and the configs of a single-file checkpoint
    (:class:`~inpaintkit.models.hub.HubOptions`). ``compile``: ``torch.compile`` the U-Net in place, for long
    runs: its first calls pay the compilation (tens of seconds; docs/speed.md), hooks and attention processors
    keep working (a change of them recompiles)."""

    def __init__(self, model: str | DiffusionModel | None = DEFAULT_MODEL, device: str = "auto",
                 dtype: torch.dtype | None = None, threads: int | str | None = "auto", precision: str | None = None,
                 allow_pickle: bool = False, memory: MemoryOptions | None = None, class_label: int | None = None,
                 hub: HubOptions | None = None, compile: bool = False):
        self.threads = set_threads(threads)
        self.device = pick_device(device)
        if isinstance(model, DiffusionModel) or model is None:
            self.model = model
        else:
            self.model = load_model(model, device=self.device, dtype=dtype, allow_pickle=allow_pickle, hub=hub)
        if precision is not None and self.model is not None:
            set_precision(self.model, precision)
        if compile and self.model is not None:
            self.model.unet.compile()
        if memory is not None and self.model is not None:
            apply_memory_options(self.model, memory, self.device)
        if class_label is not None:
            classes = self.model.unet.config.get("num_class_embeds") if self.model is not None else None
            if not classes:
                raise InpaintInputError("class_label: the model is not class-conditional")
            if not 0 <= class_label < classes:
                raise InpaintInputError(f"class_label must be in [0, {classes - 1}], got {class_label}")
            self.model.class_label = class_label

    def __call__(self, image, mask, method: str = DEFAULT_METHOD, prompt: str | None = None, seed: int = 0,
                 num_samples: int = 1, padding: float = 0.5, feather: int = 0, resize_mask: bool = False,
                 progress: bool = True, callback=None, **options) -> torch.Tensor:
        """Inpaint one image; returns (num_samples, 3, H, W) in [-1, 1] at the input's full resolution,
        equal to the input outside the mask (and its ``feather`` band). Sample k has seed
        :func:`sample_seed` (seed, k)."""
        if num_samples < 1:
            raise InpaintInputError(f"num_samples must be >= 1, got {num_samples}")
        img = load_image(image)
        m = load_mask(mask, size=tuple(img.shape[-2:]), resize=resize_mask)
        if m.sum() == 0:
            warnings.warn("the mask has no pixel to fill; returning the input unchanged", stacklevel=2)
            return img.repeat(num_samples, 1, 1, 1)
        if get_method(method).multi_sample:  # the completions share one fit: the image goes in once
            return self._inpaint([img], [m], [seed], method, [prompt], padding, feather, progress, callback,
                                 {**options, "samples": num_samples})[0]
        seeds = [sample_seed(seed, k) for k in range(num_samples)]
        return torch.cat(self._inpaint([img] * num_samples, [m] * num_samples, seeds, method,
                                       [prompt] * num_samples, padding, feather, progress, callback, options))

    def outpaint(self, image, left: int = 0, right: int = 0, top: int = 0, bottom: int = 0,
                 to: tuple[int, int] | None = None, method: str = DEFAULT_METHOD, **kwargs) -> torch.Tensor:
        """Grow the canvas by the given borders (or centre the image on a ``to`` = (width, height) canvas) and
        fill them; returns (num_samples, 3, H', W'), the original pixels unchanged."""
        img = load_image(image)
        if to is not None:
            if any((left, right, top, bottom)):
                raise InpaintInputError("give either the borders or the size to grow to, not both")
            borders = borders_to(tuple(img.shape[-2:]), *to)
        else:
            borders = dict(left=left, right=right, top=top, bottom=bottom)
        canvas, mask = outpaint_canvas(img, **borders, max_pixels=MAX_PIXELS)
        return self(canvas, mask, method=method, **kwargs)

    def batch(self, images: torch.Tensor, masks: torch.Tensor, seeds: list[int], method: str = DEFAULT_METHOD,
              prompt: str | None = None, padding: float = 0.5, feather: int = 0, progress: bool = True,
              callback=None, **options) -> torch.Tensor:
        """Inpaint images (B, 3, H, W) with masks (B, 1, H, W) in one batch, image i with its own seed:
        the result it gets alone from ``self(image, mask, seed=seeds[i])``. Every mask must have a pixel
        to fill."""
        if not len(images) == len(masks) == len(seeds):
            raise InpaintInputError(f"batch of {len(images)} images, {len(masks)} masks and {len(seeds)} seeds")
        imgs = [load_image(i) for i in images]
        ms = [load_mask(m, size=tuple(images.shape[-2:])) for m in masks]
        if any(m.sum() == 0 for m in ms):
            raise InpaintInputError("a mask of the batch has no pixel to fill")
        return torch.cat(self._inpaint(imgs, ms, seeds, method, [prompt] * len(imgs), padding, feather, progress,
                                       callback, options))

    def many(self, items: Iterable[tuple], method: str = DEFAULT_METHOD, batch_size: int = DEFAULT_BATCH_SIZE,
             prompt: str | None = None, padding: float = 0.5, feather: int = 0, resize_mask: bool = False,
             progress: bool = False, callback=None, paste: bool = True, **options) -> Iterator[torch.Tensor]:
        """Inpaint a stream of (image, mask, seed) triples of any sizes (or (image, mask, seed, prompt): a prompt of
        its own instead of ``prompt``), ``batch_size`` crops per network
        batch, yielding each result (1, 3, H, W) in input order as soon as its batch is done (a method that
        draws several completions per image, ``samples``, yields them together); only one batch is held in
        memory. Each result equals ``self(image, mask, seed=seed)`` for its triple alone
        (the same noise; floats may differ in the last bits between batch sizes, docs/speed.md). A mask with
        nothing to fill gives the input back, with a warning. ``paste=False``: the method's own pixels wherever
        its crop reaches, the known region as the method left it (before paste-back)."""
        if batch_size < 1:
            raise InpaintInputError(f"batch_size must be >= 1, got {batch_size}")
        make_options(method, options)  # refuse bad options before the first image is read
        chunk: list[tuple] = []

        def flush() -> Iterator[torch.Tensor]:
            todo = [c for c in chunk if c[1].sum() > 0]
            results = iter(self._inpaint([c[0] for c in todo], [c[1] for c in todo], [c[2] for c in todo], method,
                                         [c[3] for c in todo], padding, feather, progress, callback, options,
                                         paste) if todo else [])
            for img, m, *_ in chunk:
                if m.sum() == 0:
                    warnings.warn("the mask has no pixel to fill; returning the input unchanged", stacklevel=3)
                    yield img
                else:
                    yield next(results)
            chunk.clear()

        for image, mask, seed, *own in items:
            img = load_image(image)
            chunk.append((img, load_mask(mask, size=tuple(img.shape[-2:]), resize=resize_mask), seed,
                          own[0] if own else prompt))
            if len(chunk) == batch_size:
                yield from flush()
        if chunk:
            yield from flush()

    def _inpaint(self, imgs: Sequence[torch.Tensor], ms: Sequence[torch.Tensor], seeds: Sequence[int], method: str,
                 prompts: Sequence[str | None], padding: float, feather: int, progress: bool, callback,
                 options: dict, paste: bool = True) -> list[torch.Tensor]:
        """The one batching core: images (1, 3, H, W) and masks (1, 1, H, W) cropped around their holes,
        inpainted as one batch at the model's resolution (one generator and one prompt per image), and pasted
        back (or only placed, ``paste=False``); one (completions, 3, H, W) tensor per image."""
        spec = get_method(method)
        opts = make_options(method, options)
        generators = [torch.Generator().manual_seed(s) for s in seeds]
        model = self.model if spec.needs_model else None
        spec.check_model(model)
        if model is None:  # classical methods work at full resolution, one image at a time
            if any(prompts):
                raise InpaintInputError(f"method {method!r} takes no prompt")
            return [spec.fn(None, Task.create(None, img, m, g, progress=progress), opts, callback)
                    for img, m, g in zip(imgs, ms, generators)]
        boxes = [crop_box(m, model.resolution, padding) for m in ms]
        x = torch.cat([crop(img, box, model.resolution, "image") for img, box in zip(imgs, boxes)])
        mx = torch.cat([crop(m, box, model.resolution, "mask") for m, box in zip(ms, boxes)])
        guidance = opts.guidance_scale if isinstance(opts, DiffusionOptions) else 1.0
        cond = model.condition([p or "" for p in prompts] if any(prompts) else None, guidance)
        task = Task.create(model, x, mx, generators, cond, progress)
        generated = spec.fn(model, task, opts, callback).detach().float().cpu().clamp(-1, 1)
        per_image = generated.view(len(imgs), -1, *generated.shape[1:])  # several completions: image-major
        if not paste:
            return [place(img, g, box) for img, g, box in zip(imgs, per_image, boxes)]
        return [paste_back(img, m, g, box, feather) for img, m, g, box in zip(imgs, ms, per_image, boxes)]


def inpaint(image, mask, method: str = DEFAULT_METHOD, model: str | DiffusionModel | None = DEFAULT_MODEL,
            prompt: str | None = None, seed: int = 0, num_samples: int = 1, device: str = "auto",
            threads: int | str | None = "auto", precision: str | None = None, batch_size: int = DEFAULT_BATCH_SIZE,
            **kwargs) -> Image.Image | list[Image.Image]:
    """Fill the white (1) region of ``mask`` in ``image``; returns a PIL image (a list if num_samples > 1).

    ``image``/``mask``: paths, PIL images, numpy arrays or tensors, or lists of them (then a list of
    results, one per image, inpainted ``batch_size`` at a time, all with ``seed``). Other keyword
    arguments are the method's options (``inpaintkit methods``) and ``padding``, ``feather``,
    ``resize_mask``, ``progress``.
    """
    spec = get_method(method)
    options = {k: v for k, v in kwargs.items() if k not in ("padding", "feather", "resize_mask", "progress")}
    make_options(method, options)  # bad options fail before the model loads
    inpainter = Inpainter(model if spec.needs_model else None, device=device, threads=threads, precision=precision)
    if isinstance(image, (list, tuple)):
        if not isinstance(mask, (list, tuple)) or len(mask) != len(image):
            raise InpaintInputError("a list of images needs a list of as many masks")
        if num_samples != 1:
            raise InpaintInputError("num_samples > 1 works on one image at a time")
        items = ((i, m, seed) for i, m in zip(image, mask))
        return [to_pil(o) for o in inpainter.many(items, method, batch_size, prompt, **kwargs)]
    out = inpainter(image, mask, method=method, prompt=prompt, seed=seed, num_samples=num_samples, **kwargs)
    images = [to_pil(o) for o in out]
    return images[0] if num_samples == 1 else images


def outpaint(image, left: int = 0, right: int = 0, top: int = 0, bottom: int = 0, to: tuple[int, int] | None = None,
             method: str = DEFAULT_METHOD, model: str | DiffusionModel | None = DEFAULT_MODEL, seed: int = 0,
             num_samples: int = 1, device: str = "auto", threads: int | str | None = "auto",
             precision: str | None = None, **kwargs) -> Image.Image | list[Image.Image]:
    """Extend ``image`` by ``left``/``right``/``top``/``bottom`` pixels (or to ``to`` = (width, height), centred)
    and fill the new border with ``method``; the original pixels come back unchanged."""
    spec = get_method(method)
    options = {k: v for k, v in kwargs.items() if k not in ("padding", "feather", "progress", "prompt")}
    make_options(method, options)
    inpainter = Inpainter(model if spec.needs_model else None, device=device, threads=threads, precision=precision)
    out = inpainter.outpaint(image, left, right, top, bottom, to, method=method, seed=seed, num_samples=num_samples,
                             **kwargs)
    images = [to_pil(o) for o in out]
    return images[0] if num_samples == 1 else images
