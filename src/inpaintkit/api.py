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
        spec = get_method(method)
        opts = make_options(method, options)
        img = load_image(image)
        m = load_mask(mask, size=tuple(img.shape[-2:]), resize=resize_mask)
        if m.sum() == 0:
            warnings.warn("the mask has no pixel to fill; returning the input unchanged", stacklevel=2)
            return img.repeat(num_samples, 1, 1, 1)
        if not spec.needs_model:
            return spec.fn(None, img, m, opts).repeat(num_samples, 1, 1, 1)
        model = self.model
        if model is None:
            raise InpaintInputError(f"method {method!r} needs a diffusion model")
        if model.space not in spec.spaces:
            raise InpaintInputError(f"method {method!r} works on {'/'.join(spec.spaces)} models; "
                                    f"{model.name!r} is a {model.space} model")
        box = crop_box(m, model.resolution, padding)
        x = crop(img, box, model.resolution, "image").repeat(num_samples, 1, 1, 1)
        mx = crop(m, box, model.resolution, "mask").repeat(num_samples, 1, 1, 1)
        generator = torch.Generator().manual_seed(seed)
        cond = model.condition([prompt] * num_samples if prompt else None, getattr(opts, "guidance_scale", 1.0))
        task = Task.create(model, x, mx, generator, cond, progress)
        generated = spec.fn(model, task, opts, callback).detach().float().cpu()
        return torch.cat([paste_back(img, m, g[None], box, feather) for g in generated])


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
