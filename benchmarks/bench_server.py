"""A request to ``inpaintkit serve`` on a warm model against the same inpaint through the Python API, side by
side: submit, follow the job to its end, fetch the PNG, over real HTTP on localhost. Target: <= 1.10x.

    OMP_NUM_THREADS=2 python benchmarks/bench_server.py [--model faces-32] [--steps 50] [--repeats 5]
    python benchmarks/bench_server.py --quick       # the tiny test model
"""
from __future__ import annotations

import argparse
import io
import json
import socket
import statistics
import tempfile
import threading
import time

import httpx
import torch
import uvicorn

from inpaintkit.api import Inpainter
from inpaintkit.app.server.routes import create_app
from inpaintkit.app.server.session import Session
from inpaintkit.core.images import load_image, load_mask, open_image, to_pil
from inpaintkit.data.masks import mask_from_name
from inpaintkit.models import load_model
from inpaintkit.sampling import sample


def png(tensor) -> bytes:
    buffer = io.BytesIO()
    to_pil(tensor).save(buffer, format="PNG")
    return buffer.getvalue()


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="faces-32")
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        from inpaintkit.testing.tiny import tiny_pixel_model

        args.model = tempfile.mkdtemp(prefix="server-model-")
        torch.manual_seed(0)
        tiny_pixel_model(16).unet.save_pretrained(args.model)
        args.steps, args.repeats = 3, 2
    model = load_model(args.model)
    face = sample(model, 1, 25, torch.Generator().manual_seed(0), show_progress=False)
    mask = mask_from_name("thick", model.resolution, 0)
    image_png, mask_png = png(face), png(mask[0].expand(3, -1, -1) * 2 - 1)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(Session([args.model], args.model, threads=None)),
                                           host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=600)
    inpainter = Inpainter(model, threads=None)

    def over_http():
        job = client.post("/api/v1/jobs", files={"image": ("i.png", image_png), "mask": ("m.png", mask_png)},
                          data={"method": "combine-image", "options": json.dumps({"steps": args.steps})}).json()
        with client.stream("GET", f"/api/v1/jobs/{job['id']}/events") as events:
            for line in events.iter_lines():
                if line.startswith("event: done"):
                    break
        return client.get(f"/api/v1/jobs/{job['id']}/result").content

    the_image, the_mask = load_image(open_image(image_png)), load_mask(open_image(mask_png))  # as the server reads them

    def in_process():
        return png(inpainter(the_image, the_mask, steps=args.steps, progress=False)[0])

    over_http(), in_process()  # warm both: the server's model loads on its first job
    ratios, http_s, api_s = [], [], []
    for _ in range(args.repeats):  # interleaved pairs
        start = time.perf_counter()
        a = over_http()
        http_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        b = in_process()
        api_s.append(time.perf_counter() - start)
        ratios.append(http_s[-1] / api_s[-1])
    server.should_exit = True
    print(f"{args.model}: combine-image, {args.steps} steps, {torch.get_num_threads()} threads, {args.repeats} pairs")
    print(f"HTTP request (submit + events + PNG) {statistics.median(http_s):.3f} s, Python API "
          f"{statistics.median(api_s):.3f} s; ratio median {statistics.median(ratios):.3f} (min {min(ratios):.3f}, "
          f"max {max(ratios):.3f}), target <= 1.10; same PNG: {a == b}")


if __name__ == "__main__":
    main()
