"""Patch tokens as observations (`--tokens patches`) of a workspace's token layer: a seeded
sample of at most MAX_PATCHES patch tokens (nnvis.models.patches), projected to 2-D and stored
under the key of what made it, so `nnvis patches`, the dashboard's job and its second view read
one artifact. Each token keeps its image (subset index), that image's class and its cell on the
patch grid; `outline` is where that cell lies on the image."""

from __future__ import annotations

import numpy as np

from nnvis.errors import NNVisError
from nnvis.models.layout import TOKEN_KINDS, parse_layouts
from nnvis.models.patches import MAX_PATCHES, patch_tokens
from nnvis.projection.methods import check_method, project
from nnvis.projection.metrics import neighborhood_hit
from nnvis.workspace import keys
from nnvis.workspace.analysis import Analysis
from nnvis.workspace.store import Arrays, ArtifactKey


def is_patch_layer(analysis: Analysis, layer: str) -> bool:
    """Whether `layer` is a token layer with patch tokens, as the workspace's run recorded its
    layout (workspace.json's "layouts"; a workspace made before layouts were recorded has none)."""
    layout = str(analysis.manifest.get("layouts", {}).get(layer, ""))
    return layout.split(":")[0] in TOKEN_KINDS


def check_patch_layer(analysis: Analysis, layer: str) -> str:
    """`layer` if it is a captured token layer; NNVisError naming the token layers otherwise (a
    workspace that recorded no layouts leaves it to the forward pass, which says so)."""
    analysis.check_layer(layer)
    if "layouts" in analysis.manifest and not is_patch_layer(analysis, layer):
        tokens = [name for name in analysis.layers if is_patch_layer(analysis, name)]
        allowed = ", ".join(tokens) if tokens else "none: this workspace has no token layer"
        kind = str(analysis.manifest["layouts"].get(layer, "")).split(":")[0] or "not captured with a layout"
        raise NNVisError(f"layer '{layer}' is {kind}, not a token sequence; patch tokens are for token layers "
                         f"(N, T, D); allowed: {allowed}")
    return layer


def patch_projection_key(analysis: Analysis, layer: str, epoch: int, method: str | None = None,
                         sample: int = MAX_PATCHES) -> ArtifactKey:
    return keys.patch_projection(analysis, layer, epoch, method, sample)


def has_patch_projection(analysis: Analysis, layer: str, epoch: int, method: str | None = None,
                         sample: int = MAX_PATCHES) -> bool:
    """Whether the projection is stored (showing it costs no forward pass and no projection)."""
    return patch_projection_key(analysis, layer, epoch, method, sample) in analysis.store


def patch_projection(analysis: Analysis, layer: str, epoch: int, method: str | None = None,
                     sample: int = MAX_PATCHES) -> Arrays:
    """The sampled patch tokens of `layer` at `epoch` projected with `method`: "points" (n, 2),
    "image" (subset index), "label" (its class), "row" and "column" (its cell), "grid"
    (rows, columns), "nh" (per-token neighbourhood hit by class, k = 6), "units" (D)."""
    method = check_method(method or analysis.config.projection)
    check_patch_layer(analysis, layer)

    def compute() -> Arrays:
        stage = f"patch tokens of {layer}"
        analysis.progress(stage, 0, 1)
        found = patch_tokens(analysis.model(epoch), analysis.subset()["images"], layer, sample=sample,
                             seed=analysis.config.seed, device=analysis.device,
                             layouts=parse_layouts(analysis.config.layout))
        analysis.progress(stage, 1, 1)
        stage = f"{method} of {len(found.rows):,} patch tokens"
        points = project(found.rows, method, seed=analysis.config.seed, device=analysis.device,
                         steps=lambda done, total: analysis.progress(stage, done, total))
        labels = analysis.labels[found.image]
        return {"points": points, "image": found.image.astype(np.int64), "label": labels.astype(np.int64),
                "row": found.row.astype(np.int64), "column": found.column.astype(np.int64),
                "grid": np.array(found.grid, dtype=np.int64), "units": np.int64(found.rows.shape[1]),
                "nh": neighborhood_hit(points, labels).astype(np.float32)}
    return analysis.store.get_or_compute(patch_projection_key(analysis, layer, epoch, method, sample), compute)


def outline(row: int, column: int, grid: tuple[int, int]) -> tuple[float, float, float, float]:
    """(left, top, width, height) of patch (`row`, `column`) of a `grid` (rows, columns), as
    fractions of the image's width and height (the subset's images are the model's input)."""
    rows, columns = int(grid[0]), int(grid[1])
    if not (0 <= row < rows and 0 <= column < columns):
        raise NNVisError(f"patch ({row}, {column}) is outside the {rows}x{columns} patch grid")
    return column / columns, row / rows, 1 / columns, 1 / rows
