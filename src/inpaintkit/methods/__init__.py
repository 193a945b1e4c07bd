"""The registry of inpainting methods: name -> function, typed options and a one-line summary.

``inpaintkit methods`` lists them. Each method lives in a module of its own and registers itself
with :func:`register`; options are a dataclass whose fields (with defaults) are the method's knobs.
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Callable

from ..problem import InpaintInputError


@dataclass
class Options:
    """Options every method takes."""


@dataclass
class DiffusionOptions(Options):
    steps: int = 50
    eta: float = 1.0  # 1: DDPM ancestral steps, 0: deterministic DDIM
    guidance_scale: float = 1.0  # classifier-free guidance, for conditional models


@dataclass(frozen=True)
class Method:
    name: str
    fn: Callable
    options: type
    summary: str
    spaces: tuple[str, ...]  # model spaces the method works in: "pixel", "latent"; () = needs no model
    paper: str = ""

    @property
    def needs_model(self) -> bool:
        return bool(self.spaces)


METHODS: dict[str, Method] = {}


def register(name: str, options: type, summary: str, spaces=("pixel", "latent"), paper: str = ""):
    def deco(fn):
        METHODS[name] = Method(name, fn, options, summary, tuple(spaces), paper)
        return fn
    return deco


def get_method(name: str) -> Method:
    if name not in METHODS:
        raise InpaintInputError(f"unknown method {name!r}; available: {', '.join(sorted(METHODS))}")
    return METHODS[name]


def _convert(value, typ, key: str):
    if not isinstance(value, str):
        return value
    try:
        if typ is bool:
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        return typ(value)
    except ValueError:
        raise InpaintInputError(f"option {key}={value!r} is not a valid {typ.__name__}") from None


def make_options(method: str, values: dict | None = None):
    """The method's options dataclass from a dict (strings are converted to the field's type)."""
    m = get_method(method)
    fields = {f.name: f for f in dataclasses.fields(m.options)}
    hints = typing.get_type_hints(m.options)
    values = {k.replace("-", "_"): v for k, v in (values or {}).items() if v is not None}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise InpaintInputError(f"unknown option(s) {', '.join(unknown)} for method {method!r}; "
                                f"it takes: {', '.join(fields) or 'none'}")
    return m.options(**{k: _convert(v, hints[k], k) for k, v in values.items()})


def describe_options(method: str) -> list[tuple[str, str, object]]:
    """(name, type, default) for each option of a method."""
    m = get_method(method)
    hints = typing.get_type_hints(m.options)
    return [(f.name, getattr(hints[f.name], "__name__", str(hints[f.name])), f.default)
            for f in dataclasses.fields(m.options)]


# Importing the method modules registers them.
from . import combine_image, combine_noisy  # noqa: E402,F401
from . import blended_latent, opencv, repaint  # noqa: E402,F401
from . import dps, gradpaint  # noqa: E402,F401
