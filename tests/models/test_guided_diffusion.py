"""guided-diffusion (ADM) checkpoints: the converted U-Net computes what the checkpoint's own architecture
computes. ``AdmUNet`` below is written from guided-diffusion's published ``unet.py`` (its module names, hence
its state-dict keys), not from the converter; every parameter is random (no zero-initialised layer hides
a wrong mapping)."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from typer.testing import CliRunner

from inpaintkit.api import Inpainter
from inpaintkit.app.cli import app
from inpaintkit.core.errors import InpaintInputError, UnsafeFileError
from inpaintkit.core.schedule import NoiseSchedule
from inpaintkit.methods import METHODS, describe_options
from inpaintkit.models import load_model
from inpaintkit.models.guided_diffusion import load_checkpoint
from inpaintkit.sampling.steps import denoise_step
from inpaintkit.sampling.task import Task
from inpaintkit.testing.images import smooth_image, square_hole


def timestep_embedding(t, dim, max_period=10000):
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)
    args = t[:, None].float() * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class TimestepEmbedSequential(nn.Sequential):
    def forward(self, x, emb):
        for layer in self:
            x = layer(x, emb) if isinstance(layer, ResBlock) else layer(x)
        return x


class Upsample(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class Downsample(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.op = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x):
        return self.op(x)


class ResBlock(nn.Module):
    def __init__(self, channels, emb_channels, out_channels, scale_shift, up=False, down=False):
        super().__init__()
        self.in_layers = nn.Sequential(nn.GroupNorm(32, channels), nn.SiLU(), nn.Conv2d(channels, out_channels, 3, padding=1))
        self.up, self.down, self.scale_shift = up, down, scale_shift
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_channels, 2 * out_channels if scale_shift else out_channels))
        self.out_layers = nn.Sequential(nn.GroupNorm(32, out_channels), nn.SiLU(), nn.Dropout(0.0),
                                        nn.Conv2d(out_channels, out_channels, 3, padding=1))
        self.skip_connection = nn.Identity() if out_channels == channels else nn.Conv2d(channels, out_channels, 1)

    def resample(self, x):
        return F.interpolate(x, scale_factor=2, mode="nearest") if self.up else F.avg_pool2d(x, 2)

    def forward(self, x, emb):
        if self.up or self.down:
            h = self.in_layers[-1](self.resample(self.in_layers[:-1](x)))
            x = self.resample(x)
        else:
            h = self.in_layers(x)
        e = self.emb_layers(emb)[..., None, None]
        if self.scale_shift:
            scale, shift = e.chunk(2, dim=1)
            h = self.out_layers[1:](self.out_layers[0](h) * (1 + scale) + shift)
        else:
            h = self.out_layers(h + e)
        return self.skip_connection(x) + h


class AttentionBlock(nn.Module):
    def __init__(self, channels, heads, new_order):
        super().__init__()
        self.norm = nn.GroupNorm(32, channels)
        self.qkv = nn.Conv1d(channels, 3 * channels, 1)
        self.proj_out = nn.Conv1d(channels, channels, 1)
        self.heads, self.new_order = heads, new_order

    def forward(self, x):
        b, c, height, width = x.shape
        x = x.reshape(b, c, -1)
        qkv = self.qkv(self.norm(x))
        ch = c // self.heads
        if self.new_order:  # QKVAttention
            q, k, v = (u.reshape(b * self.heads, ch, -1) for u in qkv.chunk(3, dim=1))
        else:  # QKVAttentionLegacy
            q, k, v = qkv.reshape(b * self.heads, 3 * ch, -1).split(ch, dim=1)
        scale = 1 / math.sqrt(math.sqrt(ch))
        weight = torch.einsum("bct,bcs->bts", q * scale, k * scale).softmax(dim=-1)
        a = torch.einsum("bts,bcs->bct", weight, v).reshape(b, c, -1)
        return (x + self.proj_out(a)).reshape(b, c, height, width)


class AdmUNet(nn.Module):
    def __init__(self, model_channels, channel_mult, num_res_blocks, attention_ds, heads, scale_shift, updown,
                 learn_sigma, num_classes=None, new_order=False, in_channels=3):
        super().__init__()
        mc, emb = model_channels, 4 * model_channels
        self.model_channels = mc
        self.time_embed = nn.Sequential(nn.Linear(mc, emb), nn.SiLU(), nn.Linear(emb, emb))
        if num_classes:
            self.label_emb = nn.Embedding(num_classes, emb)
        self.input_blocks = nn.ModuleList([TimestepEmbedSequential(nn.Conv2d(in_channels, mc, 3, padding=1))])
        chans, ch, ds = [mc], mc, 1
        for level, mult in enumerate(channel_mult):
            for _ in range(num_res_blocks):
                layers = [ResBlock(ch, emb, mult * mc, scale_shift)]
                ch = mult * mc
                if ds in attention_ds:
                    layers.append(AttentionBlock(ch, heads(ch), new_order))
                self.input_blocks.append(TimestepEmbedSequential(*layers))
                chans.append(ch)
            if level != len(channel_mult) - 1:
                self.input_blocks.append(TimestepEmbedSequential(
                    ResBlock(ch, emb, ch, scale_shift, down=True) if updown else Downsample(ch)))
                chans.append(ch)
                ds *= 2
        self.middle_block = TimestepEmbedSequential(ResBlock(ch, emb, ch, scale_shift),
                                                    AttentionBlock(ch, heads(ch), new_order),
                                                    ResBlock(ch, emb, ch, scale_shift))
        self.output_blocks = nn.ModuleList()
        for level, mult in list(enumerate(channel_mult))[::-1]:
            for i in range(num_res_blocks + 1):
                layers = [ResBlock(ch + chans.pop(), emb, mc * mult, scale_shift)]
                ch = mc * mult
                if ds in attention_ds:
                    layers.append(AttentionBlock(ch, heads(ch), new_order))
                if level and i == num_res_blocks:
                    layers.append(ResBlock(ch, emb, ch, scale_shift, up=True) if updown else Upsample(ch))
                    ds //= 2
                self.output_blocks.append(TimestepEmbedSequential(*layers))
        self.out = nn.Sequential(nn.GroupNorm(32, ch), nn.SiLU(),
                                 nn.Conv2d(mc, in_channels * (2 if learn_sigma else 1), 3, padding=1))

    def forward(self, x, t, y=None):
        emb = self.time_embed(timestep_embedding(t, self.model_channels))
        if y is not None:
            emb = emb + self.label_emb(y)
        hs, h = [], x
        for block in self.input_blocks:
            h = block(h, emb)
            hs.append(h)
        h = self.middle_block(h, emb)
        for block in self.output_blocks:
            h = block(torch.cat([h, hs.pop()], dim=1), emb)
        return self.out(h)


# Scaled-down members of each published family (GroupNorm(32) needs widths of 32k).
FAMILIES = {  # name -> (AdmUNet arguments, converter flags shapes cannot tell)
    "celeba256/places256 (updown, scale-shift, learned sigma)":
        (dict(model_channels=32, channel_mult=(1, 2, 2), num_res_blocks=2, attention_ds=(2, 4),
              heads=lambda c: c // 16, scale_shift=True, updown=True, learn_sigma=True), dict(num_head_channels=16)),
    "imagenet256 (class-conditional)":
        (dict(model_channels=32, channel_mult=(1, 2), num_res_blocks=1, attention_ds=(2,), heads=lambda c: c // 32,
              scale_shift=True, updown=True, learn_sigma=True, num_classes=5), dict(num_head_channels=32)),
    "ffhq256 (one res block, fixed heads)":
        (dict(model_channels=32, channel_mult=(1, 1, 2), num_res_blocks=1, attention_ds=(4,), heads=lambda c: 2,
              scale_shift=True, updown=True, learn_sigma=True), dict(num_head_channels=-1, num_heads=2)),
    "plain (conv resampling, additive time, new qkv order)":
        (dict(model_channels=32, channel_mult=(1, 2), num_res_blocks=1, attention_ds=(1, 2), heads=lambda c: c // 16,
              scale_shift=False, updown=False, learn_sigma=False, new_order=True),
         dict(num_head_channels=16, use_new_attention_order=True)),
}


def reference(family: str, seed: int = 0) -> AdmUNet:
    torch.manual_seed(seed)
    net = AdmUNet(**FAMILIES[family][0]).eval()
    with torch.no_grad():  # unit-gain weights: time, class and every attention head change the output
        for name, p in net.named_parameters():
            if p.ndim > 1:
                p.normal_(0, 1.5 / math.sqrt(p[0].numel()))
            elif name.endswith("weight"):  # GroupNorm gains
                p.normal_(1, 0.2)
            else:
                p.normal_(0, 0.2)
    return net


def checkpoint(tmp_path, family: str):
    net = reference(family)
    path = tmp_path / "model.pt"
    torch.save(net.state_dict(), path)
    return net, path


@pytest.mark.parametrize("family", list(FAMILIES))
def test_converted_unet_equals_the_checkpoint_architecture(tmp_path, family):
    net, path = checkpoint(tmp_path, family)
    unet, schedule, arch = load_checkpoint(path, image_size=16, **FAMILIES[family][1])  # strict: raises otherwise
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    t = torch.tensor([10, 900])
    y = torch.tensor([1, 4]) if arch.num_classes else None
    with torch.no_grad():
        expected = net(x, t, y)
        got = unet(x, t, class_labels=y).sample
    assert got.shape == expected.shape
    scale = expected.abs().mean()
    assert (got - expected).abs().max() < 1e-4 * scale, ((got - expected).abs().max(), scale)
    with torch.no_grad():  # the comparison can see the time embedding: another t changes the output a lot
        assert (net(x, t.flip(0), y) - expected).abs().mean() > 0.05 * scale
    assert schedule.variance_type == ("learned_range" if arch.learn_sigma else "fixed_small")


def test_a_mismatching_flag_or_a_foreign_state_dict_is_refused(tmp_path):
    _, path = checkpoint(tmp_path, "ffhq256 (one res block, fixed heads)")
    with pytest.raises(InpaintInputError, match="does not match the checkpoint"):
        load_checkpoint(path, image_size=16, num_head_channels=-1, num_heads=2, num_res_blocks=2)
    torch.save({"weight": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(InpaintInputError, match="not a guided-diffusion"):
        load_checkpoint(tmp_path / "other.pt")


class Payload:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_a_checkpoint_that_needs_pickle_execution_is_refused(tmp_path):
    target = tmp_path / "created-by-the-checkpoint"
    torch.save({"input_blocks.0.0.weight": torch.zeros(1), "payload": Payload(str(target))}, tmp_path / "evil.pt")
    with pytest.raises(UnsafeFileError, match="pickle"):
        load_checkpoint(tmp_path / "evil.pt")
    with pytest.raises(UnsafeFileError):
        load_model(tmp_path / "evil.pt")
    assert not target.exists()


def test_learned_sigma_is_improved_ddpm_eq_15():
    """At eta = 1 the step's variance is exp(frac log beta + (1 - frac) log beta_tilde), frac = (v + 1) / 2; v = -1
    is the fixed-small (beta_tilde) step exactly, v = 1 the larger beta; strided steps use the step's own betas."""
    schedule = NoiseSchedule()
    x_t, x0 = torch.randn(1, 3, 4, 4), torch.randn(1, 3, 4, 4).clamp(-1, 1)
    for t, t_prev in ((500, 499), (600, 400)):
        ab_t, ab_prev = schedule.alphas_cumprod[t].item(), schedule.alphas_cumprod[t_prev].item()
        beta = 1 - ab_t / ab_prev
        beta_tilde = (1 - ab_prev) / (1 - ab_t) * beta
        mean = (math.sqrt(ab_prev) * beta / (1 - ab_t)) * x0 + (math.sqrt(1 - beta) * (1 - ab_prev) / (1 - ab_t)) * x_t
        for v, variance in ((-1.0, beta_tilde), (1.0, beta), (0.3, math.exp(0.65 * math.log(beta) + 0.35 * math.log(beta_tilde)))):
            task = Task.create(None, torch.zeros(1, 3, 4, 4), torch.ones(1, 1, 4, 4), torch.Generator().manual_seed(0))
            noise = torch.randn(1, 3, 4, 4, generator=torch.Generator().manual_seed(0))
            step = denoise_step(schedule, task, x_t, x0, t, t_prev, 1.0, torch.full_like(x_t, v))
            assert torch.allclose(step, mean + math.sqrt(variance) * noise, atol=1e-5)
        fixed_task = Task.create(None, torch.zeros(1, 3, 4, 4), torch.ones(1, 1, 4, 4), torch.Generator().manual_seed(0))
        learned_task = Task.create(None, torch.zeros(1, 3, 4, 4), torch.ones(1, 1, 4, 4), torch.Generator().manual_seed(0))
        assert not torch.allclose(denoise_step(schedule, fixed_task, x_t, x0, t, t_prev, 1.0),
                                  denoise_step(schedule, learned_task, x_t, x0, t, t_prev, 1.0, torch.ones_like(x_t)))


def test_convert_command_and_inpaint_with_every_pixel_method(tmp_path):
    """Every method of the pixel space on a converted learned-sigma checkpoint (PILOT needs a text model)."""
    _, path = checkpoint(tmp_path, "celeba256/places256 (updown, scale-shift, learned sigma)")
    runner = CliRunner()
    bad = runner.invoke(app, ["convert", "guided-diffusion", str(path), "-o", str(tmp_path / "m"), "--image-size", "16",
                              "--num-head-channels", "16", "--num-res-blocks", "3"])
    assert bad.exit_code == 1 and "--num-res-blocks 3 does not match the checkpoint (2)" in bad.stderr
    ok = runner.invoke(app, ["convert", "guided-diffusion", str(path), "-o", str(tmp_path / "m"), "--image-size", "16",
                             "--num-head-channels", "16", "--attention-resolutions", "8,4"])
    assert ok.exit_code == 0, ok.stderr
    model = load_model(tmp_path / "m")
    assert model.learns_variance and model.resolution == 16
    inpainter = Inpainter(model, threads=None)
    image, mask = smooth_image(16, seed=2), square_hole(16, size=0.5)
    pixel_methods = [n for n, spec in METHODS.items() if spec.needs_model and "pixel" in spec.spaces
                     and not spec.inpainting_unet and n not in ("pilot", "pilot-fast")]  # PILOT needs a prompt
    assert {"repaint", "dps", "gradpaint", "vipaint", "latentpaint-lsc"} <= set(pixel_methods)
    for method in pixel_methods:
        options = {k: v for k, v in {"steps": 3, "iterations": 1, "mc_samples": 1, "ep": 0}.items()
                   if k in {o["name"] for o in describe_options(method)}}
        out = inpainter(image, mask, method=method, seed=0, progress=False, **options)
        known = ~mask.bool().expand_as(out)
        assert torch.isfinite(out).all() and torch.equal(out[known], image.expand_as(out)[known]), method


def test_class_conditional_checkpoint_needs_its_label(tmp_path):
    _, path = checkpoint(tmp_path, "imagenet256 (class-conditional)")
    model = load_model(path)  # a .pt loads directly, converted on the fly (the published 256 px settings)
    assert model.unet.config.num_class_embeds == 5 and model.resolution == 256
    unet, _, _ = load_checkpoint(path, image_size=16, num_head_channels=32)
    model.unet = unet
    image, mask = smooth_image(16, seed=2), square_hole(16, size=0.5)
    with pytest.raises(InpaintInputError, match="class-conditional"):
        Inpainter(model, threads=None)(image, mask, steps=2, progress=False)
    with pytest.raises(InpaintInputError, match=r"class_label must be in \[0, 4\]"):
        Inpainter(model, threads=None, class_label=5)
    a = Inpainter(model, threads=None, class_label=1)(image, mask, steps=2, progress=False)
    b = Inpainter(model, threads=None, class_label=3)(image, mask, steps=2, progress=False)
    assert not torch.equal(a, b)
