"""The Python API: ``inpaintkit.inpaint(image, mask, ...)`` and the reusable :class:`Inpainter`."""
from __future__ import annotations

import warnings

import torch
from PIL import Image

from .methods import get_method, make_options
from .models import DiffusionModel, load_model
from .problem import InpaintInputError, crop, crop_box, load_image, load_mask, paste_back, to_pil
from .sampling import Task
from .train import pick_device

DEFAULT_MODEL = "faces-32"
DEFAULT_METHOD = "combine-image"


class Inpainter:
    """A loaded model (or none, for classical methods) that inpaints image/mask pairs of any size."""

    def __init__(self, model: str | DiffusionModel | None = DEFAULT_MODEL, device: str = "auto",
                 dtype: torch.dtype | None = None):
        self.device = pick_device(device)
        if isinstance(model, DiffusionModel) or model is None:
            self.model = model
        else:
            self.model = load_model(model, device=self.device, dtype=dtype)

    def __call__(self, image, mask, method: str = DEFAULT_METHOD, prompt: str | None = None, seed: int = 0,
                 num_samples: int = 1, padding: float = 0.5, feather: int = 0, resize_mask: bool = False,
                 progress: bool = True, callback=None, **options) -> torch.Tensor:
        """Inpaint one image; returns (num_samples, 3, H, W) in [-1, 1] at the input's full resolution,
        equal to the input outside the mask (and its ``feather`` band)."""
        img = load_image(image)
        m = load_mask(mask, size=tuple(img.shape[-2:]), resize=resize_mask)
        if m.sum() == 0:
            warnings.warn("the mask has no pixel to fill; returning the input unchanged", stacklevel=2)
            return img.repeat(num_samples, 1, 1, 1)
        return self._inpaint([img] * num_samples, [m] * num_samples, torch.Generator().manual_seed(seed), method,
                             prompt, padding, feather, progress, callback, options)

    def batch(self, images: torch.Tensor, masks: torch.Tensor, seeds: list[int], method: str = DEFAULT_METHOD,
              prompt: str | None = None, padding: float = 0.5, feather: int = 0, progress: bool = True,
              callback=None, **options) -> torch.Tensor:
        """Inpaint images (B, 3, H, W) with masks (B, 1, H, W) in one batch, image i with its own seed:
        the noise it would get alone from ``self(image, mask, seed=seeds[i])``, so results do not depend
        on the batch size (up to float rounding). Every mask must have a pixel to fill."""
        if not len(images) == len(masks) == len(seeds):
            raise InpaintInputError(f"batch of {len(images)} images, {len(masks)} masks and {len(seeds)} seeds")
        imgs, ms = [load_image(i) for i in images], [load_mask(m, size=tuple(images.shape[-2:])) for m in masks]
        if any(m.sum() == 0 for m in ms):
            raise InpaintInputError("a mask of the batch has no pixel to fill")
        generators = [torch.Generator().manual_seed(s) for s in seeds]
        return self._inpaint(imgs, ms, generators, method, prompt, padding, feather, progress, callback, options)

    def _inpaint(self, imgs: list[torch.Tensor], ms: list[torch.Tensor], generator, method: str, prompt: str | None,
                 padding: float, feather: int, progress: bool, callback, options: dict) -> torch.Tensor:
        """Images (1, 3, H, W) and masks (1, 1, H, W) cropped around their holes, inpainted as one batch
        at the model's resolution, and pasted back."""
        spec = get_method(method)
        opts = make_options(method, options)
        if not spec.needs_model:
            return torch.cat([spec.fn(None, img, m, opts) for img, m in zip(imgs, ms)])
        model = self.model
        if model is None:
            raise InpaintInputError(f"method {method!r} needs a diffusion model")
        if model.space not in spec.spaces:
            raise InpaintInputError(f"method {method!r} works on {'/'.join(spec.spaces)} models; "
                                    f"{model.name!r} is a {model.space} model")
        boxes = [crop_box(m, model.resolution, padding) for m in ms]
        x = torch.cat([crop(img, box, model.resolution, "image") for img, box in zip(imgs, boxes)])
        mx = torch.cat([crop(m, box, model.resolution, "mask") for m, box in zip(ms, boxes)])
        cond = model.condition([prompt] * len(imgs) if prompt else None, getattr(opts, "guidance_scale", 1.0))
        task = Task.create(model, x, mx, generator, cond, progress)
        generated = spec.fn(model, task, opts, callback).detach().float().cpu()
        return torch.cat([paste_back(img, m, g[None], box, feather)
                          for img, m, g, box in zip(imgs, ms, generated, boxes)])


def inpaint(image, mask, method: str = DEFAULT_METHOD, model: str | DiffusionModel | None = DEFAULT_MODEL,
            prompt: str | None = None, seed: int = 0, num_samples: int = 1, device: str = "auto",
            **kwargs) -> Image.Image | list[Image.Image]:
    """Fill the white (1) region of ``mask`` in ``image``; returns a PIL image (a list if num_samples > 1).

    ``image``/``mask``: paths, PIL images, numpy arrays or tensors. Other keyword arguments are the
    method's options (``inpaintkit methods``) and ``padding``, ``feather``, ``resize_mask``, ``progress``.
    """
    spec = get_method(method)
    inpainter = Inpainter(model if spec.needs_model else None, device=device)
    out = inpainter(image, mask, method=method, prompt=prompt, seed=seed, num_samples=num_samples, **kwargs)
    images = [to_pil(o) for o in out]
    return images[0] if num_samples == 1 else images
