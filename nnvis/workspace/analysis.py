"""Everything computed from a workspace, each artifact fetched from the store or computed
once and stored under the key of what produced it. The dashboard reads through this class;
the model and the data set are loaded only on a cache miss."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from nnvis.data.datasets import ImageDataset
from nnvis.data.images import to_png
from nnvis.data.preprocess import load_data
from nnvis.errors import NNVisError, NotCaptured
from nnvis.models.activations import capture, input_activations
from nnvis.models.feature_maps import layer_shape
from nnvis.models.layers import INPUT_LAYER
from nnvis.models.layout import parse_layouts
from nnvis.models.zoo import LoadedModel, build_model
from nnvis.progress import Progress, no_progress
from nnvis.projection.gpu import uses_gpu_engine
from nnvis.projection.knn import graph_space, knn_graph
from nnvis.projection.methods import check_method, default_jobs, neuron_projection, project
from nnvis.projection.metrics import (
    accuracy,
    faithfulness,
    neighborhood_hit,
)
from nnvis.projection.neurons import DEFAULT_SCORING, class_means, live_units, neuron_scores
from nnvis.workspace import keys
from nnvis.workspace.model_cache import MODELS, model_key
from nnvis.workspace.store import Arrays, ArtifactKey
from nnvis.workspace.stored import StoredWorkspace
from nnvis.workspace.workspace import OBSERVATIONS, SUBSET_ALL, Workspace

SPILL_BYTES = 256 * 2**20  # a captured layer larger than this is streamed to disk, never held in memory


def pool_splits(dataset: ImageDataset, observations: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """(images, labels) of the splits making up the pool, in pool order: the test split, then
    for "all" the train split (split code 0 test, 1 train)."""
    splits = [(dataset.test_images, dataset.test_labels)]
    if observations == "all":
        if dataset.train_images is None:
            raise NNVisError(f"--observations all needs a train split, but dataset '{dataset.name}' has only "
                             f"its {len(dataset.test_labels)} test images; provide the train files or use "
                             "--observations test")
        splits.append((dataset.train_images, dataset.train_labels))
    return splits


def pool_size(dataset: ImageDataset, observations: str) -> int:
    """How many observations the pool of `observations` holds."""
    return sum(len(labels) for _, labels in pool_splits(dataset, observations))


def subset_indices(n_pool: int, subset: int, seed: int, observations: str = "test") -> np.ndarray:
    """The observations of the pool shown in every view: a seeded random sample, sorted."""
    if subset > n_pool:
        raise NNVisError(f"--subset {subset} is larger than {OBSERVATIONS[observations]} ({n_pool} observations); "
                         f"allowed: 1..{n_pool} or {SUBSET_ALL}")
    return np.sort(np.random.default_rng(seed).permutation(n_pool)[:subset])


def take_from_pool(dataset: ImageDataset, observations: str, index: np.ndarray) -> Arrays:
    """Images, labels, `index` (into the pool) and split (uint8: 0 test, 1 train) of the pool
    observations at `index`."""
    splits = pool_splits(dataset, observations)
    starts = np.cumsum([0] + [len(labels) for _, labels in splits])
    split = (np.searchsorted(starts, index, side="right") - 1).astype(np.uint8)
    images = np.empty((len(index), *dataset.image_shape), dtype=np.uint8)
    labels = np.empty(len(index), dtype=np.int64)
    for code, (split_images, split_labels) in enumerate(splits):
        here = split == code
        images[here] = split_images[index[here] - starts[code]]
        labels[here] = split_labels[index[here] - starts[code]]
    return {"images": images, "labels": labels, "index": index, "split": split}


class Analysis(StoredWorkspace):
    """Cached computations over one workspace (create one per job or request; holds no
    state shared between processes)."""

    def __init__(self, workspace: Workspace, *, dataset: ImageDataset | None = None,
                 progress: Progress = no_progress, device: str | None = None):
        super().__init__(workspace, device=device)
        self.progress = progress
        self._dataset = dataset
        self._models: dict[int, LoadedModel] = {}
        self.captures = True  # False in a web request: a missing capture is a NotCaptured error, not a forward pass

    # ---- lazily loaded inputs (cache misses only)
    @property
    def dataset(self) -> ImageDataset:
        if self._dataset is None:
            self._dataset = load_data(self.config, cache_dir=self.workspace.path / "data")
        return self._dataset

    def model(self, epoch: int) -> LoadedModel:
        """The model with the weights of `epoch`: from the process's model cache (keyed by the
        workspace and the weights hash), built and loaded on a miss."""
        if epoch not in self._models:
            weights = self.manifest["weights"].get(str(epoch))
            if weights is None:
                return self.build_model(epoch)  # load_snapshot names the epochs there are
            key = model_key(self.workspace.path, weights, self.config.model, self.preprocess)
            self._models[epoch] = MODELS.get(key, lambda: self.build_model(epoch))
        return self._models[epoch]

    def build_model(self, epoch: int) -> LoadedModel:
        """A new model with the weights of `epoch` read from its snapshot (checked against its hash)."""
        torch.manual_seed(self.config.seed)
        loaded = build_model(self.config.model, image_shape=tuple(self.manifest["image_shape"]),
                             n_classes=int(self.manifest.get("n_outputs", len(self.classes))))
        loaded.module.load_state_dict(self.workspace.load_snapshot(epoch))
        loaded.preprocess = self.preprocess
        loaded.layouts = parse_layouts(self.config.layout)
        return loaded

    # ---- artifacts
    def subset(self) -> Arrays:
        """The subset's images (uint8), labels, indices into the pool and split (0 test, 1 train)."""
        observations = self.config.observations

        def compute() -> Arrays:
            n_pool = pool_size(self.dataset, observations)
            index = subset_indices(n_pool, self.config.subset, self.config.seed, observations)
            return take_from_pool(self.dataset, observations, index)
        found = self.store.get_or_compute(keys.subset(self), compute)
        if "split" not in found:  # stored before pools other than the test split existed
            found = {**found, "split": np.zeros(len(found["index"]), dtype=np.uint8)}
        return found

    def predictions(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """Predicted class and its probability for every subset observation at `epoch`."""
        table = self.prediction_table(epoch)
        return table[:, 0].astype(np.int64), np.asarray(table[:, 1])

    def prediction_table(self, epoch: int) -> np.ndarray:
        """(predicted class, its probability) per observation, float32 (N, 2), memory-mapped: a
        hover reads one row instead of every observation's class probabilities."""
        def compute() -> np.ndarray:
            p = self.probabilities(epoch)
            return np.column_stack([p.argmax(axis=1), p.max(axis=1)]).astype(np.float32)
        return self.store.mapped_array(keys.prediction_table(self, epoch), compute)

    def thumbnail(self, index: int, size: int = 96) -> bytes:
        """PNG of subset observation `index`, upscaled with crisp pixels; cached in the store."""
        if not 0 <= index < self.config.subset:
            raise NNVisError(f"observation {index} is outside the subset (0..{self.config.subset - 1})")
        key = keys.thumbnail(self, index, size)
        return self.store.get_or_compute_bytes(key, lambda: to_png(self.subset_image(index), size))

    def subset_image(self, index: int) -> np.ndarray:
        """One image of the subset, read alone from the stored subset where it is memory-mapped."""
        return np.asarray(self.subset_images()[index])

    def subset_images(self) -> np.ndarray:
        """The subset's images, memory-mapped from the store's file where it keeps them in one (a
        capture then reads a batch at a time, and the data set is not loaded); else as `subset`."""
        mapped = self.store.mapped_member(keys.subset(self), "images")
        return mapped if mapped is not None else self.subset()["images"]

    @cached_property
    def labels(self) -> np.ndarray:
        """True classes of the subset (a small artifact of their own: no image is read)."""
        found = self.store.get_or_compute(keys.subset_labels(self), lambda: {"labels": self.subset()["labels"]})
        return found["labels"]

    def activations_by_unit(self, layer: str, epoch: int) -> np.ndarray:
        """The layer's activations as a memory-mapped, read-only units x observations array
        (float16): reading one unit's row reads only that row from disk."""
        key = keys.activations_by_unit(self, self.check_layer(layer), epoch)
        return self.store.mapped_transpose(key, lambda: self.mapped_activations(layer, epoch))

    def mapped_activations(self, layer: str, epoch: int) -> np.ndarray:
        """The layer's activations (observations x units) memory-mapped from the store's file where
        the store holds them in one (an uncompressed .npz, as it writes them); else as
        `activations` reads them (small values are kept inside the store's database)."""
        self.check_layer(layer)
        key = keys.activations(self, layer, -1 if layer == INPUT_LAYER else epoch)
        mapped = self.store.mapped_member(key, "x")
        return self.activations(layer, epoch) if mapped is None else mapped

    def unit_activations(self, layer: str, epoch: int, unit: int) -> np.ndarray:
        """Activations (float32) of one unit over the subset (a neuron click reads only these)."""
        by_unit = self.activations_by_unit(layer, epoch)
        if not 0 <= unit < len(by_unit):
            raise NNVisError(f"unit {unit} does not exist at layer {layer}; allowed: 0..{len(by_unit) - 1}")
        return np.asarray(by_unit[unit], dtype=np.float32)

    def activations(self, layer: str, epoch: int) -> np.ndarray:
        """Activations (float16, observations x units) of the subset at `layer` and `epoch`."""
        self.check_layer(layer)
        if layer == INPUT_LAYER:
            key = keys.activations(self, INPUT_LAYER, -1)
            return self.store.get_or_compute(key, lambda: {"x": input_activations(self.subset()["images"])})["x"]
        key = keys.activations(self, layer, epoch)
        found = self.store.get(key)
        return (self.capture_epoch(epoch, key) if found is None else found)["x"]

    def capture_epoch(self, epoch: int, wanted: ArtifactKey | None = None) -> Arrays:
        """One forward pass of the subset storing every captured layer and the probabilities;
        returns the artifact `wanted` (default: the probabilities). Runs under the store's lock
        of the epoch's probabilities (written last), and looks for `wanted` once it holds it: two
        workers asking at once capture the epoch once, the second reads what the first stored."""
        done = keys.probabilities(self, epoch)
        wanted = wanted or done
        if not self.captures and not self.store.read_only:  # (a read-only store says it is read-only)
            raise NotCaptured(f"the activations of epoch {epoch} are not captured: the run that made this workspace "
                              "did not finish. Finish it with `nnvis run` (it resumes where it stopped), or open the "
                              "projection of this layer and epoch, which captures them in the background.")
        with self.store.computing(done):
            found = self.store.get(wanted)
            if found is not None:
                return found
            with self.store.scratch() as scratch:  # layers over SPILL_BYTES: .npy files there, streamed
                acts, probabilities = capture(self.model(epoch), self.subset_images(), self.layers,
                                              device=self.device, precision=self.config.precision,
                                              progress=self.progress, tokens=self.config.tokens,
                                              layouts=parse_layouts(self.config.layout), spill_to=scratch,
                                              spill_bytes=SPILL_BYTES)
                kept = {done: {"p": probabilities}}
                for layer, x in acts.items():
                    key = keys.activations(self, layer, epoch)
                    if isinstance(x, np.memmap):  # spilled: streamed into the store, read back mapped
                        self.store.put_files(key, {"x": Path(x.filename)})
                    else:
                        self.store.put(key, {"x": x})
                        kept[key] = {"x": x}
                self.store.put(done, kept[done])  # the probabilities last: they mark the epoch as captured
        if wanted in kept:
            return kept[wanted]
        mapped = self.store.mapped_member(wanted, "x")
        return {"x": mapped} if mapped is not None else self.store.get(wanted)

    def layer_shape(self, layer: str) -> tuple[int, ...]:
        """One image's output shape at `layer`: (C,H,W) for feature maps, else (D,). Stored by
        `nnvis run`; a miss is one forward pass of a blank image at the last epoch."""
        key = keys.layer_shape(self, self.check_layer(layer))
        found = self.store.get_or_compute(key, lambda: {"shape": np.array(layer_shape(
            self.model(self.epochs[-1]), layer, tuple(self.manifest["image_shape"]), self.device))})
        return tuple(int(n) for n in found["shape"])

    def captured(self, epoch: int) -> bool:
        """Whether the subset's activations at `epoch` are stored (the probabilities, written last)."""
        return keys.probabilities(self, epoch) in self.store

    def probabilities(self, epoch: int) -> np.ndarray:
        """Class probabilities (float32) of the subset at `epoch`."""
        key = keys.probabilities(self, epoch)
        found = self.store.get(key)
        return (self.capture_epoch(epoch, key) if found is None else found)["p"]

    def stored_accuracy(self, epoch: int) -> float | None:
        """The test accuracy at `epoch` if it is stored, else None (computes nothing)."""
        found = self.store.get(keys.accuracy(self, epoch))
        return None if found is None else float(found["accuracy"])

    def test_accuracy(self, epoch: int) -> float:
        """Top-1 accuracy on the full test split at `epoch` (a forward pass of the whole test
        split on a miss: never in a web request, where it is a NotCaptured error)."""
        if not self.captures and not self.store.read_only and self.stored_accuracy(epoch) is None:
            raise NotCaptured(f"the test accuracy of epoch {epoch} is not computed yet: opening the projection "
                              "computes it in the background, as `nnvis run` does")

        def compute() -> Arrays:
            _, p = capture(self.model(epoch), self.dataset.test_images, [], device=self.device,
                           batch_size=1024, progress=self.progress)
            return {"accuracy": np.float64(accuracy(p, self.dataset.test_labels))}
        return float(self.store.get_or_compute(keys.accuracy(self, epoch), compute)["accuracy"])

    def projection(self, layer: str, epoch: int, method: str | None = None) -> Arrays:
        """2-D points of the subset at `layer`/`epoch` and the per-point neighborhood hit (k=6)."""
        method = check_method(method or self.config.projection)
        epoch = -1 if layer == INPUT_LAYER else epoch
        key = self.projection_key(layer, epoch, method)

        def compute() -> Arrays:
            x = self.activations(layer, epoch)
            on_graph = method != "pca" and not uses_gpu_engine(method, self.device)
            space = graph_space(x, seed=self.config.seed) if on_graph else x  # reduced once, for both
            graph = self.knn_graph(layer, epoch, space) if on_graph else None
            stage = f"{method} of {layer}"
            self.progress(stage, 0, 1)
            points = project(space, method, seed=self.config.seed, device=self.device, graph=graph,
                             steps=lambda done, total: self.progress(stage, done, total), labels=self.labels)
            self.progress(stage, 1, 1)
            self.store.put(self.faithfulness_key(layer, epoch, method), self.measure_faithfulness(x, points))
            return {"points": points, "nh": neighborhood_hit(points, self.labels).astype(np.float32)}
        return self.store.get_or_compute(key, compute)

    def knn_graph(self, layer: str, epoch: int, space: np.ndarray | None = None) -> Arrays:
        """The neighbour graph that t-SNE and UMAP of `layer`/`epoch` share (`nnvis.projection.knn`):
        "indices" and "distances" (N, GRAPH_K), found once in the layer's graph space (`space`,
        that space when the caller has reduced the layer already)."""
        epoch = -1 if layer == INPUT_LAYER else epoch

        def compute() -> Arrays:
            self.progress(f"neighbours of {layer}", 0, 1)
            reduced = space if space is not None else graph_space(self.activations(layer, epoch), seed=self.config.seed)
            graph = knn_graph(reduced, seed=self.config.seed, n_jobs=default_jobs())
            self.progress(f"neighbours of {layer}", 1, 1)
            return graph
        return self.store.get_or_compute(keys.knn_graph(self, layer, epoch), compute)

    def measure_faithfulness(self, activations: np.ndarray, points: np.ndarray) -> Arrays:
        return faithfulness(activations, points, seed=self.config.seed, device=self.device,
                            max_observations=self.faithfulness_sample())

    def faithfulness(self, layer: str, epoch: int, method: str | None = None) -> Arrays:
        """Trustworthiness and continuity (k = 7, 15) of the projection at `layer`/`epoch`:
        stored with every projection computed since they exist, measured (once) on first read
        for projections stored before. Arrays "k", "trustworthiness", "continuity", "observations"."""
        def compute() -> Arrays:
            points = self.projection(layer, epoch, method)["points"]
            return self.measure_faithfulness(self.activations(layer, epoch), points)
        return self.store.get_or_compute(self.faithfulness_key(layer, epoch, method), compute)

    def neighborhood_hit(self, layer: str, epoch: int, method: str | None = None) -> float:
        return float(self.projection(layer, epoch, method)["nh"].mean())

    def neuron_map_key(self, layer: str, epoch: int, scoring: str = DEFAULT_SCORING,
                       seed: int | None = None) -> ArtifactKey:
        return keys.neuron_map(self, layer, epoch, scoring, seed)

    def neuron_map(self, layer: str, epoch: int, scoring: str = DEFAULT_SCORING, seed: int | None = None) -> Arrays:
        """The neurons of `layer`/`epoch`: `positions` (MDS over 1 - |r|; NaN for a dead neuron),
        `scores` (classes x units, by `scoring`: see nnvis.projection.neurons), `live` (whether the
        neuron's activation varies over the subset) and `class_means` (classes x units)."""
        seed = self.config.seed if seed is None else int(seed)
        key = self.neuron_map_key(layer, epoch, scoring, seed)

        def compute() -> Arrays:
            x = self.activations(layer, epoch)
            n_classes = len(self.classes)
            return {"positions": neuron_projection(x, seed=seed), "live": live_units(x),
                    "scores": neuron_scores(x, self.labels, n_classes, scoring, seed=seed),
                    "class_means": class_means(x, self.labels, n_classes)}
        return self.store.get_or_compute(key, compute)


def faithfulness_summary(analysis: Analysis) -> dict:
    """Trustworthiness and continuity of every stored view, shaped like `nnvis summary`'s "nh"
    (layer -> epoch -> value): at k = 7 under "trustworthiness" and "continuity", at k = 15
    under "trustworthiness_k15" and "continuity_k15"; "faithfulness_observations": how many
    observations they were measured on (a seeded sample when fewer than the subset)."""
    names = {"trustworthiness": ("trustworthiness", 0), "continuity": ("continuity", 0),
             "trustworthiness_k15": ("trustworthiness", 1), "continuity_k15": ("continuity", 1)}
    figures: dict = {name: {} for name in names}
    views = [(INPUT_LAYER, [0])] + [(layer, analysis.epochs) for layer in analysis.layers]
    used = 0
    for layer, epochs in views:
        for epoch in epochs:
            found = analysis.faithfulness(layer, epoch)
            used = int(found["observations"])
            for name, (measure, i) in names.items():
                figures[name].setdefault(layer, {})[str(epoch)] = float(found[measure][i])
    return {**figures, "faithfulness_observations": used}
