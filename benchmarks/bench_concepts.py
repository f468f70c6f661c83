"""Costs of the concepts wing on the CPU: the concept atlas of one layer at one epoch for 2,000
CIFAR-10 images (K = 10), cold and read back from the store, and the faithfulness of 64
observations (`nnvis faithfulness`: deletion/insertion vs random, randomisation check) per method.

    .venv/bin/python benchmarks/bench_concepts.py [--images 2000] [--observations 64]
        [--methods gradient,guided,integrated] [--cifar ../shared/data/cifar10/cifar10_test.npz] [--json OUT]

The model is the small CNN of tests/integration/test_concepts_cifar.py with seeded initial
weights (the cost does not depend on training), loaded with `nnvis run --checkpoints` (not
timed). Each figure is one timed run (these are minutes on a shared 2-CPU machine); the load
average and CPU pressure before and after are printed with them."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def load() -> str:
    pressure = ""
    try:
        pressure = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except OSError:
        pass
    return f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}; cpu pressure {pressure}"


def workspace(folder: Path, cifar: Path, images: int) -> Path:
    from nnvis.workspace.pipeline import run
    from nnvis.workspace.workspace import RunConfig
    from tests.integration.test_concepts_cifar import LAYER, MODEL, NORMALIZE, SmallCNN  # noqa: F401

    with np.load(cifar) as npz:
        x, y = npz["x"], npz["y"].astype(np.int64)
    order = np.random.default_rng(7).permutation(len(y))
    test, train = order[:images], order[images:images + 100]  # the train split is not used (no training)
    data = folder / "cifar.npz"
    np.savez(data, x_train=x[train], y_train=y[train], x_test=x[test], y_test=y[test])
    torch.manual_seed(0)
    (folder / "ckpt").mkdir()
    torch.save(SmallCNN().state_dict(), folder / "ckpt" / "epoch_0.pt")
    path = folder / "ws"
    run(RunConfig(dataset="npz", data_dir=str(data), model=MODEL, checkpoints=str(folder / "ckpt" / "epoch_0.pt"),
                  normalize=NORMALIZE, projection="pca", device="cpu", subset=images, layers="head.2"), path,
        neuron_maps="last")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--observations", type=int, default=64)
    parser.add_argument("--methods", default="gradient,guided,integrated")
    parser.add_argument("--cifar", default=str(ROOT.parent / "shared" / "data" / "cifar10" / "cifar10_test.npz"))
    parser.add_argument("--json")
    args = parser.parse_args()

    from nnvis.concepts import atlas as concepts
    from nnvis.deepvis.faithfulness import Faithfulness, summary
    from nnvis.workspace.analysis import Analysis
    from nnvis.workspace.workspace import Workspace
    from tests.integration.test_concepts_cifar import LAYER

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads), CPU only")
    results: dict = {"images": args.images, "observations": args.observations}
    with tempfile.TemporaryDirectory() as tmp:
        path = workspace(Path(tmp), Path(args.cifar), args.images)
        print(f"before: {load()}")
        analysis = Analysis(Workspace(path), device="cpu")
        request = concepts.Request(analysis, LAYER, 0, 10, 0, args.images)
        start = time.perf_counter()
        found = concepts.atlas(request)
        results["atlas_cold_s"] = time.perf_counter() - start
        start = time.perf_counter()
        concepts.atlas(concepts.Request(Analysis(Workspace(path), device="cpu"), LAYER, 0, 10, 0, args.images))
        results["atlas_stored_s"] = time.perf_counter() - start
        results["atlas_r2"] = float(found["r2"])
        print(f"atlas of {LAYER}, {args.images} images, K = 10: {results['atlas_cold_s']:.1f} s cold, "
              f"{results['atlas_stored_s']:.2f} s read back (new Analysis, model not loaded); {load()}")
        images = analysis.subset()["images"][:args.observations]
        for method in args.methods.split(","):
            start = time.perf_counter()
            figures = summary(method, Faithfulness(analysis.model(0), method).measure(images))
            results[f"faithfulness_{method}_s"] = time.perf_counter() - start
            print(f"faithfulness {method}, {args.observations} observations: "
                  f"{results[f'faithfulness_{method}_s']:.1f} s; {figures}; {load()}")
    results["load_after"] = load()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
