"""One image holding every observation's thumbnail in a grid (row-major, index i at row
i // columns, column i % columns): the exported page's hover images and TensorBoard's sprite."""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image

from nnvis.errors import NNVisError

SPRITE_LIMIT = 8192  # pixels per side: TensorBoard's projector refuses larger sprites; browsers cope with it


def sprite(images: np.ndarray, limit: int = SPRITE_LIMIT) -> tuple[bytes, int, int, int]:
    """(PNG bytes, columns, cell height, cell width) of `images` (uint8, N x H x W or N x H x W x 3),
    shrunk by a whole factor when the grid would exceed `limit` pixels per side."""
    images = np.asarray(images, dtype=np.uint8)
    if images.ndim not in (3, 4) or len(images) == 0:
        raise NNVisError(f"cannot make a sprite of images shaped {images.shape}; allowed: N x H x W (x 3), N > 0")
    columns = math.ceil(math.sqrt(len(images)))
    rows = math.ceil(len(images) / columns)
    height, width = images.shape[1:3]
    shrink = max(1, math.ceil(max(rows * height, columns * width) / limit))
    if shrink > 1:
        images = np.stack([np.asarray(Image.fromarray(image).resize(
            (max(1, width // shrink), max(1, height // shrink)), Image.BILINEAR)) for image in images])
        height, width = images.shape[1:3]
    grid = np.zeros((rows * height, columns * width, *images.shape[3:]), dtype=np.uint8)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        grid[r * height:(r + 1) * height, c * width:(c + 1) * width] = image
    buffer = io.BytesIO()
    Image.fromarray(grid).save(buffer, format="PNG")
    return buffer.getvalue(), columns, height, width
