"""Shang, Yang and He's structure visualization (algorithm 1): for one input image and layers
st..sp in steps of s, the top-k (9) feature maps of each layer by alpha (a map's mean
activation), shallow layers first. Also reading a user's image file for it, and drawing the
strip as one grid image.

Layers are given by module path, or as indices st..sp (both included) step s into
`map_layers(model, image_shape)`: every module path whose output is (C,H,W) maps, in the
order `nnvis layers` lists them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageOps, UnidentifiedImageError

from nnvis.data.preprocess import Preprocess
from nnvis.errors import NNVisError
from nnvis.models.feature_maps import (
    as_maps,
    heat_colours,
    layer_outputs,
    map_layers,
    normalise,
    not_maps_error,
    top_channels,
)
from nnvis.models.hooks import eval_mode
from nnvis.models.zoo import LoadedModel

MAX_FILE_BYTES = 10 * 2**20
MAX_SIDE = 4096
IMAGE_FORMATS = ("PNG", "JPEG")


@dataclass
class StripLayer:
    """One row of the strip: the layer, its top channels (largest alpha first), their alphas,
    their maps (k,H,W) and the layer's channel count."""

    layer: str
    channels: np.ndarray
    alphas: np.ndarray
    maps: np.ndarray
    n_channels: int

    def summary(self) -> dict:
        """JSON-ready: layer, channels, alphas, map size."""
        return {"layer": self.layer, "channels": [int(c) for c in self.channels],
                "alphas": [float(a) for a in self.alphas], "map_size": list(self.maps.shape[1:]),
                "n_channels": self.n_channels}


def strip_arrays(rows: list[StripLayer]) -> dict[str, np.ndarray]:
    """The strip as named plain arrays (no object arrays: stored without pickling)."""
    arrays = {"layers": np.array([row.layer for row in rows], dtype=str),
              "n_channels": np.array([row.n_channels for row in rows], dtype=np.int64)}
    for i, row in enumerate(rows):
        arrays.update({f"channels{i}": np.asarray(row.channels, np.int64), f"alphas{i}": np.asarray(row.alphas),
                       f"maps{i}": np.asarray(row.maps, np.float32)})
    return arrays


def strip_from_arrays(arrays: dict[str, np.ndarray]) -> list[StripLayer]:
    """Inverse of `strip_arrays`."""
    return [StripLayer(str(layer), arrays[f"channels{i}"], arrays[f"alphas{i}"], arrays[f"maps{i}"], int(channels))
            for i, (layer, channels) in enumerate(zip(arrays["layers"], arrays["n_channels"]))]


def select_layers(available: list[str], start: int = 0, stop: int | None = None, step: int = 1,
                  labels: tuple[str, str, str] = ("--start", "--stop", "--step")) -> list[str]:
    """Layers `start`..`stop` (both included; stop None: the last) in steps of `step` of `available`;
    a bad value is named by its `labels` (the CLI's flags, or the boxes of a page)."""
    n = len(available)
    if n == 0:
        raise NNVisError("this model has no layer with (C, H, W) feature maps; the strip needs convolutional layers")
    stop = n - 1 if stop is None else stop
    for label, value in zip(labels, (start, stop)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value < n:
            shown = ", ".join(available[:12]) + (" ..." if n > 12 else "")
            raise NNVisError(f"{label} {value!r} is out of range; allowed: 0..{n - 1} "
                             f"(the {n} layers with feature maps: {shown})")
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 1:
        raise NNVisError(f"{labels[2]} must be a positive integer, got {step!r}")
    if stop < start:
        raise NNVisError(f"{labels[1]} {stop} is before {labels[0]} {start}; need start <= stop")
    return available[start:stop + 1:step]


@torch.no_grad()
def structure_strip(model: LoadedModel, image: np.ndarray, layers: list[str] | None = None, *,
                    start: int = 0, stop: int | None = None, step: int = 1, k: int = 9,
                    device: str = "cpu") -> list[StripLayer]:
    """Algorithm 1 for uint8 `image` ((H,W) or (H,W,3)): for each layer (the `layers` given by
    module path, else `start`..`stop` step `step` of map_layers), its feature maps A_l, the
    alpha of each map, and the `k` maps of largest alpha. One forward pass, stopped after the
    deepest layer; the model's train/eval mode is restored afterwards."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise NNVisError(f"the strip needs one uint8 image (H,W) or (H,W,3), got {image.dtype} {image.shape}")
    if layers is None:
        layers = select_layers(map_layers(model, image.shape, device), start, stop, step)
    elif not layers:
        raise NNVisError("no layers given for the strip; give module paths or start/stop/step")
    with eval_mode(model.module, device) as module:
        x = model.input_tensor(image[None]).to(device)
        outputs = layer_outputs(module, x, list(layers))
    rows = []
    for name in layers:
        out = as_maps(model.module, name, outputs[name], tuple(x.shape[-2:]), given=model.layouts)  # as its layout says
        if out is None:
            raise not_maps_error(model, name, tuple(outputs[name].shape), image.shape, device)
        maps = out[0].float().cpu().numpy()
        channels, alphas = top_channels(maps, k)
        rows.append(StripLayer(name, channels, alphas, maps[channels], int(maps.shape[0])))
    return rows


def read_image_file(path: str | Path, image_shape: tuple[int, ...], preprocess: Preprocess | None = None) -> np.ndarray:
    """A PNG or JPEG file as a uint8 image of `image_shape` ((H,W) grey or (H,W,3) colour),
    turned upright by its EXIF orientation and resized with bilinear filtering (first through
    the workspace's `preprocess` resize and centre crop when it has them, as its data was). Rejects what
    is not such a file, files over 10 MB and images over 4096 pixels a side with NNVisError
    (sizes are read before decoding)."""
    path = Path(path)
    if not path.is_file():
        raise NNVisError(f"image file {path} does not exist")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise NNVisError(f"image file {path} is {size / 2**20:.1f} MB; allowed: at most {MAX_FILE_BYTES // 2**20} MB")
    try:
        with Image.open(path) as picture:
            if picture.format not in IMAGE_FORMATS + ("MPO",):  # MPO: a camera's multi-picture JPEG
                raise NNVisError(f"{path} is a {picture.format} image; allowed: {', '.join(IMAGE_FORMATS)}")
            width, height = picture.size
            if max(width, height) > MAX_SIDE:
                raise NNVisError(f"image {path} is {width}x{height} pixels; allowed: at most {MAX_SIDE} a side")
            mode = "RGB" if len(image_shape) == 3 else "L"
            upright = ImageOps.exif_transpose(picture).convert(mode)
            if preprocess is not None and (preprocess.image_size or preprocess.crop):
                upright = Image.fromarray(preprocess.resize_image(np.asarray(upright)))
            picture = upright.resize((int(image_shape[1]), int(image_shape[0])), Image.BILINEAR)
            return np.asarray(picture, dtype=np.uint8).copy()
    except Image.DecompressionBombError:
        raise NNVisError(f"image {path} has far too many pixels; allowed: at most {MAX_SIDE} a side") from None
    except UnidentifiedImageError:
        raise NNVisError(f"{path} is not an image PIL can read; allowed: {', '.join(IMAGE_FORMATS)} files") from None
    except NNVisError:
        raise  # already says what is wrong (an NNVisError is a ValueError too)
    except ValueError as error:  # e.g. a PNG text chunk that unpacks beyond PIL's limit ("Decompressed Data Too Large")
        raise NNVisError(f"cannot read image {path}: {error}") from None
    except OSError as error:
        raise NNVisError(f"cannot read image {path}: {error}") from None


def strip_grid(rows: list[StripLayer], image: np.ndarray | None = None, *, cell: int = 64, gap: int = 4,
               label_width: int = 120) -> np.ndarray:
    """The strip as one uint8 RGB picture: a row per layer (its name at the left, then its top
    maps enlarged to `cell` pixels with nearest-neighbour, coloured on a heat scale normalised
    over that row's maps), under a first row holding the input `image` when given."""
    if not rows:
        raise NNVisError("the strip has no layers to draw")
    columns = max(len(row.channels) for row in rows)
    lines = len(rows) + (image is not None)
    canvas = Image.new("RGB", (label_width + columns * (cell + gap) + gap, lines * (cell + gap) + gap), "white")
    draw = ImageDraw.Draw(canvas)
    top = gap
    if image is not None:
        picture = Image.fromarray(np.asarray(image, dtype=np.uint8)).convert("RGB").resize((cell, cell), Image.NEAREST)
        canvas.paste(picture, (label_width + gap, top))
        draw.text((gap, top + cell // 2 - 5), "input", fill="black")
        top += cell + gap
    for row in rows:
        low, high = float(row.maps.min()), float(row.maps.max())
        draw.text((gap, top + cell // 2 - 5), row.layer[-18:], fill="black")
        for column, (channel, fmap) in enumerate(zip(row.channels, row.maps)):
            tile = Image.fromarray(heat_colours(normalise(fmap, low, high))).resize((cell, cell), Image.NEAREST)
            left = label_width + gap + column * (cell + gap)
            canvas.paste(tile, (left, top))
            draw.text((left + 2, top + 1), str(int(channel)), fill=(80, 160, 255))
        top += cell + gap
    return np.asarray(canvas)
