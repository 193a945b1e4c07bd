"""inpaintkit: inpaint images with any pretrained diffusion model.

    >>> import inpaintkit
    >>> result = inpaintkit.inpaint("face.png", "mask.png", method="combine-image", seed=0)
"""
from .api import DEFAULT_METHOD, DEFAULT_MODEL, Inpainter, inpaint
from .methods import METHODS, get_method
from .models import Conditioning, DiffusionModel, builtin_models, load_model
from .schedule import NoiseSchedule, ScheduleConfig

__version__ = "0.1.0"
__all__ = ["inpaint", "Inpainter", "load_model", "builtin_models", "DiffusionModel", "Conditioning",
           "NoiseSchedule", "ScheduleConfig", "METHODS", "get_method", "DEFAULT_MODEL", "DEFAULT_METHOD"]
