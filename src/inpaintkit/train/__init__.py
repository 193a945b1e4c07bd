"""Training: one loop (:mod:`.loop`), objectives (:mod:`.objectives`), data (:mod:`.datasets`) and the
recipes of the built-in models (:mod:`.config`). Inference never imports this package."""
from .config import TRAIN_PRESETS, TrainConfig, preset_config
from .loop import LoopSettings, train, training_loop

__all__ = ["TrainConfig", "TRAIN_PRESETS", "preset_config", "train", "training_loop", "LoopSettings"]
