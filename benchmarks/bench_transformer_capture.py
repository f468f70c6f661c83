"""Token-aware capture of a ViT-B/16 at 224x224 against the plain forward pass: the default
layers (8 encoder blocks spread over 12, and the class token the head reads, by pre-hook)
reduced to their class token per image, as `nnvis run` captures them.

    .venv/bin/python benchmarks/bench_transformer_capture.py [--batch 8] [--batches 3]
        [--device cpu|cuda] [--json OUT]

Random weights (seeded; nothing downloads), random uint8 images. One warm-up batch of each
is excluded; then the plain forward passes and the captures alternate, batch for batch, so
that a change of load hits both alike. Reports images per second of each and their ratio
(target: capture at least 0.8x the plain forward's throughput), with the machine and load.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np
import torch
import torchvision

from nnvis.models.activations import capture
from nnvis.models.layers import default_layers
from nnvis.models.zoo import LoadedModel

TARGET = 0.8


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--batches", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json")
    args = parser.parse_args()
    torch.manual_seed(0)
    model = LoadedModel(torchvision.models.vit_b_16().eval(), "vit_b_16", 3)
    images = np.random.default_rng(0).integers(0, 256, (args.batch, 224, 224, 3), dtype=np.uint8)
    layers = default_layers(model.module, model.input_tensor(images[:1]))
    module = model.module.to(args.device)

    @torch.no_grad()
    def plain() -> None:
        module(model.input_tensor(images).to(args.device))
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()

    def captured() -> None:
        capture(model, images, layers, device=args.device, batch_size=args.batch, tokens="cls")

    plain(), captured()  # warm-up
    times = {"plain": [], "capture": []}
    for _ in range(args.batches):
        for name, fn in (("plain", plain), ("capture", captured)):
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    rates = {name: args.batch * len(t) / sum(t) for name, t in times.items()}
    result = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch "
                         f"{torch.__version__} ({torch.get_num_threads()} threads), device {args.device}",
              "load_1min_before_after": os.getloadavg()[0], "layers": layers, "batch": args.batch,
              "batches": args.batches, "seconds": times, "images_per_s": rates,
              "ratio": rates["capture"] / rates["plain"], "target": TARGET}
    print(f"ViT-B/16 224x224, batch {args.batch} x {args.batches}, {len(layers)} layers ({result['machine']})")
    print(f"plain forward {rates['plain']:.2f} img/s, capture {rates['capture']:.2f} img/s: ratio "
          f"{result['ratio']:.3f} (target >= {TARGET}); load {os.getloadavg()[0]:.1f}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(result, out, indent=2)


if __name__ == "__main__":
    main()
