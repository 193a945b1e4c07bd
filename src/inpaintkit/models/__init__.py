"""Pretrained denoisers behind one interface (:class:`DiffusionModel`), their autoencoders and prompt
encoders, and loading them from built-in names, diffusers folders and hub ids."""
from .autoencoder import Autoencoder
from .catalog import builtin_models, model_info, model_summary
from .denoiser import Conditioning, DiffusionModel, Prediction
from .loading import load_folder, load_model, load_vae, load_vae_reference

__all__ = ["Autoencoder", "Conditioning", "DiffusionModel", "Prediction", "builtin_models", "model_info",
           "model_summary", "load_folder", "load_model", "load_vae", "load_vae_reference"]
