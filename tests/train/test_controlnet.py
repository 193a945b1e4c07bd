"""train-controlnet on a tiny text-conditioned pixel model: it trains, resumes, and PILOT loads what it exports (that
a ControlNet with zero convolutions changes nothing is tests/methods/test_pilot.py's)."""
import json

import pytest
import torch

from inpaintkit.api import Inpainter
from inpaintkit.core.errors import InpaintInputError
from inpaintkit.models import load_model
from inpaintkit.testing.images import noise_pil, smooth_image, square_hole
from inpaintkit.train import TrainConfig, train
from inpaintkit.train.controlnet import ControlNetConfig, train_controlnet


@pytest.fixture
def text_model(tmp_path):
    for c, name in enumerate(("airplane", "cat")):
        (tmp_path / "labelled" / "train" / name).mkdir(parents=True)
        for i in range(3):
            noise_pil(16, 16, seed=10 * c + i).save(tmp_path / "labelled" / "train" / name / f"{i}.png")
    cfg = TrainConfig(data=str(tmp_path / "labelled"), out=str(tmp_path / "text"), resolution=16, crop=None,
                      architecture="tiny-text", steps=2, batch_size=4, checkpoint_every=2, device="cpu",
                      text_encoder={"name": "tiny"}, prompt_template="{name}")
    return train(cfg, progress=False), tmp_path / "labelled"


def test_a_controlnet_trains_and_pilot_uses_it(text_model, tmp_path):
    folder, data = text_model
    cfg = ControlNetConfig(model=str(folder), preset="cifar10-text", data=str(data), prompt_template="{name}",
                           out=str(tmp_path / "cn"), steps=3, batch_size=4, checkpoint_every=3, device="cpu")
    controlnet = train_controlnet(cfg, progress=False)
    assert json.loads((controlnet / "controlnet.json").read_text())["training_steps"] == 3
    model = load_model(folder)
    image, mask = smooth_image(16, seed=1), square_hole(16, size=0.5)
    inpainter = Inpainter(model, threads=None)
    common = dict(method="pilot", prompt="cat", guidance_scale=3.0, steps=4, seed=0, progress=False)
    plain = inpainter(image, mask, **common)
    controlled = inpainter(image, mask, controlnet=str(controlnet), **common)
    keep = ~mask.bool().expand_as(plain)
    assert torch.equal(controlled[keep], image.expand_as(plain)[keep])
    assert not torch.equal(controlled, plain)  # three steps away from the zero convolutions' no-op


def test_train_controlnet_refuses_an_unconditional_model(tmp_path):
    from inpaintkit.models.export import write_model_folder
    from inpaintkit.testing.tiny import tiny_pixel_model

    folder = write_model_folder(tmp_path / "pixel", tiny_pixel_model(16).unet, tiny_pixel_model(16).schedule.config)
    with pytest.raises(InpaintInputError, match="text-conditioned pixel model"):
        train_controlnet(ControlNetConfig(model=str(folder), out=str(tmp_path / "cn"), device="cpu"), progress=False)
