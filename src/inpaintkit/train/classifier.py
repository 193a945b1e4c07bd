"""Training the prompt-accuracy classifier (:mod:`inpaintkit.nets.classifier`) on a class-labelled image set
(CIFAR-10's training split) with the one training loop: cross-entropy on randomly cropped (4 px reflected
padding) and mirrored images, AdamW, EMA of the weights; each checkpoint exports the EMA classifier with its
accuracy on the held-out split (``out/classifier``: ``model.safetensors`` + ``classifier.json``)."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from ..core.files import atomic_folder, save_tensors, write_json
from ..core.options import Validated, option
from ..data.images import load_labelled_images
from ..nets.classifier import Classifier
from .datasets import Batch
from .loop import LoopSettings, training_loop


@dataclass
class ClassifierConfig(Validated):
    data: str = option("data:cifar10/cifar10-images.tar.gz", help="class folders or a tar of <split>/<class>/<image>")
    out: str = option("", help="run folder")
    resolution: int = option(32, ge=8)
    width: int = option(32, ge=8)
    steps: int = option(3000, ge=1)
    batch_size: int = option(128, ge=1)
    lr: float = option(2e-3, gt=0, le=1)
    warmup_steps: int = option(100, ge=0)
    seed: int = option(0, ge=0)
    bf16: bool | None = option(None)
    device: str = option("auto")
    checkpoint_every: int = option(500, ge=1)


def augment(images: torch.Tensor, g: torch.Generator, pad: int = 4) -> torch.Tensor:
    """A random crop of each image padded by ``pad`` pixels (reflected), mirrored with probability 1/2."""
    n, _, h, w = images.shape
    padded = F.pad(images, (pad,) * 4, mode="reflect")
    dy, dx = torch.randint(0, 2 * pad + 1, (n,), generator=g), torch.randint(0, 2 * pad + 1, (n,), generator=g)
    flip = torch.rand(n, generator=g) < 0.5
    crops = torch.stack([padded[i, :, y:y + h, x:x + w] for i, (y, x) in enumerate(zip(dy.tolist(), dx.tolist()))])
    return torch.where(flip[:, None, None, None], crops.flip(-1), crops)


def cross_entropy(net: torch.nn.Module, batch: Batch, generator: torch.Generator) -> torch.Tensor:
    """The classifier's objective: cross-entropy of its logits for the batch's labels."""
    device = next(net.parameters()).device
    return F.cross_entropy(net(batch.x0.to(device)).float(), batch.labels.to(device))


@torch.no_grad()
def accuracy(net: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 500) -> float:
    """Top-1 accuracy on uint8 images."""
    device = next(net.parameters()).device
    correct = 0
    for start in range(0, len(images), batch_size):
        x = images[start:start + batch_size].to(device).float().div(127.5).sub(1)
        correct += int((net(x).argmax(1).cpu() == labels[start:start + batch_size]).sum())
    return correct / len(images)


def train_classifier(cfg: ClassifierConfig, progress: bool = True, max_minutes: float | None = None) -> Path:
    """Train (or resume) the classifier; returns its exported folder ``out/classifier``."""
    from ..core.env import pick_device

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    device = pick_device(cfg.device)
    images, labels, classes = load_labelled_images(cfg.data, cfg.resolution, "train", progress)
    test_images, test_labels, test_classes = load_labelled_images(cfg.data, cfg.resolution, "test", progress)
    if test_classes != classes:
        raise ValueError(f"{cfg.data}: the test split's classes {test_classes} differ from the training split's")
    torch.manual_seed(cfg.seed)
    net = Classifier(len(classes), cfg.width).to(device)
    write_json(out / "classifier_config.json", asdict(cfg))

    def draw(g: torch.Generator) -> Batch:
        idx = torch.randint(0, len(images), (cfg.batch_size,), generator=g)
        return Batch(augment(images[idx].float().div(127.5).sub(1), g), labels=labels[idx])

    def export(ema: torch.nn.Module, step: int) -> None:
        with atomic_folder(out / "classifier") as tmp:
            save_tensors(tmp / "model.safetensors", {k: v.detach().cpu().half() for k, v in ema.state_dict().items()})
            write_json(tmp / "classifier.json", {**ema.config, "class_names": classes, "training_steps": step,
                                                 "resolution": cfg.resolution, "data": cfg.data,
                                                 "test_accuracy": round(accuracy(ema.eval(), test_images,
                                                                                 test_labels), 4)})

    settings = LoopSettings(steps=cfg.steps, lr=cfg.lr, warmup_steps=cfg.warmup_steps, lr_schedule="cosine",
                            ema_decay=0.999, checkpoint_every=cfg.checkpoint_every, seed=cfg.seed,
                            bf16=device.type == "cuda" if cfg.bf16 is None else cfg.bf16, max_minutes=max_minutes)
    training_loop(out, net, cross_entropy, draw, settings, export, progress)
    return out / "classifier"
