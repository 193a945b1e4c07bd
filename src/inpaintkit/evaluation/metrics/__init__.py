"""Metrics for inpainting: LPIPS, FID/KID on Inception features, PSNR/SSIM (whole image and hole),
Color Distance, known-region change, and prompt accuracy (a classifier the project trains)."""
from ...nets.lpips import LPIPS  # the network is defined a layer down: methods use it as a loss
from .fid import InceptionFeatures, frechet_distance, kernel_inception_distance
from .pixel import color_distance, known_region_change, psnr, ssim, ssim_map
from .prompt import PromptAccuracy

__all__ = ["InceptionFeatures", "frechet_distance", "kernel_inception_distance", "LPIPS", "psnr", "ssim",
           "ssim_map", "color_distance", "known_region_change", "PromptAccuracy"]
