"""`nnvis run`: train (or load) a model, snapshot it, capture, project and measure, storing
every artifact so that a second identical run recomputes nothing."""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import asdict, replace
from pathlib import Path

import torch

from nnvis.data.datasets import ImageDataset
from nnvis.data.preprocess import NORMALIZE_NONE, Preprocess, load_data
from nnvis.errors import NNVisError
from nnvis.models.activations import probe_layouts
from nnvis.models.checkpoints import checkpoint_series
from nnvis.models.hooks import check_inspectable
from nnvis.models.layers import INPUT_LAYER, resolve_layers
from nnvis.models.layout import parse_layouts, resolve_tokens
from nnvis.models.pretrained import is_weight_name, pretrained_preprocessing
from nnvis.models.training import TrainSettings, snapshot_epochs, train
from nnvis.models.zoo import LoadedModel, build_model, load_weights_into, weights_hash
from nnvis.progress import Progress, no_progress
from nnvis.workspace.analysis import Analysis, pool_size, subset_indices
from nnvis.workspace.integrity import readable_manifest, snapshots_intact
from nnvis.workspace.run_lock import holding_workspace_lock
from nnvis.workspace.workspace import DEFAULT_SUBSET, SUBSET_ALL, RunConfig, Workspace, resolve_device


def train_settings(config: RunConfig) -> TrainSettings:
    return TrainSettings(epochs=config.epochs, batch_size=config.batch_size, learning_rate=config.learning_rate,
                         seed=config.seed, snapshot_every=config.snapshot_every)


def training_key(dataset: ImageDataset, model: LoadedModel, config: RunConfig) -> str:
    """What the snapshots depend on: data, architecture, initial weights and optimiser settings
    (and the preprocessing, when it is not the default)."""
    content = {"dataset": dataset.id, "model": config.model, "initial": weights_hash(model.module),
               "train": asdict(train_settings(config)), **model.preprocess.key()}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]


def check_fits(model: LoadedModel, dataset: ImageDataset) -> None:
    """NNVisError naming the data's image shape and the model when one test image cannot go
    through the model (on a copy, so the model and the random state stay untouched)."""
    model.preprocess.check_channels(model.in_channels, dataset.channels)
    shape = "x".join(str(v) for v in dataset.image_shape)
    with torch.random.fork_rng(), torch.no_grad():
        probe = LoadedModel(copy.deepcopy(model.module).eval(), model.spec, model.in_channels, model.preprocess)
        try:
            probe.module(probe.input_tensor(dataset.test_images[:1]))
        except (RuntimeError, ValueError, IndexError) as error:
            detail = " ".join(str(error).split())[:200]
            raise NNVisError(f"model '{model.spec}' (taking {model.in_channels} channel(s)) cannot take the data's "
                             f"{shape} images ({dataset.channels} channel(s)): {detail}; allowed: data of the size and "
                             "channels the model was built for (see --image-size, --crop)") from None


def with_pretrained_preprocessing(config: RunConfig) -> RunConfig:
    """For torchvision weights by name and for timm models, their resize, crop and mean/std where
    the user gave none."""
    timm = config.model.startswith("timm:")
    if not timm and (config.weights is None or not is_weight_name(config.model, config.weights)):
        return config
    given = {"normalize": config.normalize != NORMALIZE_NONE, "image_size": config.image_size is not None,
             "crop": config.crop is not None}
    if timm:
        from nnvis.models.timm_models import timm_preprocessing

        own = timm_preprocessing(config.model)
    else:
        own = pretrained_preprocessing(config.model, config.weights)
    return replace(config, **{name: value for name, value in own.items() if not given[name]})


def load_series(config: RunConfig, model: LoadedModel, workspace: Workspace) -> tuple[list[int], dict[str, str]]:
    """Load each file of `--checkpoints` into the model and keep it as that epoch's snapshot;
    returns the epochs and their weight hashes."""
    hashes = {}
    for epoch, path in checkpoint_series(config.checkpoints).items():
        load_weights_into(model.module, path, config.model)
        workspace.save_snapshot(epoch, model.module)
        hashes[str(epoch)] = weights_hash(model.module)
    return [int(e) for e in hashes], hashes


def resolve_subset(subset: int | str | None, n_pool: int) -> int:
    """The subset size to store: the whole pool for `all`, up to DEFAULT_SUBSET when not given."""
    if subset == SUBSET_ALL:
        return n_pool
    return subset or min(DEFAULT_SUBSET, n_pool)


def prepare(config: RunConfig, workspace: Workspace, progress: Progress = no_progress) -> ImageDataset:
    """Check the inputs, then train and snapshot unless this workspace already holds the
    snapshots of the same training; writes the manifest and returns the loaded data set."""
    config = with_pretrained_preprocessing(config.validate())
    device = resolve_device(config.device)
    dataset = load_data(config, download=config.download, cache_dir=workspace.path / "data")
    n_pool = pool_size(dataset, config.observations)  # fails early on "all" without a train split
    config = replace(config, subset=resolve_subset(config.subset, n_pool))
    subset_indices(n_pool, config.subset, config.seed, config.observations)  # fail early on a bad --subset
    torch.manual_seed(config.seed)
    model = build_model(config.model, image_shape=dataset.image_shape, n_classes=dataset.n_classes,
                        weights=config.weights, download=config.download)
    model.preprocess = Preprocess.of(config)
    model.layouts = parse_layouts(config.layout)
    check_inspectable(model.module)  # before any training: its layers could not be captured after
    check_fits(model, dataset)
    probe = dataset.test_images[:2]
    layers = [layer for layer in resolve_layers(model.module, config.layers, model.input_tensor(probe))
              if layer != INPUT_LAYER]
    layouts = probe_layouts(model, probe, layers, model.layouts)  # a layer capture refuses: now
    config = replace(config, tokens=resolve_tokens(config.tokens, layouts))
    if config.checkpoints is not None:
        epochs, hashes = load_series(config, model, workspace)
        key = hashlib.sha256(json.dumps({"dataset": dataset.id, "model": config.model, "checkpoints": hashes,
                                         **model.preprocess.key()}, sort_keys=True).encode()).hexdigest()[:16]
        reusable = True
    else:
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
        "layouts": {layer: str(layout) for layer, layout in layouts.items()},
        **({"n_outputs": outputs} if (outputs := output_count(model)) not in (None, dataset.n_classes) else {}),
    })
    return dataset


def output_count(model: LoadedModel) -> int | None:
    """Classes of the model's last Linear (a pretrained classifier may have more than the data)."""
    from nnvis.models.layers import last_linear

    classifier = last_linear(model.module)
    return classifier.out_features if classifier is not None else None


@holding_workspace_lock
def run(config: RunConfig, workspace_dir: str | Path, progress: Progress = no_progress, *,
        neuron_maps: str = "all") -> Workspace:
    """Prepare the workspace, then compute accuracy, projections and NH for every snapshot and
    layer (and the `input` pseudo-layer once), and the neuron maps of every epoch (`all`) or
    of the last one only (`last`; the others are computed when first asked for)."""
    workspace = Workspace(workspace_dir)
    dataset = prepare(config, workspace, progress)
    analysis = Analysis(workspace, dataset=dataset, progress=progress)
    jobs = [(epoch, layer) for epoch in analysis.epochs for layer in analysis.layers]
    # one stage for the rest of the run, a view at a time: its captures and projection
    # iterations are steps inside it, so its time left is the run's
    progress("projections", 0, len(jobs) + 1)
    analysis.projection(INPUT_LAYER, 0)
    for layer in analysis.layers:
        analysis.layer_shape(layer)  # whether its units have maps, known without a model when served
    progress("projections", 1, len(jobs) + 1)
    for done, (epoch, layer) in enumerate(jobs, start=2):
        analysis.test_accuracy(epoch)
        analysis.projection(layer, epoch)
        if neuron_maps == "all" or epoch == analysis.epochs[-1]:
            analysis.neuron_map(layer, epoch)
        progress("projections", done, len(jobs) + 1)
    return workspace
