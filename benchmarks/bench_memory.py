"""Peak memory and time of one inpaint with each memory option (``--memory``), side by side, on a Stable
Diffusion-shaped model built here (random weights: the cost of the computation, not its result): a
``UNet2DConditionModel`` with SD's block layout at reduced widths, an ``AutoencoderKL`` with SD's 8x layout, and a
CLIP text encoder; 512 px images by default, VAE tiles of half the image (so that tiling has something to
tile), batch 2 (so that slicing has something to slice), after a one-step warm-up.

    python benchmarks/bench_memory.py [--size 512] [--batch 2] [--steps 4] [--device cpu|cuda]
    python benchmarks/bench_memory.py --quick         # 64 px, 1 step: the test suite's run

Each option runs in a fresh process. On the CPU the figure is the process's peak resident memory (the model's
weights included); on a GPU, ``torch.cuda.max_memory_allocated``. CPU offload only saves GPU memory: on the CPU it
is listed for its cost alone. A GPU recipe for a lent machine: docs/models.md, "Memory".
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

OPTIONS = {  # name -> --memory words
    "none": [],
    "unet=bf16, vae=bf16, text=bf16": ["unet=bf16", "vae=bf16", "text=bf16"],
    "vae-slicing": ["vae-slicing"],
    "vae-tiling": ["vae-tiling"],
    "channels-last": ["channels-last"],
    "cpu-offload": ["cpu-offload"],
}

CHILD = """
import json, resource, sys, time
import torch
from inpaintkit.api import Inpainter
from inpaintkit.models.memory import MemoryOptions
from inpaintkit.models.denoiser import DiffusionModel
from inpaintkit.models.autoencoder import Autoencoder
from inpaintkit.core.schedule import NoiseSchedule, SD_EPS_SCHEDULE
from inpaintkit.testing.images import smooth_image, square_hole
from inpaintkit.testing.tiny import tiny_prompt_encoder
from diffusers import AutoencoderKL, UNet2DConditionModel

size, batch, steps, device, words, widths = (int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4],
                                             json.loads(sys.argv[5]), json.loads(sys.argv[6]))
torch.manual_seed(0)
text = tiny_prompt_encoder()
unet = UNet2DConditionModel(sample_size=size // 8, in_channels=4, out_channels=4, block_out_channels=widths["unet"],
                            layers_per_block=2, cross_attention_dim=16, attention_head_dim=8,
                            norm_num_groups=min(32, widths["unet"][0]))
vae = AutoencoderKL(block_out_channels=widths["vae"], down_block_types=["DownEncoderBlock2D"] * len(widths["vae"]),
                    up_block_types=["UpDecoderBlock2D"] * len(widths["vae"]), latent_channels=4, layers_per_block=2,
                    norm_num_groups=min(32, widths["vae"][0]), sample_size=size // 2,
                    scaling_factor=0.18215)  # tiles of half the image: tiling has something to tile at any size
model = DiffusionModel(unet.eval(), NoiseSchedule(SD_EPS_SCHEDULE), autoencoder=Autoencoder(vae.eval()),
                       text_encoder=text, name="sd-shaped").to(device)
inpainter = Inpainter(model, device=device, threads=None, memory=MemoryOptions.parse(words))
images, masks = smooth_image(size, seed=1).repeat(batch, 1, 1, 1), square_hole(size, size=0.5).repeat(batch, 1, 1, 1)
triples = [(images[i:i + 1], masks[i:i + 1], i) for i in range(batch)]
list(inpainter.many(triples[:1], "combine-noisy", batch_size=1, steps=1, prompt="a photo"))  # warm-up
if device == "cuda":
    torch.cuda.reset_peak_memory_stats()
start = time.perf_counter()
out = torch.cat(list(inpainter.many(triples, "combine-noisy", batch_size=batch, steps=steps, prompt="a photo")))
seconds = time.perf_counter() - start
peak = torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else \
    resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "peak_mib": peak, "mean": out.mean().item()}))
"""


def measure(args, words: list[str], widths: dict) -> dict:
    command = [sys.executable, "-c", CHILD, str(args.size), str(args.batch), str(args.steps), args.device,
               json.dumps(words), json.dumps(widths)]
    out = subprocess.run(command, check=True, capture_output=True, text=True, env=os.environ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--device", default="cpu")
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    widths = {"unet": [64, 128, 256, 256], "vae": [32, 64, 128, 128]}
    if args.quick:
        args.size, args.steps = 64, 1
        widths = {"unet": [8, 16, 16, 16], "vae": [8, 8, 8, 8]}
    print(f"combine-noisy, {args.steps} steps, {args.batch} images of {args.size} px on {args.device}; "
          f"U-Net widths {widths['unet']}, VAE widths {widths['vae']}")
    print(f"{'memory option':34s} {'peak MiB':>9s} {'vs none':>8s} {'seconds':>8s} {'vs none':>8s}  output mean")
    base = None
    for name, words in OPTIONS.items():
        r = measure(args, words, widths)
        base = base or r
        print(f"{name:34s} {r['peak_mib']:9.0f} {r['peak_mib'] / base['peak_mib']:8.2f} {r['seconds']:8.2f} "
              f"{r['seconds'] / base['seconds']:8.2f}  {r['mean']:+.5f}")


if __name__ == "__main__":
    main()
