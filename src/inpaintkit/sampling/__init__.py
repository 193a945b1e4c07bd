"""What every inpainting method shares: the :class:`Task` with its forward operator, seeded noise, the
reverse step and the known-region blend, gradients through the denoiser, plain sampling."""
from .gradients import NORMALIZATIONS, normalize_gradient, x0_with_gradient
from .steps import blend_known, denoise_step, sample, timestep_pairs
from .task import Callback, StepInfo, Task, progress

__all__ = ["Task", "StepInfo", "Callback", "progress", "timestep_pairs", "denoise_step", "blend_known", "sample",
           "x0_with_gradient", "normalize_gradient", "NORMALIZATIONS"]
