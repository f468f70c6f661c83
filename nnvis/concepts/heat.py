"""Each concept's heat-map over the whole image of each of its first exemplars (the crops the
concept atlas page shows; the full picture on hover): the concept's strength at every position
of the layer for that image (atlas.heat_maps), stored beside the atlas and reused."""

from __future__ import annotations

import numpy as np

from nnvis.concepts.atlas import Request, atlas, heat_maps
from nnvis.workspace import keys

Arrays = dict[str, np.ndarray]


def exemplar_heat_key(request: Request, crops: int):
    return keys.concept_exemplar_heat(request.analysis, request.layer, request.epoch, request.k, request.seed,
                                      request.images, crops)


def exemplar_heat(request: Request, crops: int) -> Arrays:
    """{"observation": (K, crops) subset rows, "heat": (K, crops, h, w) float32}: concept j's
    strength map over the image of its i-th exemplar (computed and stored on a miss)."""
    def compute() -> Arrays:
        found = atlas(request)
        rows = np.asarray(found["exemplar_observation"])[:, :crops]
        unique, where = np.unique(rows, return_inverse=True)
        maps = heat_maps(request, request.analysis.subset()["images"][unique])  # (n, K, h, w)
        where = where.reshape(rows.shape)
        heat = np.stack([maps[where[j], j] for j in range(rows.shape[0])]).astype(np.float32)
        return {"observation": rows.astype(np.int64), "heat": heat}
    return request.analysis.store.get_or_compute(exemplar_heat_key(request, crops), compute)
