"""`nnvis run`: train (or load) a model, snapshot it, capture, project and measure, storing
every artifact so that a second identical run recomputes nothing."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, replace
from pathlib import Path

import torch

from nnvis.analysis import Analysis, pool_size, subset_indices
from nnvis.datasets import ImageDataset, load_dataset
from nnvis.integrity import readable_manifest, snapshots_intact
from nnvis.layers import INPUT_LAYER, resolve_layers
from nnvis.models import LoadedModel, build_model, weights_hash
from nnvis.progress import Progress, no_progress
from nnvis.training import TrainSettings, snapshot_epochs, train
from nnvis.workspace import DEFAULT_SUBSET, SUBSET_ALL, RunConfig, Workspace, resolve_device


def train_settings(config: RunConfig) -> TrainSettings:
    return TrainSettings(epochs=config.epochs, batch_size=config.batch_size, learning_rate=config.learning_rate,
                         seed=config.seed, snapshot_every=config.snapshot_every)


def training_key(dataset: ImageDataset, model: LoadedModel, config: RunConfig) -> str:
    """What the snapshots depend on: data, architecture, initial weights and optimiser settings."""
    content = {"dataset": dataset.id, "model": config.model, "initial": weights_hash(model.module),
               "train": asdict(train_settings(config))}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]


def resolve_subset(subset: int | str | None, n_pool: int) -> int:
    """The subset size to store: the whole pool for `all`, up to DEFAULT_SUBSET when not given."""
    if subset == SUBSET_ALL:
        return n_pool
    return subset or min(DEFAULT_SUBSET, n_pool)


def prepare(config: RunConfig, workspace: Workspace, progress: Progress = no_progress) -> ImageDataset:
    """Check the inputs, then train and snapshot unless this workspace already holds the
    snapshots of the same training; writes the manifest and returns the loaded data set."""
    config.validate()
    device = resolve_device(config.device)
    dataset = load_dataset(config.dataset, config.data_dir, download=config.download, seed=config.seed)
    n_pool = pool_size(dataset, config.observations)  # fails early on "all" without a train split
    config = replace(config, subset=resolve_subset(config.subset, n_pool))
    subset_indices(n_pool, config.subset, config.seed, config.observations)  # fail early on a bad --subset
    torch.manual_seed(config.seed)
    model = build_model(config.model, image_shape=dataset.image_shape, n_classes=dataset.n_classes,
                        weights=config.weights)
    layers = [layer for layer in resolve_layers(model.module, config.layers) if layer != INPUT_LAYER]
    key = training_key(dataset, model, config)
    epochs = snapshot_epochs(train_settings(config))
    previous = readable_manifest(workspace)  # a damaged manifest or snapshot: trained again (seeded: the same)
    reusable = previous.get("training_key") == key and snapshots_intact(workspace, epochs, previous)
    hashes = previous.get("weights", {}) if reusable else {}
    if not reusable:
        train_images, train_labels = dataset.require_train() if config.epochs > 0 else (None, None)

        def snapshot(epoch: int, module: torch.nn.Module) -> None:
            workspace.save_snapshot(epoch, module)
            hashes[str(epoch)] = weights_hash(module)

        train(model, train_images, train_labels, train_settings(config), on_snapshot=snapshot,
              device=device, progress=progress)
    workspace.write_manifest({
        "config": asdict(config), "training_key": key, "dataset_id": dataset.id,
        "classes": list(dataset.classes), "image_shape": list(dataset.image_shape),
        "n_test": len(dataset.test_labels), "layers": layers, "epochs": epochs, "weights": hashes,
    })
    return dataset


def run(config: RunConfig, workspace_dir: str | Path, progress: Progress = no_progress, *,
        neuron_maps: str = "all") -> Workspace:
    """Prepare the workspace, then compute accuracy, projections and NH for every snapshot and
    layer (and the `input` pseudo-layer once), and the neuron maps of every epoch (`all`) or
    of the last one only (`last`; the others are computed when first asked for)."""
    workspace = Workspace(workspace_dir)
    dataset = prepare(config, workspace, progress)
    analysis = Analysis(workspace, dataset=dataset, progress=progress)
    analysis.projection(INPUT_LAYER, 0)
    jobs = [(epoch, layer) for epoch in analysis.epochs for layer in analysis.layers]
    for done, (epoch, layer) in enumerate(jobs, start=1):
        analysis.test_accuracy(epoch)
        analysis.projection(layer, epoch)
        if neuron_maps == "all" or epoch == analysis.epochs[-1]:
            analysis.neuron_map(layer, epoch)
        progress("project", done, len(jobs))
    return workspace


def summary(workspace: Workspace) -> dict:
    """The workspace's figures as one JSON-ready dict (see `nnvis summary`)."""
    analysis = Analysis(workspace)
    config = analysis.config
    nh = {INPUT_LAYER: {"0": analysis.neighborhood_hit(INPUT_LAYER, 0)}}
    for layer in analysis.layers:
        nh[layer] = {str(e): analysis.neighborhood_hit(layer, e) for e in analysis.epochs}
    return {
        "dataset": config.dataset, "model": config.model, "observations": config.observations,
        "subset": config.subset, "projection": config.projection, "hidden_layers": analysis.layers,
        "epochs": analysis.epochs,
        "accuracy": {str(e): analysis.test_accuracy(e) for e in analysis.epochs}, "nh": nh,
    }
