"""Activation capture by module path: forward hooks registered in `try`, removed in `finally`,
conv outputs reduced on the device to channel means (Shang's alpha), stored as float16."""

from __future__ import annotations

import numpy as np
import torch

from nnvis.layers import get_module
from nnvis.models import LoadedModel, images_to_tensor
from nnvis.progress import Progress, no_progress


def reduce_output(output) -> torch.Tensor:
    """One row per observation: spatial mean for (N,C,H,W...) maps, as-is for (N,D)."""
    if isinstance(output, (tuple, list)):
        output = output[0]
    output = output.detach()
    if output.ndim > 2:
        output = output.flatten(2).mean(dim=2)
    return output.reshape(output.shape[0], -1)


@torch.no_grad()
def capture(model: LoadedModel, images: np.ndarray, layers: list[str], *, device: str = "cpu",
            batch_size: int = 256, progress: Progress = no_progress) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Activations of `layers` (float16, one row per image) and class probabilities (float32)
    for uint8 `images`, in batches. The model's train/eval mode is restored afterwards."""
    module = model.module
    was_training = module.training
    collected: dict[str, list[torch.Tensor]] = {name: [] for name in layers}
    handles = []
    probabilities = []
    try:
        for name in layers:
            handles.append(get_module(module, name).register_forward_hook(
                lambda _m, _i, out, name=name: collected[name].append(
                    reduce_output(out).to(torch.float16).cpu())))
        module.eval().to(device)
        total = len(images)
        for start in range(0, total, batch_size):
            batch = images_to_tensor(images[start:start + batch_size], model.in_channels).to(device)
            logits = module(batch)
            probabilities.append(torch.softmax(logits.float(), dim=1).cpu())
            progress("capture", min(start + batch_size, total), total)
    finally:
        for handle in handles:
            handle.remove()
        module.train(was_training)
    activations = {name: torch.cat(parts).numpy() for name, parts in collected.items()}
    return activations, torch.cat(probabilities).numpy()


def input_activations(images: np.ndarray) -> np.ndarray:
    """The pseudo-layer `input`: raw pixels in [0, 1], flattened, float16."""
    return (images.reshape(len(images), -1).astype(np.float32) / 255.0).astype(np.float16)
