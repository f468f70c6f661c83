"""Deep visualization (Yosinski et al. 2015; Erhan et al. 2009): the live layer grid, every
channel of one layer for one input with the model's class probabilities, and the weight views,
first-layer filters as images and a deeper unit as the weighted sum of the previous layer's
top-k unit visualizations.

Inputs are tensors in the model's input space: float32 (1,C,H,W), pixels in [0, 1] through
the workspace's normalisation, as `model_input` makes them from a uint8 image. Layers are module paths; a module
reused in one forward is read at its first call (nnvis.models.feature_maps).

The weighted-sum view follows the chain of Linear/Conv2d layers in module order, leaving out
those that do not take the previous one's outputs (skip branches). The strength of the
connection from unit i of one weight layer to unit j of the next is W[j, i] for a Linear, the
sum of the kernel W[j, i, :, :] for a Conv2d, and the sum of the weights on map i for a Linear
over flattened maps (each: the response to a spatially uniform input i). viz(i) of the first
weight layer is its filter (a conv kernel, or a Linear's weight row reshaped to the input
image); for the next layers viz(j) = sum of W[j, i] viz(i) over the top-k |W[j, i]|.
Nonlinearities, pooling, normalisation and skip connections are ignored, as in the
weighted-sum pictures of the papers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from nnvis.deepvis.drawing import pen_width, rasterize_strokes  # noqa: F401 (their home before)
from nnvis.errors import NNVisError
from nnvis.models.feature_maps import as_maps, channel_alphas, heat_colours, layer_outputs, normalise, top_channels
from nnvis.models.hooks import eval_mode
from nnvis.models.layers import get_module
from nnvis.models.zoo import LoadedModel

SORTS = ("index", "mean")
WEIGHT_TYPES = (nn.Linear, nn.Conv2d)


# ---- the live layer grid

def model_input(model: LoadedModel, image: np.ndarray) -> torch.Tensor:
    """One uint8 image ((H,W) or (H,W,3)) as the model's input (1,C,H,W): pixels in [0, 1],
    normalised as the workspace says (LoadedModel.input_tensor)."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise NNVisError(f"expected one uint8 image (H,W) or (H,W,3), got {image.dtype} {image.shape}")
    return model.input_tensor(image[None])


def check_input(x: torch.Tensor) -> torch.Tensor:
    """`x` as one float image batch (1,C,H,W); NNVisError for anything else."""
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[0] != 1 or not x.is_floating_point():
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise NNVisError(f"expected one input image as a float tensor (1,C,H,W), got {shape}")
    return x


@dataclass
class LayerGrid:
    """Every unit of one layer for one input: maps (C,H,W) (a dense layer's D values as (D,1,1)),
    their alphas (mean activation), the display order, and the class probabilities."""

    layer: str
    maps: np.ndarray
    alphas: np.ndarray
    order: np.ndarray
    sort: str
    dense: bool
    probabilities: np.ndarray | None

    def summary(self) -> dict:
        """JSON-ready numbers: the units in display order with their alphas, and the prediction."""
        found = {"layer": self.layer, "kind": "units" if self.dense else "maps", "sort": self.sort,
                 "n_units": int(len(self.maps)), "map_size": list(self.maps.shape[1:]),
                 "order": [int(c) for c in self.order], "alphas": [float(self.alphas[c]) for c in self.order]}
        if self.probabilities is not None:
            found["probabilities"] = [float(p) for p in self.probabilities]
            found["predicted"] = int(np.argmax(self.probabilities))
        return found


def check_sort(sort: str) -> str:
    if sort not in SORTS:
        raise NNVisError(f"sort {sort!r} is unknown; allowed: {', '.join(SORTS)}")
    return sort


@torch.no_grad()
def layer_grid(model: LoadedModel, x: torch.Tensor, layer: str, *, sort: str = "index",
               device: str = "cpu") -> LayerGrid:
    """The grid of `layer` for input `x` (1,C,H,W): every channel's map (conv) or every unit's
    value (dense), sorted by index or by mean activation (largest first, ties by index), and
    the softmax of the model's output. The model's train/eval mode is restored afterwards."""
    check_sort(sort)
    x = check_input(x)
    with eval_mode(model.module, device) as module:
        x = x.to(device)
        full = layer_outputs(module, x, [layer])[layer]
        shown = as_maps(module, layer, full, tuple(x.shape[-2:]), given=model.layouts)  # as its layout says
        out = (shown if shown is not None else full.reshape(len(full), -1))[0].float().cpu()
        logits = module(x)
    if out.ndim == 1:
        maps = out.numpy()[:, None, None]
    elif out.ndim == 3:
        maps = out.numpy()
    else:
        raise NNVisError(f"layer '{layer}' outputs shape {tuple(out.shape)} per image; the grid shows "
                         "feature maps (C,H,W) or dense units (D,)")
    logits = logits[0] if isinstance(logits, (tuple, list)) else logits
    probabilities = None
    if isinstance(logits, torch.Tensor) and logits.ndim == 2:
        probabilities = torch.softmax(logits.double(), dim=1)[0].float().cpu().numpy()
    order = np.arange(len(maps)) if sort == "index" else top_channels(maps, len(maps))[0]
    return LayerGrid(layer, maps, channel_alphas(maps), order, sort, out.ndim == 1, probabilities)


def grid_columns(n: int, height: int = 1, width: int = 1) -> int:
    """Columns for `n` tiles of height x width so that the mosaic is about square."""
    return max(1, math.ceil(math.sqrt(n * height / max(width, 1))))


def tile(tiles: np.ndarray, columns: int | None = None, gap: int = 1,
         fill: float = np.nan) -> tuple[np.ndarray, np.ndarray]:
    """Tiles (n,h,w,...) laid out row by row, `columns` a row, `gap` pixels of `fill` between
    them: (mosaic (rows*(h+gap)-gap, columns*(w+gap)-gap, ...), the tile index of each mosaic
    pixel, -1 in gaps and empty places)."""
    tiles = np.asarray(tiles)
    n, height, width = tiles.shape[:3]
    columns = columns or grid_columns(n, height, width)
    rows = max(1, math.ceil(n / columns))
    shape = (rows * (height + gap) - gap, columns * (width + gap) - gap) + tiles.shape[3:]
    mosaic = np.full(shape, fill, dtype=np.result_type(tiles.dtype, np.min_scalar_type(fill)))
    index = np.full(shape[:2], -1, dtype=np.int64)
    for k in range(n):
        top, left = (k // columns) * (height + gap), (k % columns) * (width + gap)
        mosaic[top:top + height, left:left + width] = tiles[k]
        index[top:top + height, left:left + width] = k
    return mosaic, index


def grid_mosaic(grid: LayerGrid, columns: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The grid's maps in display order as one mosaic (NaN between maps; dense units touch),
    and the channel shown at each of its pixels (-1 in gaps)."""
    mosaic, position = tile(grid.maps[grid.order], columns, gap=0 if grid.dense else 1)
    return mosaic, np.where(position >= 0, grid.order[np.maximum(position, 0)], -1)


def heat_picture(mosaic: np.ndarray) -> np.ndarray:
    """A mosaic with NaN gaps as uint8 RGB on the heat scale of its finite values, gaps white."""
    finite = np.isfinite(mosaic)
    values = mosaic[finite]
    scaled = normalise(np.where(finite, mosaic, 0.0), float(values.min()), float(values.max())) if values.size \
        else np.zeros(mosaic.shape, np.float32)
    picture = heat_colours(scaled)
    picture[~finite] = 255
    return picture


# ---- weight views

def weight_layers(module: nn.Module) -> list[tuple[str, nn.Module]]:
    """The Linear and Conv2d modules of `module` by path, in module (registration) order."""
    return [(name, m) for name, m in module.named_modules() if name and isinstance(m, WEIGHT_TYPES)]


def sizes(layer: nn.Module) -> tuple[int, int]:
    """(inputs, outputs) of a weight layer: features or channels."""
    if isinstance(layer, nn.Linear):
        return layer.in_features, layer.out_features
    return layer.in_channels, layer.out_channels


def connects(layer: nn.Module, outputs: int) -> bool:
    """Whether `layer` can take the `outputs` units of a weight layer: as many inputs, or a
    Linear over those units' maps flattened (a whole multiple of them)."""
    inputs = sizes(layer)[0]
    if getattr(layer, "groups", 1) != 1:
        return False
    return inputs == outputs or (isinstance(layer, nn.Linear) and inputs % outputs == 0)


def strengths(layer: nn.Module, outputs: int) -> np.ndarray:
    """Connection strengths (layer's units x the `outputs` units before it): a Linear's weights,
    a Conv2d's kernel sums, and for a Linear over flattened maps the sum of each map's weights."""
    weight = layer.weight.detach().double().cpu()
    if weight.ndim == 4:
        weight = weight.sum(dim=(2, 3))
    return weight.reshape(weight.shape[0], outputs, -1).sum(dim=2).numpy()


def chain_of_weight_layers(module: nn.Module) -> list[tuple[str, nn.Module]]:
    """The weight layers on the main path from the input, in module order: each takes the
    outputs of the last one kept; one that does not (a ResNet's downsample branch, a grouped
    conv) is left out."""
    chain: list[tuple[str, nn.Module]] = []
    for name, layer in weight_layers(module):
        if not chain or connects(layer, sizes(chain[-1][1])[1]):
            chain.append((name, layer))
    return chain


@dataclass
class Filters:
    """The first weight layer's filters in the input image's layout, (n,h,w) or (n,h,w,3)."""

    layer: str
    kernels: np.ndarray

    @property
    def images(self) -> np.ndarray:
        """Each filter scaled by its own largest |weight| to [0, 1], zero at 0.5."""
        return signed_unit(self.kernels)

    def summary(self) -> dict:
        flat = self.kernels.reshape(len(self.kernels), -1).astype(np.float64)
        return {"layer": self.layer, "n_filters": int(len(flat)), "filter_shape": list(self.kernels.shape[1:]),
                "norms": [float(v) for v in np.linalg.norm(flat, axis=1)],
                "min": [float(v) for v in flat.min(axis=1)], "max": [float(v) for v in flat.max(axis=1)]}


def signed_unit(values: np.ndarray) -> np.ndarray:
    """Values (n, ...) to [0, 1] per item: 0.5 + 0.5 v / max|v| (an all-zero item stays 0.5)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return values.astype(np.float32)
    peak = np.abs(values.reshape(len(values), -1)).max(axis=1)
    scale = np.where(peak > 0, peak, 1.0).reshape((-1,) + (1,) * (values.ndim - 1))
    return (0.5 + 0.5 * values / scale).astype(np.float32)


# blue (negative) - white (zero) - red (positive), for weights
_DIVERGING = np.array([[0.0, 33, 102, 172], [0.5, 247, 247, 247], [1.0, 178, 24, 43]], np.float32)


def diverging_colours(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] (0.5 = zero weight) to uint8 RGB on a blue-white-red scale."""
    values = np.clip(np.asarray(values, dtype=np.float32), 0.0, 1.0)
    rgb = [np.interp(values, _DIVERGING[:, 0], _DIVERGING[:, c]) for c in (1, 2, 3)]
    return np.round(np.stack(rgb, axis=-1)).astype(np.uint8)


def weight_picture(images: np.ndarray) -> np.ndarray:
    """Signed-unit images (..., h, w) grey or (..., h, w, 3) colour to uint8 RGB: grey ones on
    the diverging scale, colour ones as they are (0.5 = grey)."""
    images = np.asarray(images)
    if images.ndim >= 3 and images.shape[-1] == 3:
        return np.round(np.clip(images, 0, 1) * 255).astype(np.uint8)
    return diverging_colours(images)


def image_layout(rows: np.ndarray, in_channels: int, image_shape: tuple[int, ...]) -> np.ndarray:
    """Rows (n, C*H*W) of a Linear on the flattened input as images (n,H,W) or (n,H,W,C)."""
    n = len(rows)
    images = rows.reshape(n, in_channels, int(image_shape[0]), int(image_shape[1]))
    return images[:, 0] if in_channels == 1 else images.transpose(0, 2, 3, 1)


def first_layer_filters(model: LoadedModel, image_shape: tuple[int, ...]) -> Filters:
    """The filters of the model's first weight layer as images: a Conv2d's kernels (h,w) or
    (h,w,3), or a Linear's weight rows reshaped to the model's input image."""
    layers = weight_layers(model.module)
    if not layers:
        raise NNVisError("this model has no Linear or Conv2d layer, so no filters to show")
    name, layer = layers[0]
    weight = layer.weight.detach().float().cpu().numpy()
    channels = model.in_channels
    if isinstance(layer, nn.Conv2d):
        if layer.in_channels != channels or layer.groups != 1:
            raise NNVisError(f"first conv '{name}' takes {layer.in_channels} channels (groups {layer.groups}), "
                             f"not the {channels} of the input image; its kernels are not images")
        return Filters(name, weight[:, 0] if channels == 1 else weight.transpose(0, 2, 3, 1))
    pixels = channels * int(image_shape[0]) * int(image_shape[1])
    if layer.in_features != pixels:
        raise NNVisError(f"first linear layer '{name}' takes {layer.in_features} features, not the {pixels} "
                         f"pixels of a {channels}x{image_shape[0]}x{image_shape[1]} input; its rows are not images")
    return Filters(name, image_layout(weight, channels, image_shape))


def resolve_weight_layer(module: nn.Module, layer: str) -> str:
    """The weight layer that produces `layer`'s units: the layer itself, or the last Linear or
    Conv2d inside it (e.g. `hidden2` -> `hidden2.0`)."""
    target = get_module(module, layer)
    if isinstance(target, WEIGHT_TYPES):
        return layer
    inside = [f"{layer}.{name}" for name, m in target.named_modules() if name and isinstance(m, WEIGHT_TYPES)]
    if not inside:
        allowed = ", ".join(name for name, _ in chain_of_weight_layers(module)[:12])
        raise NNVisError(f"layer '{layer}' ({type(target).__name__}) holds no Linear or Conv2d weights; "
                         f"the weighted-sum view needs one of: {allowed}")
    return inside[-1]


@dataclass
class WeightedSum:
    """Unit `unit` of `layer` as the weighted sum of the previous weight layer's top-k unit
    visualizations: those units (strongest |weight| first), their weights and views, and the sum."""

    layer: str
    weight_layer: str
    unit: int
    chain: list[str]
    contributors: np.ndarray
    weights: np.ndarray
    contributor_views: np.ndarray
    view: np.ndarray

    def summary(self) -> dict:
        return {"layer": self.layer, "weight_layer": self.weight_layer, "unit": self.unit, "chain": self.chain,
                "contributors": [int(i) for i in self.contributors], "weights": [float(w) for w in self.weights],
                "view_shape": list(self.view.shape), "view": np.round(self.view, 6).tolist()}


def top_k_rows(matrix: np.ndarray, k: int) -> np.ndarray:
    """`matrix` with all but the k largest |values| of each row set to 0 (ties: lower index)."""
    order = np.argsort(-np.abs(matrix), axis=1, kind="stable")[:, :k]
    kept = np.zeros_like(matrix)
    np.put_along_axis(kept, order, np.take_along_axis(matrix, order, axis=1), axis=1)
    return kept


def weighted_sum_view(model: LoadedModel, image_shape: tuple[int, ...], layer: str, unit: int,
                      top_k: int = 9) -> WeightedSum:
    """Unit `unit` of `layer` (a weight layer or a module holding one, e.g. `hidden2`) as
    sum_i W[unit, i] viz(i) over the `top_k` previous units of largest |W[unit, i]|, where
    viz of the first weight layer's units are their filters and viz of later layers' units are
    their own weighted sums (module docstring). For a unit of the first layer, its filter."""
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
        raise NNVisError(f"top-k must be a positive integer, got {top_k!r}")
    module = model.module
    weight_name = resolve_weight_layer(module, layer)
    chain = chain_of_weight_layers(module)
    names = [name for name, _ in chain]
    if weight_name not in names:
        raise NNVisError(f"'{weight_name}' is off the main chain of weight layers (its inputs are not the "
                         f"outputs of the weight layer before it, e.g. a skip branch); allowed: {', '.join(names[:12])}"
                         f"{' ...' if len(names) > 12 else ''}")
    position = names.index(weight_name)
    n_units = sizes(chain[position][1])[1]
    if isinstance(unit, bool) or not isinstance(unit, (int, np.integer)) or not 0 <= unit < n_units:
        raise NNVisError(f"unit {unit!r} is out of range for layer '{layer}' ({n_units} units: 0..{n_units - 1})")
    kernels = first_layer_filters(model, image_shape).kernels.astype(np.float64)
    shape = kernels.shape[1:]
    views = kernels.reshape(len(kernels), -1)
    if position == 0:
        return WeightedSum(layer, weight_name, int(unit), names[:1], np.array([], np.int64), np.array([], np.float32),
                           np.zeros((0,) + shape, np.float32), kernels[unit].astype(np.float32))
    for (_, before), (_, layer_k) in zip(chain[:position - 1], chain[1:position]):
        views = top_k_rows(strengths(layer_k, sizes(before)[1]), top_k) @ views
    row = strengths(chain[position][1], sizes(chain[position - 1][1])[1])[unit]
    contributors = np.argsort(-np.abs(row), kind="stable")[:top_k]
    weights = row[contributors]
    picked = views[contributors]
    view = (weights[:, None] * picked).sum(axis=0)
    return WeightedSum(layer, weight_name, int(unit), names[:position + 1], contributors.astype(np.int64),
                       weights.astype(np.float32), picked.reshape((-1,) + shape).astype(np.float32),
                       view.reshape(shape).astype(np.float32))
