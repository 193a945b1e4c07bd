"""The registry of inpainting methods: name -> function, typed options and a one-line summary.

``inpaintkit methods`` lists them. Each method lives in a module of its own and registers itself with
:func:`register`. Every method has one call shape, ``fn(model, task, options, callback) -> images``
(pixels (B, 3, H, W) in [-1, 1] at the task's resolution), classical ones with ``model=None`` and a
pixel-space task. Options are a dataclass of :func:`~inpaintkit.core.options.option` fields, validated
when built: :func:`make_options` refuses a bad value before any model loads.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

from ..core.errors import InpaintInputError
from ..core.options import Validated, describe, option


@dataclass
class Options(Validated):
    """Options every method takes."""


@dataclass
class DiffusionOptions(Options):
    steps: int = option(50, ge=1, help="denoising steps")
    eta: float = option(1.0, ge=0, le=1, help="1: DDPM ancestral steps, 0: deterministic DDIM")
    guidance_scale: float = option(1.0, ge=0, le=50, help="classifier-free guidance, for text-conditioned models")


@dataclass
class GradientOptions(DiffusionOptions):
    """Options of methods that differentiate through the denoiser."""

    steps: int = option(100, ge=1, help="denoising steps")
    gradient_checkpointing: bool = option(False, help="recompute U-Net activations in the backward pass "
                                                      "(large models)")
    autocast: bool = option(True, help="bf16 autocast of the differentiated network calls on CUDA")


@dataclass(frozen=True)
class Method:
    name: str
    fn: Callable
    options: type
    summary: str
    spaces: tuple[str, ...]  # model spaces the method works in: "pixel", "latent"; () = needs no model
    paper: str = ""
    multi_sample: bool = False  # returns ``options.samples`` completions per image (several from one fit)
    inpainting_unet: bool = False  # runs on U-Nets trained for inpainting (mask + masked latents as input)

    @property
    def needs_model(self) -> bool:
        return bool(self.spaces)

    def check_model(self, model) -> None:
        """Refuse a model the method cannot run on (or the lack of one)."""
        if not self.needs_model:
            return
        if model is None:
            raise InpaintInputError(f"method {self.name!r} needs a diffusion model")
        if model.space not in self.spaces:
            raise InpaintInputError(f"method {self.name!r} works on {'/'.join(self.spaces)} models; "
                                    f"{model.name!r} is a {model.space} model")
        if model.is_inpainting_unet and not self.inpainting_unet:
            raise InpaintInputError(f"{model.name!r} is an inpainting U-Net ({model.unet.config.in_channels} input "
                                    f"channels): training-free methods need a plain denoiser; use sd-inpaint")
        if self.inpainting_unet and not model.is_inpainting_unet:
            raise InpaintInputError(f"method {self.name!r} needs an inpainting U-Net (Stable Diffusion's 9-channel); "
                                    f"{model.name!r} is a plain denoiser")


METHODS: dict[str, Method] = {}


def register(name: str, options: type, summary: str, spaces=("pixel", "latent"), paper: str = "",
             multi_sample: bool = False, inpainting_unet: bool = False):
    def deco(fn):
        METHODS[name] = Method(name, fn, options, summary, tuple(spaces), paper, multi_sample, inpainting_unet)
        return fn
    return deco


def get_method(name: str) -> Method:
    if name not in METHODS:
        raise InpaintInputError(f"unknown method {name!r}; available: {', '.join(sorted(METHODS))}")
    return METHODS[name]


def make_options(method: str, values: dict | None = None):
    """The method's options from a dict (strings are converted to the field's type), validated."""
    m = get_method(method)
    fields = {f.name for f in dataclasses.fields(m.options)}
    values = {k.replace("-", "_"): v for k, v in (values or {}).items() if v is not None}
    unknown = sorted(set(values) - fields)
    if unknown:
        raise InpaintInputError(f"unknown option(s) {', '.join(unknown)} for method {method!r}; "
                                f"it takes: {', '.join(sorted(fields)) or 'none'}")
    try:
        return m.options(**values)
    except InpaintInputError as e:
        raise InpaintInputError(f"method {method!r}: {e}") from None


def describe_options(method: str) -> list[dict]:
    """Each option of a method: name, type, default, limits and help."""
    return describe(get_method(method).options)
