"""The attention panel's callback on /deepvis: one forward pass of a small transformer for the
current input (nnvis.deepvis.attention), drawn as heat maps over the input. A larger model
(more than MAX_PARAMETERS weights) is not run in a request: the panel names `nnvis attention`."""

from __future__ import annotations

import numpy as np
from dash import Input, Output, State

from layouts import deepvis_figures as figures
from layouts.figures import message_figure
from nnvis.deepvis.attention import attention_layers, attention_maps
from nnvis.errors import NNVisError
from nnvis.models.feature_maps import normalise, upsample
from web.context import open_analysis
from web.errors import figure_and_text, or_message
from web.registry import callback
from web.uploads import stored_image

MAX_PARAMETERS = 5_000_000  # a forward pass well under a second on a CPU
SHOWN_LAYERS = 8


def current_image(analysis, data) -> tuple[np.ndarray, str]:
    """The `dv-input` store's image: a stored upload or drawing by digest, else an observation."""
    shape = tuple(analysis.manifest["image_shape"])
    if isinstance(data, dict) and data.get("digest") is not None:
        return stored_image(data["digest"], shape), str(data.get("source") or "uploaded image")[:80]
    value = data.get("observation", 0) if isinstance(data, dict) else 0
    n = analysis.config.subset
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or not 0 <= value < n:
        raise NNVisError(f"observation {value!r} is not in the subset; allowed: 0..{n - 1}")
    return analysis.subset()["images"][int(value)], f"observation {int(value)}"


def attention_view(ws, data, epoch, head) -> tuple:
    analysis = open_analysis(ws)
    try:
        epoch = int(epoch)
    except (TypeError, ValueError):
        raise NNVisError(f"epoch {epoch!r} is not a number; allowed: {analysis.epochs}") from None
    analysis.weights(epoch)
    model = analysis.model(epoch)
    if not attention_layers(model.module):
        raise NNVisError("this model has no attention module: the attention panel is for transformers")
    size = sum(p.numel() for p in model.module.parameters())
    if size > MAX_PARAMETERS:
        raise NNVisError(f"the model has {size:,} weights, too many to run in a page request; write its attention "
                         f"with `nnvis attention --workspace W --observation I --out DIR`")
    image, caption = current_image(analysis, data)
    found = attention_maps(model.module, model.input_tensor(image[None]))
    heads = len(next(iter(found.maps.values())))
    if head is not None and (isinstance(head, bool) or head != int(head) or not 0 <= head < heads):
        raise NNVisError(f"head {head!r} is not a head of the model; allowed: 0..{heads - 1}, or empty for the mean")
    hw = image.shape[:2]
    panels = [("rollout", normalise(upsample(found.rollout, hw)))]
    picked = found.layers[-SHOWN_LAYERS:]
    for layer in picked:
        maps = found.maps[layer]
        chosen = maps.mean(axis=0) if head is None else maps[int(head)]
        panels.append((f"{layer.split('.')[-2]}", normalise(upsample(chosen, hw))))
    which = "mean of the heads" if head is None else f"head {int(head)}"
    text = (f"{caption}: {len(found.layers)} layers ({which}; the last {len(picked)} shown), {heads} heads, "
            f"{found.grid[0]}x{found.grid[1]} patches")
    return figures.overlay_figure(image, panels, cols=min(len(panels), 5)), text


@callback(Output("dv-attention", "figure"), Output("dv-attention-status", "children"),
          State("dv-ws", "value"), Input("dv-input", "data"), Input("dv-epoch", "value"),
          Input("dv-attention-head", "value"))
def render_attention(ws, data, epoch, head):
    return or_message(attention_view, ws, data, epoch, head, answer=figure_and_text(message_figure, 2))
