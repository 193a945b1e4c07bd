"""scripts/model_card.py on a tiny text-conditioned pixel model (the shape of the built-in cifar10-text), with a
stand-in featuriser in place of the Inception network; and the cached FID statistics it relies on."""
import functools
import importlib.util
import json
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from inpaintkit.core.schedule import ScheduleConfig
from inpaintkit.evaluation.metrics.fid import FeatureStats, frechet_distance
from inpaintkit.models.export import write_model_folder
from inpaintkit.nets.unets import build_unet
from inpaintkit.testing.images import noise_pil
from inpaintkit.testing.tiny import TEXT_DIM
from inpaintkit.train import TrainConfig

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "model_card.py"
spec = importlib.util.spec_from_file_location("model_card", SCRIPT)
model_card = sys.modules["model_card"] = importlib.util.module_from_spec(spec)  # dataclasses need it
spec.loader.exec_module(model_card)

CLASSES = ["airplane", "cat"]


class CountingFeatures:
    """Per-channel means and standard deviations as 'features'; counts the images it sees."""

    def __init__(self):
        self.images = 0

    def __call__(self, images: torch.Tensor) -> np.ndarray:
        self.images += len(images)
        x = images.float().flatten(2)
        return torch.cat([x.mean(-1), x.std(-1)], 1).double().numpy()


@pytest.mark.parametrize("n", [5, 40])  # fewer / more features than dimensions: both covariance factors
def test_frechet_distance_of_stored_statistics_equals_that_of_the_features(n):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(n, 12)), rng.normal(0.5, 2.0, size=(30, 12))
    assert frechet_distance(FeatureStats.of(a), b) == pytest.approx(frechet_distance(a, b), rel=1e-9)
    assert frechet_distance(a, b) > 1.0


def test_balanced_first_takes_classes_in_turn():
    labels = [0, 0, 0, 1, 1, 2]
    assert model_card.balanced_first(labels, 4) == [0, 1, 3, 5]
    assert model_card.balanced_first([0] * 5, 3) == [0, 1, 2]
    assert model_card.balanced_first(labels, None) == list(range(6))


@pytest.fixture
def text_run(tmp_path):
    """A run folder like runs/cifar10-text (named otherwise: no preset): model/ (an 8 px tiny text U-Net) and
    train_config.json; and its data."""
    data = tmp_path / "cifar"
    for split, per_class in (("train", 4), ("test", 3)):
        for c in CLASSES:
            (data / split / c).mkdir(parents=True)
            for k in range(per_class):
                noise_pil(8, 8, seed=per_class * k + len(c)).save(data / split / c / f"{k}.png")
    run = tmp_path / "runs" / "tiny-cifar"
    torch.manual_seed(0)
    unet = build_unet("tiny-text", 8, 3, cross_attention_dim=TEXT_DIM)
    prompts = [f"a photo of {'an' if c[0] in 'aeiou' else 'a'} {c}" for c in CLASSES]
    write_model_folder(run / "model", unet, ScheduleConfig(), meta={
        "training_steps": 3, "resolution": 8, "architecture": "tiny-text", "batch_size": 2,
        "text_encoder": {"name": "tiny"}, "prompts": prompts, "cond_dropout": 0.1})
    cfg = TrainConfig(data=str(data), out=str(run), resolution=8, crop=None, architecture="tiny-text", steps=3,
                      batch_size=2, text_encoder={"name": "tiny"})
    (run / "train_config.json").write_text(json.dumps(asdict(cfg)))
    return run / "model", data


def test_text_model_card_and_cached_reference_statistics(text_run, tmp_path, monkeypatch):
    model_dir, data = text_run
    monkeypatch.setattr(model_card, "SPEED_STEPS", 2)  # the timing runs, shortened
    monkeypatch.setattr(model_card, "model_speed", functools.partial(model_card.model_speed, calls=2, images=1))
    argv = [str(model_dir), "--samples", "4", "--steps", "2", "--grid-columns", "2", "--data", str(data),
            "--reference-limit", "4", "--stats-cache", str(tmp_path / "fid")]
    first = CountingFeatures()
    info = model_card.main(argv, inception=first)
    # 4 samples + 4 of the 6 test images (2 per class) + 4 of the 8 training images for the floor
    assert first.images == 12

    written = json.loads((model_dir / "inpaintkit.json").read_text())
    assert written == info
    assert info["conditioning"] == "text (cross-attention, CFG)" and info["space"] == "pixel"
    assert info["fid_samples"] == 4 and info["fid_reference"].startswith("4 of the 6 CIFAR-10 test images")
    assert info["fid"] > 0 and info["fid_floor"] > 0 and info["s_per_image_50_steps_cpu2"] > 0
    assert info["parameters"] == sum(p.numel() for p in build_unet("tiny-text", 8, 3, TEXT_DIM).parameters())
    assert "8 images" in info["data"]
    for file in ("samples_g1.png", "samples_g3.png"):
        grid = Image.open(model_dir / file)
        assert grid.height == 2 + len(CLASSES) * (64 + 2)  # one 64 px row per class, 2 px padding
    readme = (model_dir / "README.md").read_text()
    assert "CIFAR-10" in readme and "guidance 3" in readme and "| FID | **" in readme
    assert "--data" in readme and "--steps 3" in readme  # not a preset name: the reproduce line spells it out

    again = CountingFeatures()
    rerun = model_card.main(argv, inception=again)
    assert again.images == 4  # only the samples: the reference and floor statistics come from the cache
    assert rerun["fid"] == pytest.approx(info["fid"], rel=1e-4)
    assert rerun["fid_floor"] == pytest.approx(info["fid_floor"], rel=1e-4)


def test_sampler_comparison_measures_each_sampler_and_writes_nothing(text_run, tmp_path):
    model_dir, data = text_run
    before = sorted(p.name for p in model_dir.iterdir())
    counting = CountingFeatures()
    rows = model_card.main([str(model_dir), "--compare", "ddpm:2,ddim:2,ddim:3", "--samples", "4", "--data",
                            str(data), "--reference-limit", "4", "--stats-cache", str(tmp_path / "fid")],
                           inception=counting)
    assert list(rows) == ["ddpm:2", "ddim:2", "ddim:3"]
    assert counting.images == 4 + 3 * 4  # the reference once, then 4 samples per sampler
    assert all(row["fid"] > 0 for row in rows.values())
    assert rows["ddpm:2"]["fid"] != rows["ddim:2"]["fid"]  # ancestral noise against none: other samples
    assert sorted(p.name for p in model_dir.iterdir()) == before  # no card, no grid
    for wrong in ("euler:10", "ddpm25"):
        with pytest.raises(SystemExit):
            model_card.parse_args([str(model_dir), "--compare", wrong])
