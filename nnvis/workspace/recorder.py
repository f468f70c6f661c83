"""Record a training loop one writes oneself, as TensorBoard's SummaryWriter does:

    with Recorder("ws/mine", model, dataset="npz", data_dir="data.npz", normalize=(MEAN, STD)) as rec:
        for epoch in range(n):
            train_one_epoch(model)
            rec.snapshot(epoch)          # cheap: saves the weights
    # leaving the block captures, projects and measures, as `nnvis run --checkpoints` does

The snapshots go to <workspace>/snapshots/epoch_NNNN.pt, where the workspace keeps its snapshots
(one copy of each state_dict); leaving the block runs the pipeline on that folder, so the
workspace is the one `nnvis run --checkpoints` makes from the same files.
An exception inside the block leaves the snapshots and computes nothing.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import torch
from torch import nn

from nnvis.data.preprocess import normalize_text
from nnvis.errors import NNVisError
from nnvis.models.zoo import model_from_factory
from nnvis.progress import Progress, no_progress
from nnvis.workspace.workspace import RunConfig, Workspace

CHECKPOINTS = "snapshots"  # the workspace's own snapshot folder: the run rewrites each file in place


def model_spec_of(model: nn.Module) -> str:
    """`module:Class` of the model's class, for a class importable from a module and built without arguments."""
    cls = type(model)
    return f"{cls.__module__}:{cls.__qualname__}"


def check_spec(spec: str, model: nn.Module) -> None:
    """NNVisError unless `spec` builds a model with the same parameter names and shapes as `model`."""
    hint = ("; pass model_spec='module:function', a function without arguments that builds this architecture "
            "(nnvis rebuilds the model from it to load each snapshot)")
    if spec.startswith("__main__:"):
        raise NNVisError(f"the model's class {spec.split(':', 1)[1]} is defined in a script, not an importable "
                         f"module{hint}")
    try:
        built = model_from_factory(spec)
    except (NNVisError, TypeError) as error:
        raise NNVisError(f"cannot rebuild the model from '{spec}' ({error}){hint}") from None
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    if {k: tuple(v.shape) for k, v in built.state_dict().items()} != shapes:
        raise NNVisError(f"'{spec}' builds a model whose parameters differ from the recorded model's{hint}")


class Recorder:
    """Snapshots of `model` during the caller's own training, made into a workspace on exit.
    Keyword arguments are `nnvis run`'s (RunConfig fields: dataset, data_dir, layers, subset,
    projection, device, seed, ...; `neuron_maps` "all" or "last"); `normalize` may be a
    (mean, std) pair of sequences."""

    def __init__(self, workspace: str | Path, model: nn.Module, *, dataset: str, model_spec: str | None = None,
                 normalize=None, progress: Progress = no_progress, neuron_maps: str = "all", **options):
        allowed = {f.name for f in fields(RunConfig)} - {"dataset", "model", "normalize", "checkpoints", "weights"}
        unknown = sorted(set(options) - allowed)
        if unknown:
            raise NNVisError(f"unknown Recorder option(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
        self.model, self.workspace, self.progress = model, Workspace(workspace), progress
        self.neuron_maps = neuron_maps
        spec = model_spec or model_spec_of(model)
        check_spec(spec, model)
        self.config = RunConfig(dataset=dataset, model=spec, normalize=normalize_text(normalize),
                                checkpoints=str(self.workspace.path / CHECKPOINTS), **options).validate()
        self.epochs: list[int] = []

    def snapshot(self, epoch: int) -> Path:
        """Save the model's current weights as those of `epoch` (a whole number, each once)."""
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise NNVisError(f"snapshot epoch {epoch!r} is invalid; allowed: a whole number >= 0")
        if epoch in self.epochs:
            raise NNVisError(f"epoch {epoch} was already recorded; allowed: each epoch once")
        path = self.workspace.path / CHECKPOINTS / f"epoch_{epoch:04d}.pt"
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}, path)
        self.epochs.append(epoch)
        return path

    def __enter__(self) -> "Recorder":
        return self

    def __exit__(self, kind, error, traceback) -> bool:
        if kind is None:
            self.close()
        return False

    def show(self, page: str = "/", **options) -> str:
        """The finished workspace's dashboard inline in a notebook (`nnvis.show`)."""
        from nnvis.integrations.notebook import show

        return show(self.workspace.path, page, **options)

    def close(self) -> Workspace:
        """Capture, project and measure every recorded snapshot (as `nnvis run --checkpoints`)."""
        from nnvis.workspace.pipeline import run

        if not self.epochs:
            raise NNVisError("no snapshot was recorded; call rec.snapshot(epoch) in the training loop")
        return run(self.config, self.workspace.path, self.progress, neuron_maps=self.neuron_maps)
