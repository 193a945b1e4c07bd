"""The bench's prompts for text-conditioned models (the image's class, another class, one for all) and the report's
prompt accuracy from a classifier the project trains."""
import json

import pytest
from PIL import Image

from inpaintkit.core.errors import InpaintInputError
from inpaintkit.evaluation.bench import run_bench
from inpaintkit.evaluation.config import BenchConfig, image_paths, image_prompts
from inpaintkit.testing.images import smooth_pil
from inpaintkit.testing.tiny import save_tiny_sd_folder

CLASSES = ("airplane", "cat", "truck")


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    """Class folders of 32 px images (stems unique across classes), in train/ and test/, and a tiny SD folder."""
    root = tmp_path_factory.mktemp("labelled")
    for split, n in (("train", 4), ("test", 2)):
        for c, name in enumerate(CLASSES):
            (root / split / name).mkdir(parents=True)
            for k in range(n):
                image = Image.new("RGB", (32, 32), [(200, 40, 40), (40, 200, 40), (40, 40, 200)][c])
                image.save(root / split / name / f"{name}-{k}.png")
    return root, save_tiny_sd_folder(root / "sd")


def config(root, model, **overrides) -> dict:
    return {**dict(methods=["copy", {"name": "combine-noisy", "options": {"steps": 2, "guidance_scale": 3.0}}],
                   images=[str(root / "test" / c) for c in CLASSES], masks=["box-center"], model=str(model),
                   device="cpu"), **overrides}


def test_true_class_other_class_and_one_prompt(labelled):
    root, model = labelled
    cfg = BenchConfig.from_dict(config(root, model, prompts="true-class"))
    paths = image_paths(cfg)
    true = image_prompts(cfg, paths)
    assert true[:2] == ["a photo of an airplane"] * 2 and true[-1] == "a photo of a truck"
    other = image_prompts(BenchConfig.from_dict(config(root, model, prompts="other-class")), paths)
    assert all(o != t for o, t in zip(other, true)) and set(other) <= set(true)
    assert image_prompts(BenchConfig.from_dict(config(root, model, prompts="a red door")), paths) == ["a red door"] * 6
    with pytest.raises(InpaintInputError, match="two or more class folders"):
        BenchConfig.from_dict(config(root, model, prompts="true-class", images=[str(root / "test" / "cat")])).check()


def test_prompts_reach_the_model_and_the_report_scores_them(labelled, tmp_path):
    """(The tiny text encoder reads 6 bytes of a prompt: the bare class names here.)"""
    from inpaintkit.evaluation.report import report
    from inpaintkit.train.classifier import ClassifierConfig, train_classifier

    root, model = labelled
    classifier = train_classifier(ClassifierConfig(data=str(root), out=str(tmp_path / "cls"), resolution=8, width=8,
                                                   steps=30, batch_size=6, lr=3e-3, warmup_steps=3,
                                                   checkpoint_every=30, device="cpu"), progress=False)
    runs = {}
    for prompts in ("true-class", "other-class"):
        out = tmp_path / prompts
        cfg = config(root, model, prompts=prompts, prompt_template="{name}", prompt_classifier=str(classifier))
        run_bench(BenchConfig.from_dict(cfg), out, progress=False)
        entries = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
        runs[prompts] = {(e["label"], e["gt"]): e for e in entries}
        report(out, tmp_path / f"report-{prompts}", against="COPY")
        result = json.loads((tmp_path / f"report-{prompts}" / "report.json").read_text())
        rows = {r["method"]: r for r in result["rows"]}
        paired = result["paired"][0]["prompt_accuracy"]  # combine-noisy's, image by image, against the ground truth
        difference = rows["combine-noisy"]["prompt_accuracy"] - rows["COPY"]["prompt_accuracy"]
        assert paired["mean"] == pytest.approx(difference)
        assert 0 <= rows["combine-noisy"]["prompt_accuracy"] <= 1
        if prompts == "true-class":  # the classifier knows the ground truth's class: COPY scores high
            assert rows["COPY"]["prompt_accuracy"] > 0.5
        assert "prompt acc." in (tmp_path / f"report-{prompts}" / "report.md").read_text()
        plot = Image.open(tmp_path / f"report-{prompts}" / "quality_vs_time.png")
        assert plot.size[0] == 3 * 5 * 120  # LPIPS, FID and prompt accuracy against time
    key = ("combine-noisy", "gt/airplane-0.png")
    assert runs["true-class"][key]["prompt"] == "airplane" != runs["other-class"][key]["prompt"]
    assert runs["true-class"][key]["sha256"] != runs["other-class"][key]["sha256"]  # the prompt reached the model
