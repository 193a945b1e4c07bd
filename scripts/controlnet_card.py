"""Measure a Canny ControlNet of a text-conditioned pixel model (``inpaintkit train-controlnet``) and write its card.

    python scripts/controlnet_card.py CONTROLNET_DIR [--model cifar10-text] [--n 1000] [--samples 200] [--steps 25]
    python scripts/controlnet_card.py --quick      # a tiny model and ControlNet in a temporary folder

Two figures, each with and without the ControlNet on the same images, prompts, timesteps and noise:

- the denoising loss (the training objective, |eps - eps_hat|^2) on the first ``--n`` test images, class-balanced,
  prompted with their class: how much of the noise the edges explain;
- edge agreement of samples: for ``--samples`` test images, DDIM samples (``--steps``, guidance 3) from the class
  prompt, and the F1 score between the Canny edges of each sample and the control map (an edge counts as found
  within 1 pixel). Without the ControlNet this is the agreement of an unconstrained sample of the class, by chance.

Writes CONTROLNET_DIR/README.md and CONTROLNET_DIR/samples.png (one row per class: a test image's edges,
samples with the ControlNet, samples without), and the figures into CONTROLNET_DIR/controlnet.json.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F

from inpaintkit.core.files import save_image, write_json, write_text
from inpaintkit.data.images import balanced_order, class_prompt, load_labelled_images
from inpaintkit.evaluation.grid import image_grid
from inpaintkit.models import DiffusionModel, load_model
from inpaintkit.models.controlnet import canny_map, load_controlnet, residuals
from inpaintkit.sampling.steps import timestep_pairs

CIFAR10 = "data:cifar10/cifar10-images.tar.gz"
GUIDANCE = 3.0
GRID_SAMPLES = 3  # per row, with and without the ControlNet


@torch.no_grad()
def denoising_loss(model: DiffusionModel, controlnet, x0: torch.Tensor, embeds: torch.Tensor, seed: int = 0,
                   batch: int = 100) -> float:
    """Mean |target - U(x_t, t)|^2 over ``x0`` at seeded t and noise, with the ControlNet's residuals if given."""
    g = torch.Generator().manual_seed(seed)
    t = torch.randint(0, model.schedule.num_train_timesteps, (len(x0),), generator=g)
    noise = torch.randn(x0.shape, generator=g)
    total = 0.0
    for s in range(0, len(x0), batch):
        x, e, ts, c = x0[s:s + batch], noise[s:s + batch], t[s:s + batch], embeds[s:s + batch]
        x_t = model.schedule.add_noise(x, e, ts)
        extra = residuals(controlnet, x_t, ts, c, canny_map(x)) if controlnet is not None else {}
        out = model(x_t, ts, c, **extra)
        total += (out.float() - model.schedule.training_target(x, e, ts)).square().mean((1, 2, 3)).sum().item()
    return total / len(x0)


@torch.no_grad()
def draw(model: DiffusionModel, controlnet, control: torch.Tensor, embeds: torch.Tensor, uncond: torch.Tensor,
         steps: int, seed: int) -> torch.Tensor:
    """DDIM samples (eta 0) under classifier-free guidance, the ControlNet's residuals in both branches."""
    schedule = model.schedule
    x = torch.randn(control.shape, generator=torch.Generator().manual_seed(seed))
    prompt = torch.cat([uncond, embeds])
    for t, t_prev in timestep_pairs(schedule, steps):
        pairs = torch.cat([x, x])
        extra = residuals(controlnet, pairs, t, prompt, torch.cat([control, control])) if controlnet else {}
        out_u, out_c = model(pairs, t, prompt, **extra).chunk(2)
        x0, _ = schedule.to_x0_eps(out_u + GUIDANCE * (out_c - out_u), x, t)
        x0 = schedule.clip(x0)
        x = schedule.ddim_step(x, x0, schedule.eps_from_x0(x0, x, t), t, t_prev, 0.0, None)
    return x


def edge_f1(edges: torch.Tensor, reference: torch.Tensor, tolerance: int = 1) -> torch.Tensor:
    """F1 of binary edge maps (B, H, W) against reference maps, an edge matching within ``tolerance`` pixels."""
    def near(e):
        return F.max_pool2d(e.float()[:, None], 2 * tolerance + 1, 1, tolerance)[:, 0] > 0

    precision = (edges & near(reference)).sum((1, 2)) / edges.sum((1, 2)).clamp(min=1)
    recall = (reference & near(edges)).sum((1, 2)) / reference.sum((1, 2)).clamp(min=1)
    return 2 * precision * recall / (precision + recall).clamp(min=1e-8)


def measure(model: DiffusionModel, controlnet, data: str, n: int, samples: int, steps: int, batch: int = 100):
    images, labels, classes = load_labelled_images(data, model.resolution, "test", progress=False)
    prompts = [class_prompt(c) for c in classes]
    embeds_of = model.condition(prompts, GUIDANCE)
    figures = {}
    idx = torch.tensor(balanced_order(labels.tolist(), n))
    figures["n"] = len(idx)
    x0 = images[idx].float().div(127.5).sub(1)
    embeds = embeds_of.embeds[labels[idx]]
    figures["loss_without"] = denoising_loss(model, None, x0, embeds)
    figures["loss_with"] = denoising_loss(model, controlnet, x0, embeds)
    f1 = {"with": [], "without": []}
    idx = torch.tensor(balanced_order(labels.tolist(), samples))
    for s in range(0, len(idx), batch):
        part = idx[s:s + batch]
        x0 = images[part].float().div(127.5).sub(1)
        control = canny_map(x0)
        for key, net in (("with", controlnet), ("without", None)):
            out = draw(model, net, control, embeds_of.embeds[labels[part]], embeds_of.uncond_embeds[labels[part]],
                       steps, seed=s)
            f1[key].append(edge_f1(canny_map(out)[:, 0] > 0.5, control[:, 0] > 0.5))
    figures["edge_f1_with"] = torch.cat(f1["with"]).mean().item()
    figures["edge_f1_without"] = torch.cat(f1["without"]).mean().item()
    figures.update(samples=len(idx), steps=steps, guidance=GUIDANCE)

    rows = []
    for c in range(len(classes)):  # the first test image of each class
        i = int(torch.nonzero(labels == c)[0])
        x0 = images[i:i + 1].float().div(127.5).sub(1)
        control = canny_map(x0)
        e, u = embeds_of.embeds[c:c + 1], embeds_of.uncond_embeds[c:c + 1]
        with_cn = [draw(model, controlnet, control, e, u, steps, seed=k) for k in range(GRID_SAMPLES)]
        without = [draw(model, None, control, e, u, steps, seed=k) for k in range(GRID_SAMPLES)]
        rows.append([control[0] * 2 - 1, *(x[0] for x in with_cn + without)])  # no test image: not ours to ship
    labels = ["edges", *["with"] * GRID_SAMPLES, *["without"] * GRID_SAMPLES]
    grid = image_grid(rows, col_labels=labels, row_labels=classes, cell=64)
    return figures, grid, classes


def card(folder: Path, info: dict, m: dict, classes: list[str], model_name: str) -> str:
    steps = info.get("training_steps")
    return f"""---
license: other
license_name: cifar-10-research-use
tags: [controlnet, canny, cifar10, inpaintkit]
---
# controlnet-canny (for {model_name})

A ControlNet (Zhang et al. 2023) on Canny edges for the built-in text-conditioned model `{model_name}`, trained by
the inpaintkit project so that PILOT's spatial control (`--method pilot --set controlnet=canny`) is real offline.
A copy of the base U-Net's encoder with zero convolutions on its outputs (`ControlNetModel.from_unet`), its
conditioning embedding at the sample's resolution (32x32 edges, no downsampling), the base model frozen.

| | |
| --- | --- |
| data | CIFAR-10 `train` split (50,000 images, 32x32), random horizontal flips; Canny edges (OpenCV, thresholds {info.get('canny_low')} / {info.get('canny_high')}) of each training image as the control map; captions "a photo of a/an <class>", 10 % dropped (as the base model was trained) |
| licence | **research use**, inherited from the CIFAR-10 data set (Krizhevsky 2009) |
| objective | the base model's own denoising loss (eps-prediction) with the ControlNet's residuals added; only the ControlNet learns |
| training | {steps} steps, batch {info.get('batch_size')}, AdamW lr {info.get('lr')} (constant after a 100-step warm-up), EMA 0.999, gradient clipping 1.0, bf16 autocast, 2 CPU cores |
| weights | EMA weights, fp16 safetensors ({sum(f.stat().st_size for f in folder.glob('*.safetensors')) / 1e6:.1f} MB) |
| denoising loss, {m['n']} test images | **{m['loss_with']:.4f}** with the ControlNet, {m['loss_without']:.4f} without (the same images, prompts, timesteps and noise): {100 * (1 - m['loss_with'] / m['loss_without']):.1f} % lower |
| edge F1 of samples | **{m['edge_f1_with']:.3f}** with the ControlNet, {m['edge_f1_without']:.3f} without: Canny edges of DDIM samples ({m['steps']} steps, guidance {m['guidance']:g}, class prompt) against the control map of {m['samples']} test images, within 1 pixel |

![samples](samples.png)

*One row per class ({', '.join(classes)}): the Canny edges of a CIFAR-10 test image (the control map), {GRID_SAMPLES}
samples with the ControlNet, {GRID_SAMPLES} samples without it (the same seeds), DDIM {m['steps']} steps at
guidance {m['guidance']:g}, prompted with the class.*

Reproduce:

    inpaintkit train-controlnet --model {model_name} --out runs/cifar10-canny --steps {steps} --batch-size {info.get('batch_size')} --lr {info.get('lr')} --bf16
    python scripts/controlnet_card.py runs/cifar10-canny/controlnet
"""


def quick_setup() -> tuple[DiffusionModel, Path, str]:
    """A tiny text-conditioned pixel model trained for two steps on two tiny classes, and a ControlNet of it with
    perturbed zero convolutions."""
    from diffusers import ControlNetModel

    import inpaintkit.testing.tiny  # noqa: F401  (registers the "tiny" text encoder)
    from inpaintkit.testing.images import labelled_noise_folders
    from inpaintkit.train import TrainConfig, train

    root = Path(tempfile.mkdtemp(prefix="controlnet-card-"))
    labelled_noise_folders(root / "data", 16, per_split={"train": 2, "test": 2})
    model = load_model(train(TrainConfig(data=str(root / "data" / "train"), out=str(root / "text"), resolution=16,
                                         crop=None, architecture="tiny-text", steps=2, batch_size=4,
                                         checkpoint_every=2, device="cpu", text_encoder={"name": "tiny"},
                                         prompt_template="{name}"), progress=False))
    torch.manual_seed(0)
    net = ControlNetModel.from_unet(model.unet, conditioning_channels=3, conditioning_embedding_out_channels=(16,))
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.01 * torch.randn_like(p))
    net.save_pretrained(root / "controlnet")
    write_json(root / "controlnet" / "controlnet.json", {"training_steps": 0, "batch_size": 4, "lr": 1e-4,
                                                         "canny_low": 100, "canny_high": 200})
    return model, root / "controlnet", str(root / "data")


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("controlnet", nargs="?", type=Path)
    p.add_argument("--model", default="cifar10-text")
    p.add_argument("--data", default=CIFAR10)
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--samples", type=int, default=200)
    p.add_argument("--steps", type=int, default=25)
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        model, args.controlnet, args.data = quick_setup()
        args.n, args.samples, args.steps = 4, 4, 2
    elif args.controlnet is None:
        p.error("give the ControlNet folder (or --quick)")
    else:
        model = load_model(args.model)
    controlnet = load_controlnet(args.controlnet, model.device, model.dtype)
    figures, grid, classes = measure(model, controlnet, args.data, args.n, args.samples, args.steps)
    info = json.loads((args.controlnet / "controlnet.json").read_text())
    save_image(grid, args.controlnet / "samples.png")
    write_json(args.controlnet / "controlnet.json", {**info, "card": figures})
    write_text(args.controlnet / "README.md", card(args.controlnet, info, figures, classes, args.model))
    print(json.dumps(figures, indent=1))
    return figures


if __name__ == "__main__":
    main()
