"""Capture throughput: nnvis's capture (hooks on every residual block, channel means on the
device) against the plain forward pass of the same model, batch and precision, in one process.

    .venv/bin/python benchmarks/bench_capture.py                       # CPU: ResNet-50, CIFAR-10 32x32
    .venv/bin/python benchmarks/bench_capture.py --device cuda --precision bfloat16 --size 224 --images 8192

Images are CIFAR-10 test images from ../shared/data (resized with --size). Prints images/s for
each and the ratio capture / plain (the target: >= 0.9 on an H100 in bf16, >= 0.8 on the CPU).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
import torchvision

from nnvis.models.activations import auto_batch_size, capture, check_precision
from nnvis.models.layers import get_module
from nnvis.models.zoo import LoadedModel, images_to_tensor

CIFAR = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10" / "cifar10_test.npz"


def load_images(count: int, size: int) -> np.ndarray:
    """`count` CIFAR-10 test images (repeated if needed) as uint8 (N, size, size, 3)."""
    x = np.load(CIFAR)["x"]
    x = np.concatenate([x] * (count // len(x) + 1))[:count]
    if size != 32:
        resized = torch.nn.functional.interpolate(torch.from_numpy(x).permute(0, 3, 1, 2).float(), size=size,
                                                  mode="bilinear")
        x = resized.clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()
    return np.ascontiguousarray(x)


@torch.no_grad()
def plain_forward(model: LoadedModel, images: np.ndarray, device: str, batch_size: int, precision: str) -> None:
    """The same batches through the same model with no hooks (the baseline)."""
    dtype = check_precision(precision)
    on_gpu = device.startswith("cuda")
    module = model.module.eval().to(device)
    if on_gpu:
        module.to(memory_format=torch.channels_last)
    for start in range(0, len(images), batch_size):
        batch = images_to_tensor(images[start:start + batch_size], 3)
        batch = (batch.pin_memory() if on_gpu else batch).to(device, non_blocking=on_gpu)
        if on_gpu:
            batch = batch.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cuda" if on_gpu else "cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
            torch.softmax(module(batch).float(), dim=1).cpu()
    if on_gpu:
        module.to(memory_format=torch.contiguous_format)
        torch.cuda.synchronize(device)


def throughput(function, count: int, repeats: int) -> list[float]:
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        rates.append(count / (time.perf_counter() - start))
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", default="float32")
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--images", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default="benchmarks/results-capture.json")
    args = parser.parse_args()
    torch.manual_seed(0)
    model = LoadedModel(torchvision.models.resnet50(num_classes=10), "resnet50", in_channels=3)
    blocks = [name for name, _ in model.module.named_modules() if name.count(".") == 1 and name.startswith("layer")]
    assert all(get_module(model.module, name) is not None for name in blocks)
    images = load_images(args.images, args.size)
    warm = images[:args.batch_size]
    plain_forward(model, warm, args.device, args.batch_size, args.precision)  # warm-up (kernels, allocator)
    capture(model, warm, blocks, device=args.device, batch_size=args.batch_size, precision=args.precision)
    plain, captured = [], []
    for _ in range(args.repeats):  # interleaved, so that load changes hit both alike
        plain += throughput(lambda: plain_forward(model, images, args.device, args.batch_size, args.precision),
                            len(images), 1)
        captured += throughput(lambda: capture(model, images, blocks, device=args.device,
                                               batch_size=args.batch_size, precision=args.precision),
                               len(images), 1)
    result = {"machine": f"{platform.machine()} {os.cpu_count()} CPUs, "
                         f"{torch.cuda.get_device_name() if args.device.startswith('cuda') else 'no GPU used'}",
              "model": "resnet50", "hooks": len(blocks), "device": args.device, "precision": args.precision,
              "size": args.size, "images": len(images), "batch_size": args.batch_size,
              "torch_threads": torch.get_num_threads(), "plain_img_s": plain, "capture_img_s": captured,
              "ratio_of_medians": float(np.median(captured) / np.median(plain)), "load_1min": os.getloadavg()[0]}
    if args.device.startswith("cuda"):
        result["auto_batch_size"] = auto_batch_size(model.module, images_to_tensor(images[:8], 3), args.device)
    print(f"{result['machine']}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"load {result['load_1min']:.2f}")
    print(f"ResNet-50, {args.images} images {args.size}x{args.size}, batch {args.batch_size}, {args.precision}, "
          f"{args.device}; capture hooks on {len(blocks)} blocks")
    print(f"plain forward: {np.median(plain):,.1f} img/s (runs {', '.join(f'{r:,.1f}' for r in plain)})")
    print(f"nnvis capture: {np.median(captured):,.1f} img/s (runs {', '.join(f'{r:,.1f}' for r in captured)})")
    print(f"capture / plain: {result['ratio_of_medians']:.3f}")
    with open(args.json, "w") as out:
        json.dump(result, out, indent=2)


if __name__ == "__main__":
    main()
