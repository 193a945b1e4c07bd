"""The inpainting methods, one module per paper, and their registry (:mod:`.registry`).

Importing this package registers every method. A method module imports only the shared layers below it
(:mod:`inpaintkit.sampling`, :mod:`inpaintkit.models`, :mod:`inpaintkit.core`), never another method.
"""
from . import (blended_latent, combine_image, combine_noisy, dps, gradpaint, latentpaint, opencv, pilot,  # noqa: F401
               repaint, sd_inpaint, seamless, vipaint)
from .registry import (METHODS, DiffusionOptions, GradientOptions, Method, Options, describe_options, get_method,
                       make_options, register)

__all__ = ["METHODS", "Method", "Options", "DiffusionOptions", "GradientOptions", "register", "get_method",
           "make_options", "describe_options"]
