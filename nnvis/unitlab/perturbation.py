"""Input perturbation (Shang et al.): add zero-mean Gaussian noise of variance v to the input
pixels in [0, 1] (not clipped; before the workspace's normalisation), then compare each
layer's activations (alpha per unit) with the clean ones by cosine similarity, and the
accuracy clean vs noisy. A layer's alpha follows its layout (nnvis.models.layout): a map's
spatial mean per channel (channels first or last), a token layer's chosen tokens (`--tokens`)."""

from __future__ import annotations

import math

import numpy as np
import torch

from nnvis.models.activations import reduce_output
from nnvis.models.hooks import eval_mode, forward_hooks
from nnvis.models.layout import Layout
from nnvis.models.zoo import LoadedModel, images_to_tensor
from nnvis.progress import Progress, no_progress
from nnvis.unitlab.ablation import layer_edit, top_hits
from nnvis.unitlab.similarity import layer_cosine
from nnvis.validation import number


def check_variance(variance: float) -> float:
    return number(variance, "noise variance", 0, detail="allowed: a number >= 0 (default 0.01)")


@torch.no_grad()
def perturbation(model: LoadedModel, images: np.ndarray, labels: np.ndarray, layers: list[str], *,
                 variance: float = 0.01, seed: int = 0, device: str = "cpu", batch_size: int = 256,
                 progress: Progress = no_progress, layouts: dict[str, Layout] | None = None,
                 tokens: str | None = None) -> dict[str, np.ndarray]:
    """`cosine`: per layer, the mean over images of the cosine between clean and noisy
    activations; `top1_clean`, `top1_noisy`, `top5_clean`, `top5_noisy`. The noise is drawn on
    the CPU from `seed`, batch after batch, so it is the same on every device."""
    std = math.sqrt(check_variance(variance))
    seen: dict[str, torch.Tensor] = {}

    def keep(layer: str):
        def read(out, layout):
            seen[layer] = reduce_output(out, layout, tokens if layout.is_tokens else None).float().cpu()
        return layer_edit(model.module, layer, read, layouts)
    hooks = {layer: keep(layer) for layer in layers}
    y = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    generator = torch.Generator().manual_seed(seed)
    sums = np.zeros(len(layers))
    hits = np.zeros(4, dtype=np.int64)  # top1 clean, top1 noisy, top5 clean, top5 noisy
    with eval_mode(model.module, device) as module, forward_hooks(module, hooks):
        for start in range(0, len(images), batch_size):
            pixels = images_to_tensor(images[start:start + batch_size], model.in_channels)
            noise = torch.randn(pixels.shape, generator=generator) * std
            x, noisy = model.preprocess.to_model(pixels), model.preprocess.to_model(pixels + noise)
            target = y[start:start + batch_size].to(device)
            clean_hits = top_hits(module(x.to(device)), target)
            clean = dict(seen)
            noisy_hits = top_hits(module(noisy.to(device)), target)
            hits += np.array([clean_hits[0], noisy_hits[0], clean_hits[1], noisy_hits[1]])
            for i, layer in enumerate(layers):
                sums[i] += layer_cosine(clean[layer].numpy(), seen[layer].numpy()).sum()
            progress("perturb", min(start + batch_size, len(images)), len(images))
    n = len(images)
    return {"layers": np.array(layers), "cosine": sums / n, "top1_clean": np.float64(hits[0] / n),
            "top1_noisy": np.float64(hits[1] / n), "top5_clean": np.float64(hits[2] / n),
            "top5_noisy": np.float64(hits[3] / n)}
