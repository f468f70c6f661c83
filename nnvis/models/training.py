"""Training with weight snapshots: epoch 0 is the untrained model, then after every
`snapshot_every` epochs and always after the last."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

from nnvis.models.zoo import LoadedModel
from nnvis.progress import Progress, no_progress


@dataclass(frozen=True)
class TrainSettings:
    """Optimiser settings; all of them are part of what a snapshot's cache key depends on."""

    epochs: int = 3
    batch_size: int = 128
    learning_rate: float = 1e-3
    seed: int = 0
    snapshot_every: int = 1


def snapshot_epochs(settings: TrainSettings) -> list[int]:
    """The epochs that get a snapshot: 0, every `snapshot_every`, and the last."""
    every = max(1, settings.snapshot_every)
    epochs = list(range(0, settings.epochs + 1, every))
    if epochs[-1] != settings.epochs:
        epochs.append(settings.epochs)
    return epochs


def train(model: LoadedModel, images: np.ndarray, labels: np.ndarray, settings: TrainSettings, *,
          on_snapshot: Callable[[int, nn.Module], None], device: str = "cpu",
          progress: Progress = no_progress) -> None:
    """Train with Adam and cross-entropy, calling `on_snapshot(epoch, module)` at epoch 0 and
    at every snapshot epoch. Deterministic for a given seed on the CPU."""
    module = model.module.to(device)
    wanted = set(snapshot_epochs(settings))
    on_snapshot(0, module)
    if settings.epochs == 0:
        return
    x = model.input_tensor(images)
    y = torch.as_tensor(labels, dtype=torch.long)
    generator = torch.Generator().manual_seed(settings.seed)
    optimiser = torch.optim.Adam(module.parameters(), lr=settings.learning_rate)
    loss_fn = nn.CrossEntropyLoss()
    batches = (len(x) + settings.batch_size - 1) // settings.batch_size
    for epoch in range(1, settings.epochs + 1):
        module.train()
        order = torch.randperm(len(x), generator=generator)
        for b in range(batches):
            index = order[b * settings.batch_size:(b + 1) * settings.batch_size]
            optimiser.zero_grad(set_to_none=True)
            loss = loss_fn(module(x[index].to(device, non_blocking=True)), y[index].to(device, non_blocking=True))
            loss.backward()
            optimiser.step()
            progress(f"epoch {epoch}/{settings.epochs}", b + 1, batches)
        module.eval()
        if epoch in wanted:
            on_snapshot(epoch, module)
