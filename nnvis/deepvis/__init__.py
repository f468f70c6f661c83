"""Deep visualisation of one input: the layer grid, filters and weighted sums, saliency, and the
structure strip.

Public names below (each loads its module on first use); everything else is the wing's own."""

from nnvis._exports import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "check_sort": "grid",
    "first_layer_filters": "grid",
    "grid_mosaic": "grid",
    "heat_picture": "grid",
    "layer_grid": "grid",
    "model_input": "grid",
    "pen_width": "drawing",
    "rasterize_strokes": "drawing",
    "check_drawing": "drawing",
    "resolve_weight_layer": "grid",
    "signed_unit": "grid",
    "tile": "grid",
    "weight_picture": "grid",
    "weighted_sum_view": "grid",
    "Explainer": "saliency",
    "METHODS": "saliency",
    "check_method": "saliency",
    "MAX_FILE_BYTES": "strip",
    "read_image_file": "strip",
    "select_layers": "strip",
    "strip_grid": "strip",
    "structure_strip": "strip",
})
