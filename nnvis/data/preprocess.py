"""A workspace's preprocessing: what stands between the data's uint8 pixels and the model.

`--image-size N` resizes (the shorter side to N, as torchvision's Resize), `--crop N` takes the
centre N x N; both act once on the uint8 images, so every picture shown is what the model gets.
`--normalize MEAN/STD` maps pixels in [0, 1] to the model's input space, (x - mean) / std per
channel; `to_model` and `to_pixels` are the only way in and out of that space, so every place
where a tensor meets the model goes through this object.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from nnvis.errors import NNVisError
from nnvis.validation import whole_number

if TYPE_CHECKING:
    import torch

NORMALIZE_NONE = "none"
NAMED_NORMALIZATIONS = {
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}
NORMALIZE_HELP = ("per-channel MEAN/STD as comma lists (e.g. 0.4914,0.4822,0.4465/0.2470,0.2435,0.2616), "
                  f"or {', '.join(NAMED_NORMALIZATIONS)} or {NORMALIZE_NONE}")


def parse_normalize(text: str | None) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """`none`/None -> None; `imagenet` -> its mean/std; `m1,m2,m3/s1,s2,s3` -> the two tuples."""
    if text is None or str(text).strip().lower() == NORMALIZE_NONE:
        return None
    text = str(text).strip()
    if text.lower() in NAMED_NORMALIZATIONS:
        return NAMED_NORMALIZATIONS[text.lower()]
    parts = text.split("/")
    try:
        mean, std = (tuple(float(v) for v in part.split(",")) for part in parts) if len(parts) == 2 else (None, None)
    except ValueError:
        mean = std = None
    if not mean or not std:
        raise NNVisError(f"--normalize {text!r} is invalid; allowed: {NORMALIZE_HELP}")
    if len(mean) != len(std):
        raise NNVisError(f"--normalize {text!r} has {len(mean)} mean and {len(std)} std values; "
                         "allowed: one mean and one std per channel")
    if not all(math.isfinite(v) for v in mean + std):
        raise NNVisError(f"--normalize {text!r} holds a value that is not a finite number")
    for channel, value in enumerate(std):
        if not value > 0:
            raise NNVisError(f"--normalize std of channel {channel} is {value:g}; allowed: std > 0 for every channel")
    return mean, std


def normalize_text(normalize) -> str:
    """The manifest's text for a normalisation given as text, None or a (mean, std) pair."""
    if normalize is None:
        return NORMALIZE_NONE
    if isinstance(normalize, str):
        return normalize
    mean, std = normalize
    return f"{','.join(f'{float(v):g}' for v in mean)}/{','.join(f'{float(v):g}' for v in std)}"


def check_size(value, flag: str) -> int | None:
    """None, or a whole number >= 1 (NNVisError naming `flag` otherwise)."""
    if value is None:
        return None
    return whole_number(value, flag, 1, detail="allowed: a whole number of pixels >= 1")


@dataclass(frozen=True)
class Preprocess:
    """Resize, centre crop (on uint8 images) and per-channel normalisation (on model tensors)."""

    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    image_size: int | None = None
    crop: int | None = None

    @classmethod
    def from_options(cls, normalize: str | None = None, image_size: int | None = None,
                     crop: int | None = None) -> "Preprocess":
        """From the `--normalize`, `--image-size` and `--crop` values (checked)."""
        pair = parse_normalize(normalize)
        return cls(*(pair or (None, None)), check_size(image_size, "--image-size"), check_size(crop, "--crop"))

    @classmethod
    def of(cls, config) -> "Preprocess":
        """The preprocessing a RunConfig asks for."""
        return cls.from_options(config.normalize, config.image_size, config.crop)

    @property
    def is_default(self) -> bool:
        return self.mean is None and self.image_size is None and self.crop is None

    def key(self) -> dict:
        """Store-key parameters: none for the default, so existing caches stay valid."""
        if self.is_default:
            return {}
        return {"preprocess": f"mean={self.mean};std={self.std};size={self.image_size};crop={self.crop}"}

    # ---- the model's input space
    def _stats(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        import torch  # here, not at the top: reading a workspace's settings needs no torch

        if len(self.mean) != x.shape[1]:
            raise NNVisError(f"--normalize gives {len(self.mean)} value(s) per statistic but the model takes "
                             f"{x.shape[1]} channel(s); allowed: one mean and one std per model input channel")
        shape = (1, -1) + (1,) * (x.ndim - 2)
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).reshape(shape)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).reshape(shape)
        return mean, std

    def to_model(self, pixels: torch.Tensor) -> torch.Tensor:
        """(N,C,H,W) pixels in [0, 1] to the model's input space (differentiable)."""
        if self.mean is None:
            return pixels
        mean, std = self._stats(pixels)
        return (pixels - mean) / std

    def to_pixels(self, x: torch.Tensor) -> torch.Tensor:
        """The inverse of `to_model`: model inputs back to pixels (in [0, 1] where they came from there)."""
        if self.mean is None:
            return x
        mean, std = self._stats(x)
        return x * std + mean

    def check_channels(self, model_channels: int, data_channels: int) -> None:
        """NNVisError when the normalisation's channel count fits neither model nor data."""
        if self.mean is not None and len(self.mean) != model_channels:
            raise NNVisError(f"--normalize gives {len(self.mean)} mean/std value(s), but the model takes "
                             f"{model_channels} input channel(s) (the data has {data_channels}); "
                             f"allowed: {model_channels} value(s) per statistic")

    # ---- uint8 images
    def output_shape(self, height: int, width: int) -> tuple[int, int]:
        """(H, W) of an image of height x width after resize and crop."""
        if self.image_size is not None:
            height, width = resize_sides(height, width, self.image_size)
        if self.crop is not None:
            if self.crop > min(height, width):
                raise NNVisError(f"--crop {self.crop} is larger than the images ({height}x{width} after resizing); "
                                 f"allowed: at most {min(height, width)}")
            height = width = self.crop
        return height, width

    def resize_images(self, images: np.ndarray) -> np.ndarray:
        """uint8 images (N,H,W[,3]) resized (shorter side to image_size) and centre-cropped."""
        height, width = images.shape[1], images.shape[2]
        if self.output_shape(height, width) == (height, width) and self.crop is None:
            return images
        return np.stack([self.resize_image(image) for image in images])

    def resize_image(self, image: np.ndarray) -> np.ndarray:
        """One uint8 image (H,W[,3]) resized and centre-cropped as `resize_images` does."""
        from PIL import Image

        height, width = image.shape[:2]
        if self.image_size is not None and min(height, width) != self.image_size:
            new_h, new_w = resize_sides(height, width, self.image_size)
            image = np.asarray(Image.fromarray(image).resize((new_w, new_h), Image.Resampling.BILINEAR))
        if self.crop is not None:
            self.output_shape(*image.shape[:2])  # the error for a crop larger than the image
            top, left = (image.shape[0] - self.crop) // 2, (image.shape[1] - self.crop) // 2
            image = image[top:top + self.crop, left:left + self.crop]
        return np.ascontiguousarray(image)


def resize_sides(height: int, width: int, size: int) -> tuple[int, int]:
    """Shorter side to `size`, the other scaled and truncated (torchvision's Resize with one int)."""
    if height <= width:
        return size, max(1, int(size * width / height))
    return max(1, int(size * height / width)), size


def resized_dataset(dataset, preprocess: Preprocess):
    """`dataset` with both splits resized and cropped by `preprocess` (itself when nothing changes)."""
    from nnvis.data.datasets import ImageDataset

    if preprocess.image_size is None and preprocess.crop is None:
        return dataset
    train = preprocess.resize_images(dataset.train_images) if dataset.train_images is not None else None
    return ImageDataset(dataset.name, preprocess.resize_images(dataset.test_images), dataset.test_labels,
                        dataset.classes, train, dataset.train_labels)


def load_data(config, *, download: bool = False, cache_dir=None):
    """The data set a RunConfig names, at the size its preprocessing asks for (an image folder
    decoded once into a memory-mapped file in `cache_dir` when given)."""
    from nnvis.data.datasets import load_dataset

    preprocess = Preprocess.of(config)
    folder = {"image_size": preprocess.image_size, "cache_dir": cache_dir} if config.dataset == "imagefolder" else {}
    dataset = load_dataset(config.dataset, config.data_dir, download=download, seed=config.seed, **folder)
    return resized_dataset(dataset, preprocess)
