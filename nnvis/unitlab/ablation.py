"""Low-activation unit removal (Shang et al.): a forward hook zeroes units of one layer, and
top-1/top-5 accuracy is measured before and after.

Per image ("online"): for each image, the `count` units with the lowest alpha (a conv
channel's spatial mean; whole channels are zeroed). Global ("offline"): the same `count` units
for every image, those with the lowest dataset-mean alpha. Ties go to the lower unit index.

A unit lives on the axis the layer's layout says (nnvis.unitlab.layouts): a channel of a
channels-first map (axis 1), a channel of a channels-last map or a hidden unit of a token
sequence (the last axis); it is zeroed everywhere, at every position and in every token (the
class and other prefix tokens too). A token layer's alpha is what its observations are (the
workspace's `--tokens`: the class token, or the mean of the patch tokens)."""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch

from nnvis.errors import NNVisError
from nnvis.models.activations import reduce_output
from nnvis.models.hooks import eval_mode, first_tensor, forward_hooks
from nnvis.models.layers import get_module, split_layer
from nnvis.models.layout import SEQUENCE_FIRST, VECTOR_LAYOUT, Layout, layout_of
from nnvis.models.zoo import LoadedModel
from nnvis.progress import Progress, no_progress
from nnvis.unitlab.layouts import unit_axis
from nnvis.validation import number, one_of, whole_number

MODES = ("per-image", "global")


def check_mode(mode: str) -> str:
    return one_of(mode, MODES, "ablation mode")


def check_fraction(fraction: float) -> float:
    """A fraction of units in [0, 1], or NNVisError."""
    return number(fraction, "fraction", 0, 1)


def check_count(count: int, units: int, layer: str = "this layer") -> int:
    """A number of units to zero in 0..units, or NNVisError."""
    return whole_number(count, "count", 0, units, detail=f"layer {layer} has {units} units (allowed: 0..{units})")


def fraction_to_count(fraction: float, units: int) -> int:
    """floor(fraction x units): the number of units a fraction zeroes (0.2 of 1000 is 200)."""
    return int(math.floor(round(check_fraction(fraction) * units, 6)))


def lowest_units(mean_alpha: np.ndarray, count: int) -> np.ndarray:
    """The `count` units with the lowest dataset-mean alpha (global mode), ties to the lower index."""
    mean_alpha = np.asarray(mean_alpha, dtype=np.float64)
    count = check_count(count, len(mean_alpha))
    return np.sort(np.argsort(mean_alpha, kind="stable")[:count])


def _check_output(output, layer: str) -> torch.Tensor:
    if not isinstance(output, torch.Tensor) or output.ndim < 2:
        raise NNVisError(f"layer {layer} outputs {type(output).__name__}; ablation needs a tensor with a unit axis")
    return output


def _channels_first(layout: Layout | None) -> Layout:
    return layout or Layout("channels-first")


def unit_count(output: torch.Tensor, layout: Layout | None = None) -> int:
    """How many units `output` holds (the length of its unit axis)."""
    return int(output.shape[unit_axis(_channels_first(layout), output.ndim)])


def _unit_mask(output: torch.Tensor, keep: torch.Tensor, layout: Layout | None = None) -> torch.Tensor:
    """`output` with the units where `keep` (images x units) is False set to zero, on the unit
    axis of its layout, at every position and token."""
    layout = _channels_first(layout)
    images, units = keep.shape
    if layout.kind == SEQUENCE_FIRST and output.ndim == 3:  # (T, N, D)
        keep = keep.reshape(1, images, units)
    elif unit_axis(layout, output.ndim) == 1:
        keep = keep.reshape(images, units, *([1] * (output.ndim - 2)))
    else:
        keep = keep.reshape(images, *([1] * (output.ndim - 2)), units)
    return torch.where(keep, output, torch.zeros((), dtype=output.dtype, device=output.device))


def zero_lowest(output: torch.Tensor, count: int, layer: str = "this layer", layout: Layout | None = None,
                tokens: str | None = None) -> torch.Tensor:
    """Per image, zero the `count` units (whole channels of a map, a hidden unit in every token)
    with the lowest alpha."""
    check_count(count, unit_count(_check_output(output, layer), layout), layer)
    if count == 0:
        return output
    alpha = reduce_output(output, layout, tokens if layout is not None and layout.is_tokens else None).float()
    lowest = torch.sort(alpha, dim=1, stable=True).indices[:, :count]
    keep = torch.ones_like(alpha, dtype=torch.bool).scatter_(1, lowest, False)
    return _unit_mask(output, keep, layout)


def zero_units(output: torch.Tensor, units: np.ndarray, layer: str = "this layer",
               layout: Layout | None = None) -> torch.Tensor:
    """Zero the given units (whole channels of a map, a hidden unit in every token) in every image."""
    keep = torch.ones(unit_count(_check_output(output, layer), layout), dtype=torch.bool, device=output.device)
    keep[torch.as_tensor(np.asarray(units, dtype=np.int64), device=output.device)] = False
    images = output.shape[1] if _channels_first(layout).kind == SEQUENCE_FIRST else output.shape[0]
    return _unit_mask(output, keep.expand(images, -1), layout)


def layer_edit(module: torch.nn.Module, layer: str, edit: Callable, given: dict[str, Layout] | None) -> Callable:
    """A forward hook's function for `layer` that calls `edit(output, layout)`, the layout decided
    from the module at the first output (nnvis.models.layout; `given` from --layout)."""
    decided: dict[int, Layout] = {}

    def hook(output):
        tensor = first_tensor(output)
        ndim = tensor.ndim if isinstance(tensor, torch.Tensor) else 0
        if ndim not in decided:
            decided[ndim] = layout_of(module, layer, ndim, given) if ndim >= 2 else VECTOR_LAYOUT
        return edit(output, decided[ndim])
    return hook


def top_hits(logits: torch.Tensor, labels: torch.Tensor) -> tuple[int, int]:
    """(top-1 hits, top-5 hits) in a batch; top-1 is the first largest logit, top-5 the
    five largest (all classes when there are fewer than five)."""
    top1 = int((logits.argmax(dim=1) == labels).sum())
    top5 = logits.topk(min(5, logits.shape[1]), dim=1).indices
    return top1, int((top5 == labels[:, None]).any(dim=1).sum())


@torch.no_grad()
def accuracy(model: LoadedModel, images: np.ndarray, labels: np.ndarray, *, edit: dict[str, Callable] | None = None,
             device: str = "cpu", batch_size: int = 256, progress: Progress = no_progress,
             stage: str = "accuracy") -> dict[str, float]:
    """Top-1 and top-5 accuracy of uint8 `images`, with `edit` {layer: fn(output) -> output}
    applied by forward hooks while it runs."""
    y = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    hits1 = hits5 = 0
    with eval_mode(model.module, device) as module, forward_hooks(module, edit or {}):
        for start in range(0, len(images), batch_size):
            x = model.input_tensor(images[start:start + batch_size]).to(device)
            h1, h5 = top_hits(module(x), y[start:start + batch_size].to(device))
            hits1, hits5 = hits1 + h1, hits5 + h5
            progress(stage, min(start + batch_size, len(images)), len(images))
    return {"top1": hits1 / len(images), "top5": hits5 / len(images)}


def ablate(model: LoadedModel, images: np.ndarray, labels: np.ndarray, layer: str, *, mode: str, count: int,
           mean_alpha: np.ndarray | None = None, device: str = "cpu", batch_size: int = 256,
           progress: Progress = no_progress, layouts: dict[str, Layout] | None = None,
           tokens: str | None = None) -> dict[str, float]:
    """Accuracy with `count` units of `layer` zeroed: per image (the lowest alpha of each image)
    or global (the lowest `mean_alpha`, the dataset-mean alpha of each unit). The units are on
    the axis of the layer's layout (`layouts`: --layout; `tokens`: what a token layer's alpha is)."""
    get_module(model.module, split_layer(layer)[0])
    if check_mode(mode) == "global":
        if mean_alpha is None:
            raise NNVisError("global ablation needs the dataset-mean alpha of each unit")
        units = lowest_units(mean_alpha, check_count(count, len(mean_alpha), layer))
        edit = {layer: layer_edit(model.module, layer, lambda out, layout: zero_units(out, units, layer, layout),
                                  layouts)}
    else:
        edit = {layer: layer_edit(model.module, layer,
                                  lambda out, layout: zero_lowest(out, count, layer, layout, tokens), layouts)}
    return accuracy(model, images, labels, edit=edit, device=device, batch_size=batch_size, progress=progress,
                    stage=f"ablate {count}")
