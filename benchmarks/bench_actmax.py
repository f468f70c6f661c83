"""Activation maximization benchmark: one unit of the paper's MNIST CNN with the default
parameters (ActMaxParams(): 200 steps, 4 restarts side by side), timed on this machine.

    .venv/bin/python benchmarks/bench_actmax.py [--layer output --unit 3] [--train 6000]
        [--device auto|cpu|cuda] [--repeats 3] [--data-dir ../shared/data/mnist] [--json OUT]

The weights are random (seeded) unless --train N trains one epoch on the first N MNIST
training images first (Adam, batch 100; not timed). One short warm-up run (5 steps) is
excluded; the table gives every timed run and their median. Target: under 30 s on a 2-core CPU.
With the MNIST test images at hand it also prints the best activation of the unit over them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from nnvis.models.zoo import build_model, images_to_tensor
from nnvis.unitlab.actmax import ActMaxParams, activation_maximization
from nnvis.workspace.workspace import resolve_device

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 30.0


def machine(device: str) -> str:
    cpu = platform.processor() or platform.machine()
    gpu = torch.cuda.get_device_name(0) if device == "cuda" else "no GPU used"
    return f"{cpu}, {os.cpu_count()} CPUs, torch {torch.__version__} ({torch.get_num_threads()} threads), {gpu}"


def train_briefly(module: torch.nn.Module, data_dir: Path, n: int) -> float:
    """One epoch of Adam on the first `n` MNIST training images; returns the last batch's loss."""
    from nnvis.data.datasets import load_dataset

    mnist = load_dataset("mnist", data_dir)
    x = images_to_tensor(mnist.train_images[:n], 1)
    y = torch.as_tensor(mnist.train_labels[:n], dtype=torch.long)
    optimiser = torch.optim.Adam(module.parameters(), lr=1e-3)
    module.train()
    loss = torch.tensor(float("nan"))
    for start in range(0, n, 100):
        optimiser.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(module(x[start:start + 100]), y[start:start + 100])
        loss.backward()
        optimiser.step()
    module.eval()
    return float(loss.detach())


def best_on_data(model, layer: str, unit: int, data_dir: Path) -> tuple[float, int]:
    """The unit's largest activation over the MNIST test images, and how many there are."""
    from nnvis.data.datasets import load_dataset
    from nnvis.models.activations import capture

    images = load_dataset("mnist", data_dir).test_images
    acts, _ = capture(model, images, [layer], batch_size=1000)
    return float(acts[layer][:, unit].astype("float32").max()), len(images)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layer", default="output")
    parser.add_argument("--unit", type=int, default=3)
    parser.add_argument("--train", type=int, default=0, help="train on this many MNIST images first (0: random)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data" / "mnist"))
    parser.add_argument("--json", default="benchmarks/results-actmax.json")
    args = parser.parse_args()

    device = resolve_device(args.device)
    data_dir = Path(args.data_dir)
    torch.manual_seed(0)
    model = build_model("cnn", image_shape=(28, 28), n_classes=10)
    loss = train_briefly(model.module, data_dir, args.train) if args.train else None
    params = ActMaxParams()
    activation_maximization(model, args.layer, args.unit, (28, 28), ActMaxParams(steps=5), device=device)  # warm-up
    times, result = [], None
    for _ in range(args.repeats):
        start = time.perf_counter()
        result = activation_maximization(model, args.layer, args.unit, (28, 28), params, device=device)
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    data_best, n_test = best_on_data(model, args.layer, args.unit, data_dir) if data_dir.is_dir() else (None, 0)

    report = {"machine": machine(device), "device": device, "date": time.strftime("%Y-%m-%d %H:%M"),
              "load_1min": os.getloadavg()[0], "model": "paper CNN (MNIST 28x28)",
              "weights": f"trained 1 epoch on {args.train} images (last loss {loss:.3f})" if args.train else "random",
              "layer": args.layer, "unit": args.unit, "params": params.as_key(), "times_s": times,
              "median_s": median, "target_s": TARGET_S, "activations": result.activations.tolist(),
              "best_test_image_activation": data_best}
    print(f"machine: {report['machine']}, load {report['load_1min']:.2f}")
    print(f"activation maximization of {args.layer} unit {args.unit}, {report['weights']} weights, "
          f"{params.steps} steps x {params.restarts} restarts on {device}:")
    print("  runs: " + ", ".join(f"{t:.2f} s" for t in times) + f" (warm-up excluded); median {median:.2f} s, "
          f"target < {TARGET_S:.0f} s: {'met' if median < TARGET_S else 'NOT met'}")
    print("  activation per restart: " + ", ".join(f"{a:.4g}" for a in result.activations)
          + (f"; best of the {n_test} MNIST test images: {data_best:.4g}" if data_best is not None else ""))
    with open(args.json, "w") as out:
        json.dump(report, out, indent=2)


if __name__ == "__main__":
    main()
