"""Gradients through the denoiser with respect to its input, for the methods that guide x_t with a loss on
the x0 estimate (GradPaint, DPS and those to come). Run them inside :func:`inpaintkit.models.hooks.frozen`."""
from __future__ import annotations

import math
from contextlib import nullcontext

import torch

NORMALIZATIONS = ("rms", "sign", "global")


def x0_with_gradient(model, task, x_t: torch.Tensor, t: int, loss_fn, autocast: bool = True, cond=None,
                     clip: bool = True):
    """(x0_hat, per-sample loss, grad_{x_t} loss) for ``loss_fn(x0_hat) -> (B,)``: one forward and one
    backward pass through the denoiser, nothing of the graph kept. The gradient of the summed loss is each
    sample's own gradient, so a batch behaves like its images run one by one. Backward passes are
    counted in ``model.backward_calls`` (as many as the forward's network calls; CFG counts two).
    ``autocast``: bf16 autocast of the network call when the model is on CUDA; ``cond``: another
    conditioning than the task's (a batch of several samples per image); ``clip``: clip pixel x0 estimates."""
    use_autocast = autocast and x_t.device.type == "cuda"
    calls = model.network_calls
    with torch.enable_grad(), torch.autocast("cuda", torch.bfloat16) if use_autocast else nullcontext():
        x = x_t.detach().requires_grad_(True)
        x0 = model.predict(x, t, task.cond if cond is None else cond, clip=clip).x0
        loss = loss_fn(x0).float()
        (grad,) = torch.autograd.grad(loss.sum(), x)
    model.backward_calls += model.network_calls - calls
    return x0.detach(), loss.detach(), grad.float()


def normalize_gradient(grad: torch.Tensor, normalization: str) -> torch.Tensor:
    """A gradient scaled per sample: ``"global"`` to unit L2 norm, ``"rms"`` to unit root-mean-square per
    element (unit L2 norm x sqrt(numel)), ``"sign"`` its element-wise sign."""
    if normalization == "sign":
        return grad.sign()
    unit = grad / grad.flatten(1).norm(dim=1).clamp_min(1e-30).view(-1, *[1] * (grad.ndim - 1))
    return unit * math.sqrt(grad[0].numel()) if normalization == "rms" else unit
