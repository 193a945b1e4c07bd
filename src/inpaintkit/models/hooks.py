"""Temporary changes to a model for the length of a run, always undone: frozen parameters (methods that
differentiate through the denoiser with respect to its input), gradient checkpointing, and counting the
network calls a run makes, hooks on the U-Net's block outputs (LatentPaint), another U-Net or autoencoder
(Seamless Borders' fine-tuned components). Attention processors join them here."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

import torch


@contextmanager
def frozen(model, checkpointing: bool = False) -> Iterator[None]:
    """The model's parameters frozen (only inputs get gradients) and, if asked, gradient checkpointing in
    the U-Net; both restored on exit, whatever happens inside."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    was_checkpointing = getattr(model.unet, "is_gradient_checkpointing", False)
    model.requires_grad_(False)
    if checkpointing:
        model.unet.enable_gradient_checkpointing()
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
        if checkpointing and not was_checkpointing:
            model.unet.disable_gradient_checkpointing()


@dataclass
class CallCount:
    """Network calls per sample made inside :func:`count_calls`: U-Net forward passes (a CFG pair counts
    two) and backward passes through the U-Net."""

    forward: int = 0
    backward: int = 0


@contextmanager
def swapped_components(model, unet: torch.nn.Module | None = None, autoencoder=None) -> Iterator[None]:
    """The model with another U-Net and/or autoencoder (None: its own) inside the block, its own restored on
    exit, whatever happens inside."""
    own = model.unet, model.autoencoder
    model.unet = unet if unet is not None else model.unet
    model.autoencoder = autoencoder if autoencoder is not None else model.autoencoder
    try:
        yield
    finally:
        model.unet, model.autoencoder = own


@contextmanager
def count_calls(model) -> Iterator[CallCount]:
    """``with count_calls(model) as calls: ...``; ``calls.forward`` / ``calls.backward`` afterwards."""
    calls = CallCount()
    start = (model.network_calls, model.backward_calls) if model is not None else (0, 0)
    try:
        yield calls
    finally:
        if model is not None:
            calls.forward = model.network_calls - start[0]
            calls.backward = model.backward_calls - start[1]


def block_outputs(unet) -> list[tuple[str, object]]:
    """The U-Net's layers whose outputs feed the next layer and the skip connections, in order: ``conv_in``, each
    down block's layers (the attention where a layer has one, else the resnet) and downsampler, the mid block,
    each up block's layers and upsampler (guided diffusion's "every block of input_blocks, middle_block and
    output_blocks")."""
    points = [("conv_in", unet.conv_in)]

    def layers(prefix: str, block) -> None:
        attentions = getattr(block, "attentions", None)
        for j, resnet in enumerate(block.resnets):
            name, module = (f"{prefix}.attentions.{j}", attentions[j]) if attentions else (f"{prefix}.resnets.{j}", resnet)
            points.append((name, module))
        for kind in ("downsamplers", "upsamplers"):
            for k, sampler in enumerate(getattr(block, kind, None) or []):
                points.append((f"{prefix}.{kind}.{k}", sampler))

    for i, block in enumerate(unet.down_blocks):
        layers(f"down_blocks.{i}", block)
    points.append(("mid_block", unet.mid_block))
    for i, block in enumerate(unet.up_blocks):
        layers(f"up_blocks.{i}", block)
    return points


def output_tensor(output):
    """The hidden states inside a module's output (a tensor, a tuple whose first item it is, or an output object)."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)):
        return output[0]
    return output.sample


def with_tensor(output, tensor):
    """``output`` with its hidden states replaced by ``tensor``, in the same container type."""
    if isinstance(output, torch.Tensor):
        return tensor
    if isinstance(output, (tuple, list)):
        return type(output)([tensor, *output[1:]])
    output.sample = tensor
    return output


@contextmanager
def forward_hooks(hooks: list[tuple[object, Callable]], pre_hooks: list[tuple[object, Callable]] = ()) -> Iterator[None]:
    """``fn(hidden_states) -> hidden_states`` installed on the outputs (``hooks``) or the first input
    (``pre_hooks``) of modules for the length of the block, and removed on exit whatever happens (an exception,
    a keyboard interrupt): a model used by another method afterwards is untouched."""
    handles = []
    try:
        for module, fn in hooks:
            handles.append(module.register_forward_hook(
                lambda m, args, output, fn=fn: with_tensor(output, fn(output_tensor(output)))))
        for module, fn in pre_hooks:
            handles.append(module.register_forward_pre_hook(
                lambda m, args, fn=fn: (fn(args[0]), *args[1:])))
        yield
    finally:
        for handle in handles:
            handle.remove()
