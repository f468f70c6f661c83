"""The GPU kit's measurements, one stage per process (kit.py starts each with a time limit, so a
slow stage is stopped without losing the others' figures):

    python benchmarks/gpu/stages.py STAGE WORKDIR

A stage reads WORKDIR/config.json and rewrites WORKDIR/STAGE.json after every measurement, so
what it measured before being stopped is kept. Stages: activations (train the paper's MLP one
epoch, capture its last hidden layer for the digits), gpu_projection (nnvis's torchdr t-SNE and
UMAP, with a profile), cpu_reference (openTSNE and umap-learn on the machine's cores),
capture (ResNet-50 capture vs plain forward)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(ROOT), str(HERE.parent)]  # nnvis, and the benchmarks' shared helpers

METHODS = ("tsne", "umap")


class Recorder:
    """A stage's figures, written to WORKDIR/STAGE.json (atomically) after every change."""

    def __init__(self, path: Path):
        self.path, self.data = path, {}

    def __setitem__(self, key: str, value) -> None:
        self.data[key] = value
        self.save()

    def add(self, key: str, item: dict) -> None:
        self.data.setdefault(key, []).append(item)
        self.save()

    def save(self) -> None:
        self.data["modules"] = sorted({name.split(".")[0] for name in sys.modules if not name.startswith("_")})
        partial = self.path.with_suffix(".partial")
        partial.write_text(json.dumps(self.data, indent=1))
        partial.replace(self.path)


def synchronize(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


def timed(function, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - start, result


def load_activations(work: Path) -> tuple[np.ndarray, np.ndarray]:
    return np.load(work / "activations.npy").astype(np.float32), np.load(work / "labels.npy")


def nh(points: np.ndarray, labels: np.ndarray) -> float:
    """Neighborhood hit (k = 6) of a projection, nnvis's measure."""
    from nnvis.projection.metrics import neighborhood_hit

    return round(float(neighborhood_hit(points, labels, k=6).mean()), 4)


def stage_activations(config: dict, work: Path, rec: Recorder) -> None:
    """Train the paper's MLP one epoch on the MNIST train digits (nnvis.models.training), then capture
    its last hidden layer (hidden4, 1000 wide) for test + train digits with nnvis.models.activations."""
    import torch

    from nnvis.data.datasets import load_dataset
    from nnvis.models.activations import capture
    from nnvis.models.training import TrainSettings, train
    from nnvis.models.zoo import build_model
    from nnvis.projection.metrics import accuracy

    device = config["device"]
    data = load_dataset("mnist", config["mnist_dir"])
    train_x, train_y = (a[:config["train_digits"]] for a in data.require_train())
    images = np.concatenate([data.test_images, data.train_images])[:config["large"]]
    labels = np.concatenate([data.test_labels, data.train_labels])[:config["large"]]
    torch.manual_seed(0)
    model = build_model("mlp", image_shape=data.image_shape, n_classes=data.n_classes)
    start = time.perf_counter()
    train(model, train_x, train_y, TrainSettings(epochs=1), on_snapshot=lambda *_: None, device=device)
    synchronize(device)
    rec["train"] = {"digits": len(train_x), "epochs": 1, "seconds": round(time.perf_counter() - start, 3)}
    seconds, (layers, probabilities) = timed(capture, model, images, ["hidden4"], device=device)
    tested = min(len(images), len(data.test_labels))
    rec["capture_hidden4"] = {"digits": len(images), "seconds": round(seconds, 3),
                              "test_accuracy": round(accuracy(probabilities[:tested], labels[:tested]), 4)}
    np.save(work / "activations.npy", layers["hidden4"])
    np.save(work / "labels.npy", labels)
    rec["shape"] = list(layers["hidden4"].shape)


class TorchdrProfile:
    """Where one torchdr fit spends its time: kNN search, the rest of the affinities, the
    optimisation (with the embedding's initialisation) and the transfers around them. Marks are
    taken by wrapping torchdr's own functions for the duration; each mark synchronises the device."""

    def __init__(self, device: str):
        self.device, self.marks, self.knn_s, self.undo = device, {}, 0.0, []

    def mark(self, name: str) -> None:
        synchronize(self.device)
        self.marks.setdefault(name, time.perf_counter())

    def wrap(self, owner, name: str, before: str | None = None, after: str | None = None, knn: bool = False):
        original = owner.__dict__.get(name) if isinstance(owner, type) else getattr(owner, name)
        function = getattr(owner, name)

        def wrapper(*args, **kwargs):
            if before:
                self.mark(before)
            started = time.perf_counter()
            result = function(*args, **kwargs)
            if knn:
                synchronize(self.device)
                self.knn_s += time.perf_counter() - started
            if after:
                self.mark(after)
            return result

        setattr(owner, name, wrapper)
        self.undo.append((owner, name, original))

    def __enter__(self) -> TorchdrProfile:
        import torchdr
        import torchdr.affinity.base
        import torchdr.affinity.knn_normalized

        try:
            for module in (torchdr.affinity.base, torchdr.affinity.knn_normalized):
                if hasattr(module, "pairwise_distances"):
                    self.wrap(module, "pairwise_distances", knn=True)
            for cls in (torchdr.InfoTSNE, torchdr.UMAP):
                self.wrap(cls, "_fit_transform", before="fit_start", after="fit_end")
                self.wrap(cls, "_init_embedding", before="affinity_end")
        except AttributeError:  # another torchdr: measure without the profile
            self.__exit__()
            self.undo = []
        self.mark("start")
        return self

    def __exit__(self, *_) -> None:
        for owner, name, original in reversed(self.undo):
            if original is None:
                delattr(owner, name)
            else:
                setattr(owner, name, original)

    def summary(self, total_s: float) -> dict | None:
        """Seconds per part (None when a mark is missing: torchdr changed its internals)."""
        m = self.marks
        if not {"start", "fit_start", "affinity_end", "fit_end"} <= m.keys():
            return None
        parts = {"to_device_and_checks": m["fit_start"] - m["start"], "knn": self.knn_s,
                 "affinities_without_knn": m["affinity_end"] - m["fit_start"] - self.knn_s,
                 "optimisation": m["fit_end"] - m["affinity_end"],
                 "to_host_and_normalise": total_s - (m["fit_end"] - m["start"])}
        return {key: round(value, 4) for key, value in parts.items()}


def nnvis_engine(x: np.ndarray, method: str, config: dict) -> np.ndarray:
    """nnvis's GPU path: `project(..., device="cuda")`; in the CPU smoke run, the same torchdr
    code on the CPU (fewer iterations), since `project` on the CPU uses openTSNE / umap-learn."""
    from nnvis.projection.gpu import torchdr_project, uses_gpu_engine
    from nnvis.projection.methods import normalise, project

    if uses_gpu_engine(method, config["device"]):
        return project(x, method, device=config["device"])
    return normalise(torchdr_project(x, method, device=config["device"], max_iter=config["torchdr_max_iter"]))


def stage_gpu_projection(config: dict, work: Path, rec: Recorder) -> None:
    """nnvis t-SNE and UMAP through torchdr: a warm-up each, then the large set (`repeats`
    times) and the small one, with NH and a profile of every run."""
    import torch

    x, labels = load_activations(work)
    device = config["device"]
    seconds, _ = timed(lambda: (torch.from_numpy(x).to(device), synchronize(device)))
    rec["host_to_device"] = {"rows": len(x), "mib": round(x.nbytes / 2**20, 1), "seconds": round(seconds, 4)}
    for method in METHODS if config["warmup"] else ():  # CUDA context, kernels, allocator
        seconds, _ = timed(nnvis_engine, x[:config["warmup"]], method, config)
        rec.add("warmup", {"method": method, "n": config["warmup"], "seconds": round(seconds, 3)})
    schedule = [(n, method, 0) for n in (config["large"], config["small"]) for method in METHODS]
    schedule += [(config["large"], method, r) for r in range(1, config["repeats"]) for method in METHODS]
    for n, method, repeat in schedule:  # every figure once before any repeat
        try:
            with TorchdrProfile(device) as profile:
                seconds, points = timed(nnvis_engine, x[:n], method, config)
        except Exception as error:  # e.g. out of memory: keep going with the next one
            rec.add("errors", {"n": n, "method": method, "error": f"{type(error).__name__}: {error}"[:500]})
            continue
        rec.add("runs", {"n": n, "method": method, "repeat": repeat, "seconds": round(seconds, 3),
                         "nh": nh(points, labels[:n]), "profile": profile.summary(seconds)})


def stage_cpu_reference(config: dict, work: Path, rec: Recorder) -> None:
    """The CPU references on all the machine's cores, the small set first: openTSNE through
    nnvis's CPU path (`project(..., n_jobs=cores)`: perplexity 30, FFT gradients from 5,000
    points) and umap-learn (15 neighbours, unseeded so that it runs in parallel). A warm-up on a
    few points first compiles umap-learn's numba kernels."""
    import umap

    from nnvis.projection.methods import normalise, project

    x, labels = load_activations(work)
    cores = config["cores"]
    engines = {"tsne": ("openTSNE", lambda data: project(data, "tsne", n_jobs=cores)),
               "umap": ("umap-learn", lambda data: normalise(umap.UMAP(n_neighbors=15, n_jobs=cores)
                                                             .fit_transform(data)))}
    if config["warmup"]:
        seconds, _ = timed(engines["umap"][1], x[:config["warmup"]])
        rec.add("warmup", {"method": "umap", "n": config["warmup"], "seconds": round(seconds, 3)})
    for n in (config["small"], config["large"]):
        for method, (library, engine) in engines.items():
            try:
                seconds, points = timed(engine, x[:n])
            except Exception as error:
                rec.add("errors", {"n": n, "method": method, "error": f"{type(error).__name__}: {error}"[:500]})
                continue
            rec.add("runs", {"n": n, "method": method, "library": library, "cores": cores,
                             "seconds": round(seconds, 3), "nh": nh(points, labels[:n])})


def mnist_images(config: dict, count: int, size: int) -> np.ndarray:
    """`count` MNIST test digits (repeated as needed), resized to size x size, uint8 grey."""
    import torch

    from nnvis.data.datasets import load_dataset

    digits = load_dataset("mnist", config["mnist_dir"]).test_images
    digits = np.concatenate([digits] * (count // len(digits) + 1))[:count]
    out = np.empty((count, size, size), np.uint8)
    for start in range(0, count, 1024):
        chunk = torch.from_numpy(digits[start:start + 1024]).unsqueeze(1).float()
        out[start:start + 1024] = torch.nn.functional.interpolate(chunk, size=size, mode="bilinear")[:, 0] \
            .clamp(0, 255).byte().numpy()
    return out


def stage_capture(config: dict, work: Path, rec: Recorder) -> None:
    """nnvis's capture (channel means of all 16 residual blocks of a random-weight ResNet-50)
    against the plain forward pass, same batches and precision, interleaved (bench_capture's)."""
    import torch
    import torchvision
    from bench_capture import plain_forward, throughput

    from nnvis.models.activations import capture
    from nnvis.models.zoo import LoadedModel

    settings = config["capture"]
    device, batch, precision = config["device"], settings["batch_size"], settings["precision"]
    torch.manual_seed(0)
    model = LoadedModel(torchvision.models.resnet50(num_classes=10), "resnet50", in_channels=3)
    blocks = [name for name, _ in model.module.named_modules() if name.count(".") == 1 and name.startswith("layer")]
    images = mnist_images(config, settings["images"], settings["size"])
    rec["setup"] = {"model": "resnet50 (random weights)", "blocks": len(blocks), "images": len(images),
                    "size": settings["size"], "batch_size": batch, "precision": precision, "device": device}
    warm = images[:batch]
    plain_forward(model, warm, device, batch, precision)
    layers, _ = capture(model, warm, blocks, device=device, batch_size=batch, precision=precision)
    rec["captured"] = {"layers": len(layers), "widths": sorted({a.shape[1] for a in layers.values()}),
                       "finite": bool(all(np.isfinite(a.astype(np.float32)).all() for a in layers.values()))}
    for _ in range(settings["repeats"]):
        rec.add("plain_img_s", {"rate": throughput(lambda: plain_forward(model, images, device, batch, precision),
                                                   len(images), 1)[0]})
        rec.add("capture_img_s", {"rate": throughput(lambda: capture(model, images, blocks, device=device,
                                                                     batch_size=batch, precision=precision),
                                                     len(images), 1)[0]})
        plain = np.median([r["rate"] for r in rec.data["plain_img_s"]])
        rec["ratio_of_medians"] = round(float(np.median([r["rate"] for r in rec.data["capture_img_s"]]) / plain), 4)


STAGES = {"activations": stage_activations, "gpu_projection": stage_gpu_projection, "capture": stage_capture,
          "cpu_reference": stage_cpu_reference}


def main() -> None:
    stage, work = sys.argv[1], Path(sys.argv[2])
    config = json.loads((work / "config.json").read_text())
    rec = Recorder(work / f"{stage}.json")
    rec["started"] = time.time()
    STAGES[stage](config, work, rec)
    rec["finished"] = time.time()


if __name__ == "__main__":
    main()
