"""Images as PNG bytes for thumbnails and insets."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def to_png(image: np.ndarray, size: int = 96) -> bytes:
    """A uint8 (H,W) or (H,W,3) image upscaled with nearest-neighbour (crisp pixels) so that
    its longer side is about `size` pixels, as PNG bytes."""
    picture = Image.fromarray(np.asarray(image, dtype=np.uint8))
    scale = max(1, round(size / max(picture.size)))
    picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()
