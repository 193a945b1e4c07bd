"""inpaintkit: inpaint images with any pretrained diffusion model.

    >>> import inpaintkit
    >>> result = inpaintkit.inpaint("examples/face.png", "examples/mask.png", method="combine-image", seed=0)
"""
from .core.env import set_cpu_library_defaults

set_cpu_library_defaults()  # before torch loads OpenMP and MKL: sleeping idle threads, reproducible BLAS (core/env.py)

from .api import DEFAULT_METHOD, DEFAULT_MODEL, Inpainter, inpaint, outpaint  # noqa: E402
from .core.schedule import NoiseSchedule, ScheduleConfig  # noqa: E402
from .methods import METHODS, get_method  # noqa: E402
from .models import Conditioning, DiffusionModel, builtin_models, load_model  # noqa: E402

__version__ = "0.1.0"
__all__ = ["inpaint", "outpaint", "Inpainter", "load_model", "builtin_models", "DiffusionModel", "Conditioning",
           "NoiseSchedule", "ScheduleConfig", "METHODS", "get_method", "DEFAULT_MODEL", "DEFAULT_METHOD"]
