"""Temporary changes to a model for the length of a run, always undone: frozen parameters (methods that
differentiate through the denoiser with respect to its input), gradient checkpointing, and counting the
network calls a run makes. More extension points (block hooks, attention processors) join them here."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator


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
