"""The model side of concepts: a layer's feature maps, the network run on with that layer's
output replaced (a forward hook returns the edited tensor; the hook always comes off), and the
receptive field of a position.

Removing concept k from the layer: A - U_k W_k at every position (the rest of the activation,
the reconstruction's residual included, stays), clipped at zero as the layer's own output is.
Replacing the layer by its reconstruction: U W."""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

from nnvis.errors import NNVisError
from nnvis.models.feature_maps import data_channels, layer_outputs, layer_shape, map_layers
from nnvis.models.hooks import eval_mode, forward_hooks
from nnvis.models.zoo import LoadedModel
from nnvis.progress import Progress, no_progress

Edit = Callable[[np.ndarray, torch.Tensor], torch.Tensor]
"""edit(rows of the batch, layer output of the batch) -> the output the network runs on with."""


def check_spatial(model: LoadedModel, layer: str, image_shape: tuple[int, ...], device: str = "cpu") -> tuple:
    """The layer's (C, H, W) per image, or NNVisError: a concept atlas needs spatial positions."""
    shape = layer_shape(model, layer, image_shape, device)
    if len(shape) != 3:
        valid = map_layers(model, image_shape, device)
        named = ", ".join(valid[:12]) + (" ..." if len(valid) > 12 else "") if valid else "none in this model"
        raise NNVisError(f"a concept atlas needs a layer with spatial positions (a convolutional layer's (C, H, W) "
                         f"maps); layer '{layer}' outputs shape {tuple(shape)} per image; layers with spatial "
                         f"positions: {named}")
    return shape


@torch.no_grad()
def layer_maps(model: LoadedModel, images: np.ndarray, layer: str, device: str = "cpu", batch_size: int = 256,
               progress: Progress = no_progress) -> np.ndarray:
    """The layer's output (float32, N x C x H x W) for uint8 images (the forward stops at the layer)."""
    parts = []
    with eval_mode(model.module, device) as module:
        for start in range(0, len(images), batch_size):
            x = model.input_tensor(images[start:start + batch_size]).to(device)
            parts.append(layer_outputs(module, x, [layer])[layer].float().cpu())
            progress(f"activations of {layer}", min(start + batch_size, len(images)), len(images))
    return torch.cat(parts).numpy()


@torch.no_grad()
def edited_logits(model: LoadedModel, images: np.ndarray, layer: str, edits: Sequence[Edit | None], *,
                  device: str = "cpu", batch_size: int = 256, progress: Progress = no_progress,
                  stage: str = "concept removal") -> np.ndarray:
    """Logits (len(edits), N, classes) of the network with the layer's output replaced by each
    edit (None: the model as it is), image rows given to the edit so it can find their strengths."""
    found = []
    with eval_mode(model.module, device) as module:
        for start in range(0, len(images), batch_size):
            rows = np.arange(start, min(start + batch_size, len(images)))
            x = model.input_tensor(images[rows]).to(device)
            batch = []
            for edit in edits:
                hooks = {} if edit is None else {layer: (lambda out, edit=edit, rows=rows: edit(rows, out))}
                with forward_hooks(module, hooks):
                    out = module(x)
                batch.append((out[0] if isinstance(out, (tuple, list)) else out).float().cpu())
            found.append(torch.stack(batch))
            progress(stage, int(rows[-1]) + 1, len(images))
    return torch.cat(found, dim=1).numpy()


def removal(u_maps: np.ndarray, components: np.ndarray, concepts: Sequence[int]) -> Edit:
    """The edit that removes `concepts` from the layer: A - sum_k U_k W_k, clipped at zero.
    `u_maps` (N, H, W, K) are the strengths of the images the edit is run on."""
    chosen = np.asarray(list(concepts), dtype=np.int64)

    def edit(rows: np.ndarray, out: torch.Tensor) -> torch.Tensor:
        u = torch.from_numpy(u_maps[rows][..., chosen]).to(out.device, out.dtype)
        w = torch.from_numpy(components[chosen]).to(out.device, out.dtype)
        return torch.clamp(out - torch.einsum("nhwk,kc->nchw", u, w), min=0)
    return edit


def reconstruction(u_maps: np.ndarray, components: np.ndarray) -> Edit:
    """The edit that replaces the layer by its K-concept reconstruction U W."""
    def edit(rows: np.ndarray, out: torch.Tensor) -> torch.Tensor:
        u = torch.from_numpy(u_maps[rows]).to(out.device, out.dtype)
        return torch.einsum("nhwk,kc->nchw", u, torch.from_numpy(components).to(out.device, out.dtype))
    return edit


def receptive_boxes(model: LoadedModel, layer: str, image_shape: tuple[int, ...], ys: np.ndarray, xs: np.ndarray,
                    device: str = "cpu", seed: int = 0) -> np.ndarray:
    """The input box (top, left, bottom, right; bottom and right excluded) that position (y, x) of
    the layer sees: where the gradient of the summed channels there reaches the input of a
    seeded noise image (one backward pass for all the positions asked)."""
    ys, xs = np.asarray(ys, dtype=np.int64).ravel(), np.asarray(xs, dtype=np.int64).ravel()
    if len(ys) == 0:
        return np.zeros((0, 4), dtype=np.int32)
    generator = torch.Generator().manual_seed(seed)
    channels, h, w = data_channels(image_shape), image_shape[0], image_shape[1]
    pixels = torch.rand((len(ys), channels, h, w), generator=generator).to(device).requires_grad_(True)
    with eval_mode(model.module, device) as module, torch.enable_grad():
        out = layer_outputs(module, model.pixels_to_input(pixels), [layer])[layer]
        out[torch.arange(len(ys)), :, torch.as_tensor(ys), torch.as_tensor(xs)].sum().backward()
    reached = pixels.grad.abs().sum(dim=1).cpu().numpy() > 0  # (n, H, W)
    boxes = np.zeros((len(ys), 4), dtype=np.int32)
    for i, seen in enumerate(reached):
        rows, cols = np.flatnonzero(seen.any(axis=1)), np.flatnonzero(seen.any(axis=0))
        boxes[i] = (rows[0], cols[0], rows[-1] + 1, cols[-1] + 1) if len(rows) else (0, 0, h, w)
    return boxes
