"""``inpaintkit train``: the DDPM trainer of the built-in models, on their recipes or a folder of images; and the
trainers of the methods' parts (EP modules, Seamless Borders' decoder and denoiser, the ControlNet, the
prompt-accuracy classifier)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated, Optional

import typer

from ...core.errors import InpaintInputError
from .common import DeviceOption, ThreadsOption, app, start, user_errors

Bf16Option = Annotated[Optional[bool], typer.Option("--bf16/--no-bf16", help="bf16 autocast (CPUs with "
                                                "AVX512-BF16, CUDA).  [default: on CUDA only]", show_default=False)]
MaxMinutesOption = Annotated[Optional[float], typer.Option(
    min=0, help="Stop after this many minutes, with a checkpoint (run again to go on).", show_default=False)]


@app.command("train")
def train_command(
    out: Annotated[Path, typer.Option(help="Run folder: checkpoint, log and the exported model in out/model; "
                                      "an existing run resumes from its checkpoint.", show_default=False)],
    preset: Annotated[Optional[str], typer.Option(
        help="A built-in model's recipe (faces-32, faces-64, faces-256-latent, cifar10-text; see "
             "docs/training.md); the options below override its settings.", show_default=False)] = None,
    data: Annotated[Optional[Path], typer.Option(
        help="Folder of training images; for text-conditioned presets, class folders or a tar archive of "
             "<split>/<class>/<image> [default: the preset's].", show_default=False)] = None,
    resolution: Annotated[Optional[int], typer.Option(min=8, help="Image side in pixels.  [default: 32]",
                                                      show_default=False)] = None,
    crop: Annotated[Optional[int], typer.Option(
        min=0, help="Central square crop before resizing (0: the largest).  [default: 140]",
        show_default=False)] = None,
    architecture: Annotated[Optional[str], typer.Option(
        help="U-Net preset (inpaintkit.nets.unets).  [default: face32]", show_default=False)] = None,
    steps: Annotated[Optional[int], typer.Option(min=1, help="Total training steps.  [default: 10000]",
                                                 show_default=False)] = None,
    batch_size: Annotated[Optional[int], typer.Option(min=1, help="[default: 32]", show_default=False)] = None,
    lr: Annotated[Optional[float], typer.Option(help="Peak learning rate.  [default: 0.0003]",
                                                show_default=False)] = None,
    lr_schedule: Annotated[Optional[str], typer.Option(help="constant or cosine (after the warm-up).  "
                                                       "[default: constant]", show_default=False)] = None,
    loss_weighting: Annotated[Optional[str], typer.Option(help="none or min-snr (min-SNR-gamma, gamma 5).  "
                                                          "[default: the preset's]", show_default=False)] = None,
    prediction_type: Annotated[Optional[str], typer.Option(
        help="What the network predicts: epsilon, v_prediction or sample; with --init-from, fine-tunes a model "
             "into another parameterisation.  [default: the preset's]", show_default=False)] = None,
    hflip: Annotated[Optional[bool], typer.Option(
        "--hflip/--no-hflip", help="Mirror half of the samples (latent models: encode the mirrored images "
        "too, twice the encoding).  [default: on]", show_default=False)] = None,
    max_images: Annotated[Optional[int], typer.Option(
        min=1, help="Train on the first N images of an image folder (sorted by name) only.  [default: all]",
        show_default=False)] = None,
    init_from: Annotated[Optional[str], typer.Option(
        help="Start from this model's U-Net weights (a model folder or a built-in name) and train it on; the "
             "optimiser and the rate schedule start afresh.", show_default=False)] = None,
    checkpoint_every: Annotated[int, typer.Option(min=1, help="Steps between checkpoints and model exports.")]
    = 500,
    seed: Annotated[int, typer.Option(min=0)] = 0,
    cache_dir: Annotated[Optional[Path], typer.Option(
        help="Where the latent / prompt-embedding caches are kept [default: OUT].", show_default=False)] = None,
    max_minutes: MaxMinutesOption = None,
    device: DeviceOption = "auto",
    threads: ThreadsOption = "auto",
    bf16: Annotated[Optional[bool], typer.Option(
        "--bf16/--no-bf16", help="bf16 autocast of the U-Net (weights, optimiser and loss stay fp32); about "
        "1.9x faster on CPUs with AVX512-BF16 or AMX.  [default: on CUDA only]", show_default=False)] = None,
):
    """Train a diffusion model: unconditional on a folder of images, or a built-in model's recipe.

    Presets also train latent models (on autoencoder latents, encoded once into a cache) and
    text-conditioned models with classifier-free guidance. Run the same command again to resume from
    the last checkpoint.
    """
    with user_errors():
        from ...data.images import resolve_data
        from ...train import TrainConfig, preset_config, train

        given = dict(data=data and str(data), resolution=resolution, crop=crop, architecture=architecture,
                     steps=steps, batch_size=batch_size, lr=lr, lr_schedule=lr_schedule,
                     loss_weighting=loss_weighting, hflip=hflip, max_images=max_images, init_from=init_from,
                     cache_dir=cache_dir and str(cache_dir), bf16=bf16)
        settings = {k: v for k, v in given.items() if v is not None}
        if crop == 0:
            settings["crop"] = None
        settings.update(checkpoint_every=checkpoint_every, seed=seed, device=start(device, threads))
        if preset is not None:
            cfg = preset_config(preset, str(out), **settings)
        elif data is None:
            raise InpaintInputError("--data is required without --preset")
        else:
            cfg = TrainConfig(out=str(out), **settings)
        if prediction_type is not None:  # the preset's schedule, its parameterisation replaced (and validated)
            cfg = replace(cfg, schedule={**cfg.schedule, "prediction_type": prediction_type})
        has_cache = cfg.vae and (Path(cfg.cache_dir or out) / "latents.safetensors").is_file()
        if not has_cache:
            source = resolve_data(cfg.data)
            if not (source.is_dir() or (cfg.text_encoder and source.is_file())):
                raise InpaintInputError(f"training data not found: {source}")
        typer.echo(f"model written to {train(cfg, max_minutes=max_minutes)}", err=True)


@app.command("train-ep")
def train_ep_command(
    out: Annotated[Path, typer.Option(help="Run folder; the weights go to out/latentpaint/ (copy that folder into "
                                      "the model's folder). An existing run resumes.", show_default=False)],
    model: Annotated[str, typer.Option(help="The denoiser (built-in name or folder).")] = "faces-32",
    preset: Annotated[str, typer.Option(help="The recipe whose training data the denoiser saw.")] = "faces-32",
    cache_dir: Annotated[Optional[Path], typer.Option(help="Latent models: where the preset's latent cache is.",
                                                      show_default=False)] = None,
    data: Annotated[Optional[Path], typer.Option(help="Other training images than the preset's.", show_default=False)]
    = None,
    resolution: Annotated[Optional[int], typer.Option(min=8, help="Their side in pixels [default: the preset's].",
                                                      show_default=False)] = None,
    max_images: Annotated[Optional[int], typer.Option(min=1, help="Only the first N training images.",
                                                      show_default=False)] = None,
    modules: Annotated[int, typer.Option(min=1, max=2, help="EP modules (1: the middle block's input; 2: and "
                                         "its output).")] = 2,
    steps: Annotated[int, typer.Option(min=1)] = 1500,
    batch_size: Annotated[int, typer.Option(min=1)] = 32,
    lr: Annotated[float, typer.Option()] = 1e-3,
    bf16: Bf16Option = None,
    max_minutes: MaxMinutesOption = None,
    device: DeviceOption = "auto",
    threads: ThreadsOption = "auto",
):
    """Train LatentPaint's Explicit Propagation modules for a model (the denoiser frozen)."""
    with user_errors():
        from ...train.ep import EPConfig, train_ep

        cfg = EPConfig(model=model, preset=preset, out=str(out), cache_dir=cache_dir and str(cache_dir),
                       data=data and str(data), resolution=resolution, max_images=max_images, modules=modules,
                       steps=steps, batch_size=batch_size, lr=lr, bf16=bf16, device=start(device, threads))
        typer.echo(f"EP weights written to {train_ep(cfg, max_minutes=max_minutes)}", err=True)


@app.command("train-seamless")
def train_seamless_command(
    out: Annotated[Path, typer.Option(help="Run folder: the decoder goes to out/vae, the two-step denoiser to "
                                      "out/model. An existing run resumes.", show_default=False)],
    stage: Annotated[str, typer.Option(help="decoder (Eq. 6: the seam-aware decoder) or two-step (Alg. 1: the "
                                       "blend-aware denoiser).")] = "decoder",
    model: Annotated[str, typer.Option(help="The latent model (built-in name or folder).")] = "faces-256-latent",
    preset: Annotated[str, typer.Option(help="The recipe whose training faces the model saw.")] = "faces-256-latent",
    data: Annotated[Optional[Path], typer.Option(help="Other training images than the preset's.", show_default=False)]
    = None,
    max_images: Annotated[Optional[int], typer.Option(min=1, help="Only the first N training images.",
                                                      show_default=False)] = None,
    steps: Annotated[int, typer.Option(min=1)] = 1000,
    batch_size: Annotated[int, typer.Option(min=1)] = 8,
    lr: Annotated[float, typer.Option()] = 1e-4,
    weight: Annotated[float, typer.Option(help="two-step: lambda of the second loss (§4: 0.5; 0: the equal-steps "
                                          "control).")] = 0.5,
    masks_per_image: Annotated[int, typer.Option(min=1, help="Cached masks (and masked encodings) per face.")] = 4,
    latent_cache: Annotated[Optional[Path], typer.Option(help="The masked encodings' cache file (default "
                                                         "out/seamless_latents.safetensors): one file serves both "
                                                         "stages and the control.", show_default=False)] = None,
    window: Annotated[int, typer.Option(min=5, help="decoder: latent cells per side of the windows it decodes.")]
    = 20,
    no_mask_fraction: Annotated[float, typer.Option(min=0, max=1, help="decoder: samples with no mask (the plain "
                                                    "round trip; 1: the decoder's no-seam control).")] = 0.25,
    bf16: Bf16Option = None,
    max_minutes: MaxMinutesOption = None,
    device: DeviceOption = "auto",
    threads: ThreadsOption = "auto",
):
    """Train Towards Seamless Borders' seam-aware decoder or blend-aware two-step denoiser for a latent model."""
    with user_errors():
        from ...train.seamless import SeamlessConfig, train_seamless

        cfg = SeamlessConfig(stage=stage, model=model, preset=preset, out=str(out), data=data and str(data),
                             max_images=max_images, steps=steps, batch_size=batch_size, lr=lr, weight=weight,
                             masks_per_image=masks_per_image, latent_cache=latent_cache and str(latent_cache),
                             window=window, no_mask_fraction=no_mask_fraction, bf16=bf16, device=start(device, threads))
        typer.echo(f"written to {train_seamless(cfg, max_minutes=max_minutes)}", err=True)


@app.command("train-classifier")
def train_classifier_command(
    out: Annotated[Path, typer.Option(help="Run folder; the classifier goes to out/classifier. An existing run "
                                      "resumes.", show_default=False)],
    data: Annotated[str, typer.Option(help="Class folders, or a tar of <split>/<class>/<image> (train and test).")]
    = "data:cifar10/cifar10-images.tar.gz",
    steps: Annotated[int, typer.Option(min=1)] = 3000,
    batch_size: Annotated[int, typer.Option(min=1)] = 128,
    width: Annotated[int, typer.Option(min=8, help="Channels of the first stage (then 2x, 4x).")] = 32,
    lr: Annotated[float, typer.Option()] = 2e-3,
    bf16: Bf16Option = None,
    max_minutes: MaxMinutesOption = None,
    device: DeviceOption = "auto",
    threads: ThreadsOption = "auto",
):
    """Train the prompt-accuracy classifier (the stand-in for CLIP-T offline) on a class-labelled image set."""
    with user_errors():
        from ...train.classifier import ClassifierConfig, train_classifier

        cfg = ClassifierConfig(data=data, out=str(out), steps=steps, batch_size=batch_size, width=width, lr=lr,
                               bf16=bf16, device=start(device, threads))
        folder = train_classifier(cfg, max_minutes=max_minutes)
        typer.echo(f"written to {folder} (test accuracy in classifier.json)", err=True)


@app.command("train-controlnet")
def train_controlnet_command(
    out: Annotated[Path, typer.Option(help="Run folder; the ControlNet goes to out/controlnet (PILOT's controlnet= "
                                      "option). An existing run resumes.", show_default=False)],
    model: Annotated[str, typer.Option(help="The text-conditioned pixel model.")] = "cifar10-text",
    preset: Annotated[str, typer.Option(help="The recipe whose data the model saw.")] = "cifar10-text",
    steps: Annotated[int, typer.Option(min=1)] = 2000,
    batch_size: Annotated[int, typer.Option(min=1)] = 32,
    lr: Annotated[float, typer.Option()] = 1e-4,
    bf16: Bf16Option = None,
    max_minutes: MaxMinutesOption = None,
    device: DeviceOption = "auto",
    threads: ThreadsOption = "auto",
):
    """Train a ControlNet on Canny edges for a text-conditioned pixel model (the base model frozen)."""
    with user_errors():
        from ...train.controlnet import ControlNetConfig, train_controlnet

        cfg = ControlNetConfig(model=model, preset=preset, out=str(out), steps=steps, batch_size=batch_size, lr=lr,
                               bf16=bf16, device=start(device, threads))
        typer.echo(f"written to {train_controlnet(cfg, max_minutes=max_minutes)}", err=True)
