"""Feature maps of a layer for a few images (channels-first maps, channels-last maps permuted, a
token layer's patch tokens on their patch grid: nnvis.models.layout decides), the top channels
by Shang's alpha (a map's mean activation), and heat overlays of one map on its input image
(numpy only, no plotting library).

A layer's output is taken at the first call of its module in the forward pass (a module
reused in one forward, like the ReLU of a torchvision BasicBlock, is named by its first use,
as torchvision's feature extraction does), and the forward stops there: deeper layers never run.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from nnvis.errors import NNVisError
from nnvis.models.hooks import eval_mode, first_tensor, forward_hooks
from nnvis.models.layers import list_layers
from nnvis.models.layout import Layout, layout_of
from nnvis.models.zoo import LoadedModel


class _Reached(Exception):
    """Raised inside a forward hook once every wanted layer has produced its output."""


def layer_outputs(module: torch.nn.Module, x: torch.Tensor, layers: list[str], *,
                  inputs: bool = False) -> dict[str, torch.Tensor]:
    """The outputs of `layers` (first call of each; their first inputs when `inputs`) for input
    `x`, running the forward only as far as the deepest of them. Keeps autograd history, so
    gradients flow back to `x`. The hooks are removed afterwards, whatever happens; the caller
    sets the train/eval mode."""
    wanted = list(dict.fromkeys(layers))
    outputs: dict[str, torch.Tensor] = {}

    def hook(name: str, output) -> None:
        if name in outputs:
            return
        outputs[name] = first_tensor(output).clone()  # a later in-place op (ReLU(inplace=True)) must not change it
        if len(outputs) == len(wanted):
            raise _Reached

    with forward_hooks(module, {name: (lambda out, name=name: hook(name, out)) for name in wanted}, inputs=inputs):
        try:
            module(x)
        except _Reached:
            pass
    missing = [name for name in wanted if name not in outputs]
    if missing:
        raise NNVisError(f"layer(s) {', '.join(missing)} are never called by the model's forward pass; "
                         "choose modules the forward uses (list them with `nnvis layers`)")
    return outputs


def to_model_input(x: torch.Tensor, in_channels: int) -> torch.Tensor:
    """(N,C,H,W) images in the data's channels to the model's: grey repeated for a colour model."""
    if x.shape[1] == 1 and in_channels == 3:
        return x.expand(-1, 3, -1, -1)
    if x.shape[1] != in_channels:
        raise NNVisError(f"model expects {in_channels} input channels, the image has {x.shape[1]}")
    return x


def data_channels(image_shape: tuple[int, ...]) -> int:
    """Channels of images of `image_shape`: (H,W) grey or (H,W,3) colour."""
    if len(image_shape) == 2:
        return 1
    if len(image_shape) == 3 and image_shape[2] == 3:
        return 3
    raise NNVisError(f"image shape {tuple(image_shape)} is not (H,W) or (H,W,3)")


def layer_shape(model: LoadedModel, layer: str, image_shape: tuple[int, ...], device: str = "cpu") -> tuple[int, ...]:
    """The shape of one image's output at `layer` for images of `image_shape` (one forward pass
    of a blank image, as far as `layer`)."""
    probe = torch.zeros((1, data_channels(image_shape), image_shape[0], image_shape[1]), device=device)
    with eval_mode(model.module, device) as module, torch.no_grad():
        x = model.pixels_to_input(probe)
        out = layer_outputs(module, x, [layer])[layer]
        layout = layout_of(module, layer, out.ndim, model.layouts)
        maps = as_maps(module, layer, out, tuple(x.shape[-2:]), layout)
        if maps is None:
            return tuple(layout.units(out).shape[1:])
    return tuple(maps.shape[1:])


def as_maps(module: torch.nn.Module, layer: str, output: torch.Tensor, input_hw: tuple[int, int],
            layout: Layout | None = None, given: dict[str, Layout] | None = None) -> torch.Tensor | None:
    """`layer`'s output as channels-first maps (N, C, h, w), as its layout says, or None for a
    layer without maps (a vector); `input_hw` is the model input's size (a patch grid's aspect);
    `given`: the layouts the user named (`--layout`, LoadedModel.layouts)."""
    layout = layout or layout_of(module, layer, output.ndim, given)
    maps = layout.maps(output, input_hw)
    return maps if maps is not None and maps.ndim == 4 else None


def map_layers(model: LoadedModel, image_shape: tuple[int, ...], device: str = "cpu") -> list[str]:
    """The module paths (in `nnvis layers` order) whose output is feature maps (N,C,H,W) for
    images of `image_shape` ((H,W) or (H,W,3)): the layers a structure strip can show."""
    module = model.module
    names = list_layers(module)
    shapes: dict[str, int] = {}
    probe = torch.zeros((1, 3 if len(image_shape) == 3 else 1, image_shape[0], image_shape[1]), device=device)

    def record(name: str, output) -> None:  # a hook that returns a value would replace the output
        output = first_tensor(output)
        if name not in shapes and isinstance(output, torch.Tensor) and output.ndim >= 3:
            try:
                layout = layout_of(module, name, output.ndim, model.layouts)
                shapes[name] = 4 if layout.maps(output, hw) is not None else 0
            except NNVisError:  # a layout that cannot be known: no maps
                shapes[name] = 0

    hooks = {name: (lambda out, name=name: record(name, out)) for name in names}
    with eval_mode(module, device), forward_hooks(module, hooks), torch.no_grad():
        x = model.pixels_to_input(probe)
        hw = tuple(x.shape[-2:])
        module(x)
    return [name for name in names if shapes.get(name) == 4]


def not_maps_error(model: LoadedModel, layer: str, shape: tuple[int, ...], image_shape: tuple[int, ...],
                   device: str) -> NNVisError:
    """The error for a layer without feature maps, naming the layers that have them."""
    valid = map_layers(model, image_shape, device)
    hint = f"layers with maps: {', '.join(valid[:12])}{' ...' if len(valid) > 12 else ''}" if valid \
        else "this model has no layer with (C, H, W) feature maps"
    return NNVisError(f"layer '{layer}' outputs shape {tuple(shape[1:])} per image, not feature maps "
                      f"(C, H, W); feature maps need a convolutional layer; {hint}")


@torch.no_grad()
def feature_maps(model: LoadedModel, images: np.ndarray, layer: str, device: str = "cpu", *,
                 batch_size: int = 64) -> np.ndarray:
    """Full feature maps (float32, n x C x H x W) of `layer` for uint8 `images` ((n,H,W) or
    (n,H,W,3)). A dense layer (output n x D) raises NNVisError naming the layers with maps.
    The model's train/eval mode is restored afterwards."""
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim not in (3, 4) or len(images) == 0:
        raise NNVisError(f"feature_maps needs uint8 images (n,H,W) or (n,H,W,3) with n >= 1, "
                         f"got {images.dtype} {images.shape}")
    parts = []
    with eval_mode(model.module, device) as module:
        for start in range(0, len(images), batch_size):
            x = model.input_tensor(images[start:start + batch_size]).to(device)
            out = layer_outputs(module, x, [layer])[layer]
            maps = as_maps(module, layer, out, tuple(x.shape[-2:]), given=model.layouts)
            if maps is None:
                raise not_maps_error(model, layer, tuple(out.shape), images.shape[1:], device)
            parts.append(maps.float().cpu())
    return torch.cat(parts).numpy()


def channel_alphas(maps: np.ndarray) -> np.ndarray:
    """Shang's alpha: the mean activation of each map, over its last two (spatial) axes."""
    maps = np.asarray(maps)
    if maps.ndim < 3:
        raise NNVisError(f"expected feature maps (C,H,W) or (n,C,H,W), got shape {maps.shape}")
    return maps.mean(axis=(-2, -1), dtype=np.float64).astype(np.float32)


def top_channels(maps: np.ndarray, k: int = 9) -> tuple[np.ndarray, np.ndarray]:
    """The `k` channels of largest alpha, largest first (ties: lower index first), and their
    alphas. `maps` is one image's (C,H,W) or a batch (n,C,H,W), giving (k,) or (n,k) arrays;
    a layer with fewer than `k` channels gives all of them."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise NNVisError(f"k must be a positive integer, got {k!r}")
    alphas = channel_alphas(maps)
    order = np.argsort(-alphas, axis=-1, kind="stable")[..., :k]
    return order, np.take_along_axis(alphas, order, axis=-1)


def upsample(fmap: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """One map (h,w) resized to `size` (H,W) with bilinear interpolation, float32."""
    fmap = np.asarray(fmap, dtype=np.float32)
    if fmap.ndim != 2:
        raise NNVisError(f"expected one feature map (h,w), got shape {fmap.shape}")
    tensor = torch.from_numpy(np.ascontiguousarray(fmap))[None, None]
    return F.interpolate(tensor, size=tuple(size), mode="bilinear", align_corners=False)[0, 0].numpy()


def normalise(values: np.ndarray, low: float | None = None, high: float | None = None) -> np.ndarray:
    """Values scaled to [0, 1] between `low` and `high` (default: their min and max); a
    constant array gives zeros."""
    values = np.asarray(values, dtype=np.float32)
    low = float(values.min()) if low is None else low
    high = float(values.max()) if high is None else high
    if high <= low:
        return np.zeros_like(values)
    return np.clip((values - low) / (high - low), 0.0, 1.0)


# Anchors of a black-red-yellow-white heat scale (value, R, G, B).
_HEAT = np.array([[0.0, 0, 0, 0], [0.35, 200, 20, 0], [0.7, 255, 200, 0], [1.0, 255, 255, 255]], np.float32)


def heat_colours(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] (any shape) to uint8 RGB colours (shape + (3,)) on a heat scale."""
    values = np.clip(np.asarray(values, dtype=np.float32), 0.0, 1.0)
    rgb = [np.interp(values, _HEAT[:, 0], _HEAT[:, c]) for c in (1, 2, 3)]
    return np.round(np.stack(rgb, axis=-1)).astype(np.uint8)


def overlay(image: np.ndarray, fmap: np.ndarray, opacity: float = 0.6) -> np.ndarray:
    """One feature map as a heat image over its input: the map upsampled (bilinear) to the
    image's size, scaled to [0, 1] by its min and max, coloured, and blended with the image
    (grey images become RGB). Returns uint8 (H,W,3)."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise NNVisError(f"overlay needs a uint8 image (H,W) or (H,W,3), got {image.dtype} {image.shape}")
    if not 0.0 <= opacity <= 1.0:
        raise NNVisError(f"opacity must be between 0 and 1, got {opacity}")
    rgb = np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image
    heat = heat_colours(normalise(upsample(fmap, image.shape[:2]))).astype(np.float32)
    return np.round((1.0 - opacity) * rgb.astype(np.float32) + opacity * heat).astype(np.uint8)


def unit_activation(output: torch.Tensor, layout: Layout | None = None, tokens: str | None = None) -> torch.Tensor:
    """Every unit's activation per image, keeping autograd history: (N,D) as is, maps reduced
    to their spatial mean, token sequences to the chosen tokens (as `layout` says; without
    one, channels-first)."""
    if layout is not None and output.ndim > 2:
        output = layout.batch_first(output)
        if layout.kind == "channels-last":
            return output.flatten(1, -2).mean(dim=1)
        if layout.is_tokens:
            tokens = tokens or ("cls" if layout.prefix else "mean")
            if tokens == "cls":
                return output[:, :2].mean(dim=1) if layout.distilled else output[:, 0]
            return output[:, layout.prefix:].mean(dim=1)
    return output.flatten(2).mean(dim=2) if output.ndim > 2 else output.reshape(output.shape[0], -1)
