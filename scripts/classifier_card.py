"""Measure the prompt-accuracy classifier (``inpaintkit train-classifier``) on the test split and write its card.

    python scripts/classifier_card.py CLASSIFIER_DIR [--data data:cifar10/cifar10-images.tar.gz]
    python scripts/classifier_card.py --quick      # a tiny classifier on two tiny classes in a temporary folder

Figures: top-1 accuracy on every test image, per class, and the two values that bound the bench's prompt
accuracy on real images: the mean probability of an image's own class (a perfect inpainting prompted with the
true class) and of one other class (prompted with another class; 1 / classes is chance). Writes
CLASSIFIER_DIR/README.md, CLASSIFIER_DIR/confusion.png and the figures into CLASSIFIER_DIR/classifier.json.
The training figures come from the run's classifier_config.json and log.jsonl (next to CLASSIFIER_DIR).
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from inpaintkit.core.files import atomic_path, write_json, write_text  # noqa: E402
from inpaintkit.data.images import load_labelled_images  # noqa: E402
from inpaintkit.evaluation.metrics import PromptAccuracy  # noqa: E402


def measure(metric: PromptAccuracy, data: str) -> tuple[dict, np.ndarray]:
    images, labels, classes = load_labelled_images(data, metric.resolution, "test", progress=False)
    if classes != metric.classes:
        raise SystemExit(f"{data}: classes {classes} differ from the classifier's {metric.classes}")
    probs = torch.cat([metric.probabilities(images[s:s + 500].float().div(127.5).sub(1))
                       for s in range(0, len(images), 500)])
    k = len(classes)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (labels.numpy(), probs.argmax(1).numpy()), 1)
    other = (labels + 1 + torch.arange(len(labels)) % (k - 1)) % k  # every other class in turn
    figures = {"test_images": len(labels), "top1": float(np.trace(confusion) / confusion.sum()),
               "per_class": {c: float(confusion[i, i] / confusion[i].sum()) for i, c in enumerate(classes)},
               "p_true_class": probs[torch.arange(len(labels)), labels].mean().item(),
               "p_other_class": probs[torch.arange(len(labels)), other].mean().item()}
    return figures, confusion


def confusion_figure(confusion: np.ndarray, classes: list[str], path: Path) -> None:
    rates = confusion / confusion.sum(1, keepdims=True)
    fig, ax = plt.subplots(figsize=(6, 5))
    im = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(classes)), classes, rotation=60, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true class")
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(j, i, f"{rates[i, j]:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if rates[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def training_figures(run: Path) -> dict:
    """The run's recipe (classifier_config.json) and its length in minutes (log.jsonl, every stage), where present."""
    cfg = json.loads((run / "classifier_config.json").read_text()) if (run / "classifier_config.json").exists() else {}
    log = run / "log.jsonl"
    seconds = [json.loads(line)["seconds"] for line in log.read_text().splitlines()] if log.exists() else []
    # each resumed stage counts its seconds from its own start: add up the last value of every stage
    total = sum(a for a, b in zip(seconds, seconds[1:] + [0.0]) if b < a)
    return {**cfg, "minutes": round(total / 60, 1) if seconds else None}


def card(folder: Path, info: dict, m: dict, train: dict, note: str = "") -> str:
    per_class = " / ".join(f"{c} {100 * a:.0f}" for c, a in m["per_class"].items())
    size = (folder / "model.safetensors").stat().st_size / 1e6
    return f"""---
license: other
license_name: cifar-10-research-use
tags: [image-classification, cifar10, inpaintkit, evaluation]
---
# cifar10-classifier

The inpaintkit project's stand-in for CLIP-T offline (no CLIP can be had here): a small image classifier whose
probability of the prompted class on an inpainted image is the bench's **prompt accuracy**
(`inpaintkit bench ... --prompts true-class --prompt-classifier cifar10-classifier`). Trained apart from the diffusion
models on real images; never the diffusion model itself, which would grade its own work.

| | |
| --- | --- |
| data | CIFAR-10 `train` split (50,000 images, 32x32), random 4 px shifts (reflection padding) and mirrors |
| licence | **research use**, inherited from the CIFAR-10 data set (Krizhevsky 2009) |
| architecture | pre-activation ResNet (He et al. 2016), 3 stages of {info['blocks']} blocks, widths {info['width']} / {2 * info['width']} / {4 * info['width']}, GroupNorm (so the EMA of the weights is the whole model), {sum(int(np.prod(p.shape)) for p in PromptAccuracy(folder).net.parameters()):,} parameters |
| training | {info['training_steps']} steps, batch {train.get('batch_size')}, AdamW lr {train.get('lr')} (warm-up {train.get('warmup_steps')} steps, then cosine to 10 %), EMA 0.999, cross-entropy, {'bf16 autocast, ' if train.get('bf16') else ''}2 CPU cores{f", {train['minutes']} min" if train.get('minutes') else ''}{f"; {note}" if note else ''} |
| weights | EMA weights, fp16 safetensors ({size:.1f} MB) |
| top-1 accuracy | **{100 * m['top1']:.2f} %** on all {m['test_images']:,} CIFAR-10 test images |
| per class (%) | {per_class} |
| prompt accuracy of real images | {m['p_true_class']:.3f} mean probability of the image's own class; {m['p_other_class']:.3f} of another class (chance: {1 / len(m['per_class']):.2f}) |

![confusion matrix](confusion.png)

*Rows: true class of the test image; columns: the classifier's top-1 answer; each row sums to 1.*

Reproduce:

    inpaintkit train-classifier --out runs/cifar10-classifier --steps {info['training_steps']} --batch-size {train.get('batch_size')} --lr {train.get('lr')} --width {info['width']}{' --bf16' if train.get('bf16') else ''}
    python scripts/classifier_card.py runs/cifar10-classifier/classifier
"""


def quick_classifier() -> tuple[Path, str]:
    """A classifier trained for two steps on two tiny classes."""
    from inpaintkit.testing.images import labelled_noise_folders
    from inpaintkit.train.classifier import ClassifierConfig, train_classifier

    root = Path(tempfile.mkdtemp(prefix="classifier-card-"))
    labelled_noise_folders(root / "data", 8)
    cfg = ClassifierConfig(data=str(root / "data"), out=str(root / "run"), resolution=8, width=8, steps=2,
                           batch_size=4, checkpoint_every=2, device="cpu")
    return train_classifier(cfg, progress=False), str(root / "data")


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("classifier", nargs="?", type=Path)
    p.add_argument("--data", default=None, help="the labelled set [the one the classifier was trained on]")
    p.add_argument("--note", default="", help="how the run went, for the card's training row (a resume, ...)")
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        args.classifier, args.data = quick_classifier()
    elif args.classifier is None:
        p.error("give the classifier folder (or --quick)")
    metric = PromptAccuracy(args.classifier)
    figures, confusion = measure(metric, args.data or metric.info["data"])
    confusion_figure(confusion, metric.classes, args.classifier / "confusion.png")
    info = {**metric.info, "card": figures}
    write_json(args.classifier / "classifier.json", info)
    write_text(args.classifier / "README.md", card(args.classifier, info, figures,
                                                   training_figures(args.classifier.parent), args.note))
    print(json.dumps(figures, indent=1))
    return figures


if __name__ == "__main__":
    main()
