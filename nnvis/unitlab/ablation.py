"""Low-activation unit removal (Shang et al.): a forward hook zeroes units of one layer, and
top-1/top-5 accuracy is measured before and after.

Per image ("online"): for each image, the `count` units with the lowest alpha (a conv
channel's spatial mean; whole channels are zeroed). Global ("offline"): the same `count` units
for every image, those with the lowest dataset-mean alpha. Ties go to the lower unit index."""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch

from nnvis.errors import NNVisError
from nnvis.models.activations import reduce_output
from nnvis.models.hooks import eval_mode, forward_hooks
from nnvis.models.layers import get_module
from nnvis.models.zoo import LoadedModel
from nnvis.progress import Progress, no_progress
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
        raise NNVisError(f"layer {layer} outputs {type(output).__name__}; ablation needs a tensor (N, units, ...)")
    return output


def _unit_mask(output: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """`output` with the units (dim 1) where `keep` (N, units) is False set to zero."""
    keep = keep.reshape(*keep.shape, *([1] * (output.ndim - 2)))
    return torch.where(keep, output, torch.zeros((), dtype=output.dtype, device=output.device))


def zero_lowest(output: torch.Tensor, count: int, layer: str = "this layer") -> torch.Tensor:
    """Per image, zero the `count` units (whole channels of a conv map) with the lowest alpha."""
    check_count(count, _check_output(output, layer).shape[1], layer)
    if count == 0:
        return output
    alpha = reduce_output(output).float()
    lowest = torch.sort(alpha, dim=1, stable=True).indices[:, :count]
    keep = torch.ones_like(alpha, dtype=torch.bool).scatter_(1, lowest, False)
    return _unit_mask(output, keep)


def zero_units(output: torch.Tensor, units: np.ndarray, layer: str = "this layer") -> torch.Tensor:
    """Zero the given units (whole channels of a conv map) in every image."""
    keep = torch.ones(_check_output(output, layer).shape[1], dtype=torch.bool, device=output.device)
    keep[torch.as_tensor(np.asarray(units, dtype=np.int64), device=output.device)] = False
    return _unit_mask(output, keep.expand(output.shape[0], -1))


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
           progress: Progress = no_progress) -> dict[str, float]:
    """Accuracy with `count` units of `layer` zeroed: per image (the lowest alpha of each image)
    or global (the lowest `mean_alpha`, the dataset-mean alpha of each unit)."""
    get_module(model.module, layer)
    if check_mode(mode) == "global":
        if mean_alpha is None:
            raise NNVisError("global ablation needs the dataset-mean alpha of each unit")
        units = lowest_units(mean_alpha, check_count(count, len(mean_alpha), layer))
        edit = {layer: lambda out: zero_units(out, units, layer)}
    else:
        edit = {layer: lambda out: zero_lowest(out, count, layer)}
    return accuracy(model, images, labels, edit=edit, device=device, batch_size=batch_size, progress=progress,
                    stage=f"ablate {count}")
