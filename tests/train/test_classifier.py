"""The prompt-accuracy classifier: its augmentation, its training on a separable toy set, and the metric."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from inpaintkit.evaluation.metrics import PromptAccuracy
from inpaintkit.train.classifier import ClassifierConfig, augment, train_classifier


def test_augment_crops_within_the_reflected_padding_and_mirrors():
    images = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8)
    out = augment(images, torch.Generator().manual_seed(0), pad=2)
    assert out.shape == images.shape
    assert not torch.equal(out, images)  # shifted or mirrored
    assert torch.equal(augment(images, torch.Generator().manual_seed(0), pad=0).sort(-1).values,
                       images.sort(-1).values)  # pad 0: only mirroring


@pytest.fixture
def toy_set(tmp_path):
    """Two classes of 8 px images anyone can tell apart: reddish and bluish noise; train/ and test/."""
    rng = np.random.default_rng(0)
    for split, n in (("train", 16), ("test", 8)):
        for c, name in enumerate(("red car", "blue")):
            (tmp_path / split / name).mkdir(parents=True)
            for k in range(n):
                pixels = rng.integers(0, 90, (8, 8, 3))
                pixels[..., 0 if c == 0 else 2] += 160
                Image.fromarray(pixels.astype(np.uint8)).save(tmp_path / split / name / f"{k}.png")
    return tmp_path


def test_the_classifier_learns_and_the_metric_reads_the_prompted_class(toy_set, tmp_path):
    folder = train_classifier(ClassifierConfig(data=str(toy_set), out=str(tmp_path / "run"), resolution=8, width=8,
                                               steps=60, batch_size=8, lr=3e-3, warmup_steps=5, checkpoint_every=60,
                                               device="cpu"), progress=False)
    info = json.loads((folder / "classifier.json").read_text())
    assert info["class_names"] == ["blue", "red car"] and info["test_accuracy"] >= 0.9
    metric = PromptAccuracy(folder)
    red = torch.zeros(1, 3, 16, 16)  # another size: resized to the classifier's
    red[:, 0] = 0.8
    probs = metric(red.repeat(2, 1, 1, 1), ["a photo of a red car", "a photo of a blue"])
    assert probs[0] > 0.5 > probs[1] and np.isclose(probs.sum(), 1, atol=1e-4)
    assert metric.class_of("a red car, a blue sky") == 1  # the longest class name wins
    with pytest.raises(ValueError, match="names none"):
        metric.class_of("a photo of a horse")
