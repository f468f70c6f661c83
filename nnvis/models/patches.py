"""`--tokens patches`: every patch token of a token layer is an observation. A seeded sample of
at most MAX_PATCHES tokens (drawn before the forward passes, so memory stays bounded), each with
its image and its (row, column) on the patch grid; the layout says which tokens are patches
(nnvis.models.layout: prefix tokens are never among them)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from nnvis.errors import NNVisError
from nnvis.models.feature_maps import layer_outputs
from nnvis.models.hooks import eval_mode
from nnvis.models.layout import Layout, layout_of, patch_grid
from nnvis.models.zoo import LoadedModel

MAX_PATCHES = 20_000


@dataclass
class PatchTokens:
    """Sampled patch tokens: rows (n, D) float32, each one's image index, grid row and column,
    and the grid (rows, columns)."""

    rows: np.ndarray
    image: np.ndarray
    row: np.ndarray
    column: np.ndarray
    grid: tuple[int, int]


@torch.no_grad()
def patch_tokens(model: LoadedModel, images: np.ndarray, layer: str, *, sample: int = MAX_PATCHES, seed: int = 0,
                 device: str = "cpu", layouts: dict[str, Layout] | None = None, batch_size: int = 64) -> PatchTokens:
    """A seeded sample of at most `sample` patch tokens of `layer` over uint8 `images`."""
    if sample < 1:
        raise NNVisError(f"--sample {sample} is invalid; allowed: a whole number >= 1")
    with eval_mode(model.module, device) as module:
        first = model.input_tensor(images[:1]).to(device)
        out = layer_outputs(module, first, [layer])[layer]
        layout = layout_of(module, layer, out.ndim, layouts)
        if not layout.is_tokens:
            raise NNVisError(f"layer '{layer}' is {layout.kind}, not a token sequence; patch tokens are for token "
                             "layers (N, T, D)")
        count = layout.patches(out).shape[1]
        grid = patch_grid(count, tuple(first.shape[-2:]))
        total = len(images) * count
        picked = np.sort(np.random.default_rng(seed).choice(total, size=min(sample, total), replace=False))
        parts = []
        for start in range(0, len(images), batch_size):
            stop = min(start + batch_size, len(images))
            here = picked[(picked >= start * count) & (picked < stop * count)] - start * count
            if not len(here):
                continue
            x = model.input_tensor(images[start:stop]).to(device)
            patches = layout.patches(layer_outputs(module, x, [layer])[layer]).float()
            parts.append(patches.reshape(-1, patches.shape[-1])[torch.from_numpy(here)].cpu().numpy())
    image, position = np.divmod(picked, count)
    return PatchTokens(np.concatenate(parts), image, position // grid[1], position % grid[1], grid)
