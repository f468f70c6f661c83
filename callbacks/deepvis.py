"""Callbacks of the deep-visualization page. Thin: read the controls, call nnvis.deepvis.grid and
nnvis.deepvis.saliency, build figures with layouts.deepvis_figures. The views are plain functions.

The current input lives in the `dv-input` store: {"observation": i} for a subset observation,
or {"digest", "source", "shape"} for an uploaded or drawn image, stored once by web.uploads (the
pixels are never sent back from the browser). The grid of an input is kept per process, so a
hover reads it instead of rebuilding the model and rerunning the forward pass."""

from __future__ import annotations

import base64
import binascii
import re
import tempfile
from pathlib import Path

import numpy as np
from dash import Input, Output, State, ctx, no_update
from dash.exceptions import PreventUpdate

from layouts import deepvis_figures as figures
from layouts.figures import message_figure
from layouts.page_parts import HOVER_HINT
from nnvis.deepvis.grid import (
    check_sort,
    first_layer_filters,
    grid_mosaic,
    layer_grid,
    model_input,
    rasterize_strokes,
    signed_unit,
    tile,
    weight_picture,
    weighted_sum_view,
)
from nnvis.deepvis.saliency import METHODS, Explainer
from nnvis.deepvis.strip import MAX_FILE_BYTES, read_image_file
from nnvis.errors import NNVisError
from nnvis.models.feature_maps import normalise, upsample
from web.context import open_analysis
from web.errors import figure_and_text, or_message
from web.registry import callback, clientside_callback
from web.uploads import image_record, input_key, per_input, stored_image

METHOD_NAMES = {"gradient": "gradient", "guided": "guided backprop", "integrated": "integrated gradients"}
SHOWN_FILTERS = 64


# ---- what the page offers





# ---- the input

def open_view(ws, epoch, layer=None):
    """(Analysis, epoch as an int) of workspace `ws`, building no model; NNVisError for an epoch
    without a snapshot or a layer that is not a module path."""
    if layer is not None and not isinstance(layer, str):
        raise NNVisError(f"layer {layer!r} is not a module path; pick one from the list")
    analysis = open_analysis(ws)
    try:
        epoch = int(epoch)
    except (TypeError, ValueError):
        raise NNVisError(f"epoch {epoch!r} is not a number; allowed: {analysis.epochs}") from None
    analysis.weights(epoch)
    return analysis, epoch


def load(ws, epoch, layer=None):
    """(Analysis, model at `epoch`) of workspace `ws` (open_view's checks)."""
    analysis, epoch = open_view(ws, epoch, layer)
    return analysis, analysis.model(epoch)


def unit_number(unit) -> int | None:
    """The unit box's value: None (empty) or a whole number."""
    if unit is None:
        return None
    if isinstance(unit, bool) or not isinstance(unit, (int, float)) or unit != int(unit):
        raise NNVisError(f"unit {unit!r} is not a whole number; allowed: 0 up to the layer's units - 1")
    return int(unit)


def observation_index(analysis, value) -> int:
    n = analysis.config.subset
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or not 0 <= value < n:
        raise NNVisError(f"observation {value!r} is not in the subset; allowed: 0..{n - 1}")
    return int(value)


def input_image(analysis, data) -> tuple[np.ndarray, str]:
    """The current input as a uint8 image of the workspace's image shape, and its caption: a
    stored upload or drawing (by digest; NNVisError to upload again when it is gone), else a
    subset observation."""
    shape = tuple(analysis.manifest["image_shape"])
    if isinstance(data, dict) and data.get("digest") is not None:
        return stored_image(data["digest"], shape), str(data.get("source") or "uploaded image")[:80]
    index = observation_index(analysis, (data or {}).get("observation", 0) if isinstance(data, dict) else data)
    return analysis.subset()["images"][index], f"observation {index}"


def uploaded_image(contents: str | None, filename: str | None, image_shape: tuple[int, ...],
                   preprocess=None) -> np.ndarray:
    """A dcc.Upload data URL as a uint8 image of `image_shape` (through the workspace's resize
    and crop, `preprocess`), with read_image_file's limits (PNG or JPEG, at most 10 MB and 4096
    pixels a side)."""
    name = Path(filename or "the uploaded file").name
    header, _, payload = (contents or "").partition(";base64,")
    if not header.startswith("data:") or not payload:
        raise NNVisError(f"{name} did not arrive as a file; upload a PNG or JPEG")
    if len(payload) > (MAX_FILE_BYTES + 2) * 4 // 3 + 4:
        raise NNVisError(f"{name} is larger than {MAX_FILE_BYTES // 2**20} MB; allowed: at most "
                         f"{MAX_FILE_BYTES // 2**20} MB")
    try:
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise NNVisError(f"{name} did not arrive as a file; upload a PNG or JPEG") from None
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "upload"
        path.write_bytes(raw)
        try:
            return read_image_file(path, image_shape, preprocess)
        except NNVisError as error:
            raise NNVisError(str(error).replace(str(path), name)) from None


NUMBER = r"-?\d+(?:\.\d+)?(?:e-?\d+)?"


def drawn_strokes(relayout: dict | None) -> list[list[tuple[float, float]]]:
    """The freehand paths drawn on the canvas (plotly's 'M x,y L x,y ...' shapes) as point lists."""
    strokes = []
    for shape in (relayout or {}).get("shapes") or []:
        path = shape.get("path", "") if isinstance(shape, dict) else ""
        points = [(float(x), float(y)) for x, y in re.findall(f"({NUMBER}),({NUMBER})", str(path))]
        if points:
            strokes.append(points)
    return strokes


# ---- the views

def input_grid(ws, data, layer, epoch, sort) -> tuple:
    """(analysis, image, caption, LayerGrid, mosaic, channel_at) of the input: kept per process
    by workspace, weights, input, layer and order, so only a new view builds the model."""
    analysis, epoch = open_view(ws, epoch, layer)
    key = analysis.key("layer-grid", layer=layer, epoch=epoch, method=check_sort(sort), input=input_key(data))

    def compute() -> tuple:
        model = analysis.model(epoch)
        image, source = input_image(analysis, data)
        grid = layer_grid(model, model_input(model, image), layer, sort=sort, device=analysis.device)
        return (image, source, grid, *grid_mosaic(grid))
    return (analysis, *per_input("layer-grid", analysis, key, compute))


def grid_view(ws, data, layer, epoch, sort, unit) -> tuple:
    """The grid figure, the probabilities, the input picture and a status line."""
    analysis, image, source, grid, mosaic, channel_at = input_grid(ws, data, layer, epoch, sort)
    kind = "units" if grid.dense else f"maps {grid.maps.shape[1]}×{grid.maps.shape[2]}"
    title = f"{layer}: {len(grid.maps)} {kind}, by {'index' if sort == 'index' else 'mean activation'}"
    status = source
    if grid.probabilities is not None:
        best = int(np.argmax(grid.probabilities))
        status = f"{source}: predicted {analysis.classes[best]} ({grid.probabilities[best]:.1%})"
    return (figures.grid_figure(mosaic, channel_at, title, unit_number(unit)), figures.probabilities_figure(
        grid.probabilities, analysis.classes), figures.image_figure(image, source), status)


def hovered_channel(event: dict | None, channel_at: np.ndarray) -> int:
    """The channel under a hover event of the grid (its cell's row and column)."""
    point = ((event or {}).get("points") or [{}])[0]
    try:
        row, column = int(point["y"]), int(point["x"])
    except (KeyError, TypeError, ValueError):
        raise PreventUpdate from None
    if not (0 <= row < channel_at.shape[0] and 0 <= column < channel_at.shape[1]) or channel_at[row, column] < 0:
        raise PreventUpdate
    return int(channel_at[row, column])


def enlarged_view(ws, data, layer, epoch, sort, event) -> tuple:
    """The hovered channel's map, upsampled over the input and scaled to [0, 1], and a caption
    (from the grid kept for this input: no forward pass)."""
    _analysis, image, _source, grid, _mosaic, channel_at = input_grid(ws, data, layer, epoch, sort)
    channel = hovered_channel(event, channel_at)
    value = float(grid.alphas[channel])
    if grid.dense:
        return figures.image_figure(image, f"unit {channel}: {value:.4g}"), f"unit {channel} of {layer}: {value:.4g}"
    heat = normalise(upsample(grid.maps[channel], image.shape[:2]))
    caption = f"channel {channel} of {layer}: mean {value:.4g}, max {float(grid.maps[channel].max()):.4g}"
    return figures.overlay_figure(image, [(f"channel {channel}", heat)]), caption


def saliency_view(ws, data, layer, epoch, unit) -> tuple:
    """Overlays of the three methods for the chosen unit (first row) and the predicted class."""
    analysis, model = load(ws, epoch, layer)
    unit = unit_number(unit)
    image, _source = input_image(analysis, data)
    x = model_input(model, image)
    explainer = Explainer(model, analysis.device)
    panels, notes = [], []
    if unit is not None:
        try:
            for method in METHODS:
                found = explainer.unit(x, layer, unit, method)
                panels.append((f"{METHOD_NAMES[method]} · unit {unit}" + (" (no gradient)" if found.peak == 0 else ""),
                               found.saliency))
        except NNVisError as error:
            panels, notes = [], [str(error)]
    for method in METHODS:
        found = explainer.predicted_class(x, method)
        panels.append((f"{METHOD_NAMES[method]} · {analysis.classes[found.class_index]} ({found.value:.0%})",
                       found.saliency))
    lines = [f"first row: unit {unit} of {layer}" if len(panels) == 6 else "", "second row: the predicted class",
             *notes]
    return figures.overlay_figure(image, panels, cols=3), " · ".join(line for line in lines if line)


def weights_view(ws, layer, epoch, unit, top_k) -> tuple:
    """The first-layer filters, the chosen unit's weighted-sum view, and a status line."""
    analysis, model = load(ws, epoch, layer)
    unit = unit_number(unit)
    shape = tuple(analysis.manifest["image_shape"])
    filters = first_layer_filters(model, shape)
    shown = filters.images[:SHOWN_FILTERS]
    mosaic, _ = tile(weight_picture(shown), gap=1, fill=255)
    title = f"{filters.layer}: filters 0–{len(shown) - 1} of {len(filters.kernels)}"
    filters_figure = figures.pictures_figure([(title, mosaic)], size=640)
    if unit is None:
        return filters_figure, message_figure("Pick a unit (click a grid cell)."), ""
    try:
        found = weighted_sum_view(model, shape, layer, unit, int(top_k or 9))
    except (NNVisError, TypeError, ValueError) as error:  # said once, in full, in the status line
        return filters_figure, message_figure(f"No weighted-sum view for unit {unit}."), str(error)
    pictures = [(f"unit {unit} of {layer}", weight_picture(signed_unit(found.view[None])[0]))]
    pictures += [(f"{i}<br>{w:+.3g}", weight_picture(v)) for i, w, v in
                 zip(found.contributors, found.weights, signed_unit(found.contributor_views))]
    widths = [3.0] + [1.0] * (len(pictures) - 1)
    status = f"weighted sum over {' → '.join(found.chain)}" if len(found.chain) > 1 \
        else "a first-layer unit: its filter"
    return filters_figure, figures.pictures_figure(pictures, widths, size=256), status


# ---- callbacks

CONTROLS = [State("dv-ws", "value"), Input("dv-input", "data"), Input("dv-layer", "value"), Input("dv-epoch", "value")]


@callback(Output("dv-location", "href"), Output("dv-location", "search"), Input("dv-ws", "value"),
          prevent_initial_call=True)
def switch_workspace(ws):
    """Open the page anew on workspace `ws`. The search is set too: dcc.Location (refresh) loads
    every part whose value differs from the address bar, and the page's address script has
    already rewritten the bar, so a search left at its old '?ws=...' would load the old workspace."""
    return f"/deepvis?ws={ws}", f"?ws={ws}"


@callback(Output("dv-input", "data"), Output("dv-input-status", "children"), Input("dv-observation", "value"),
          Input("dv-upload", "contents"), State("dv-upload", "filename"), State("dv-ws", "value"),
          prevent_initial_call=True)
def choose_input(observation, contents, filename, ws):
    """A new input: an observation index or an uploaded file (the grid's status names it); bad
    input says why under the input and leaves the view as it was."""
    analysis = open_analysis(ws)
    shape = tuple(analysis.manifest["image_shape"])
    return or_message(chosen_input, analysis, shape, observation, contents, filename,
                      answer=lambda message: (no_update, message))


def chosen_input(analysis, shape: tuple, observation, contents, filename) -> tuple:
    """(the `dv-input` store's data, no message) for the control that changed."""
    if ctx.triggered_id == "dv-upload":
        pixels = uploaded_image(contents, filename, shape, analysis.preprocess)
        return image_record(pixels, Path(filename or "upload").name), ""
    return {"observation": observation_index(analysis, observation)}, ""


# apart from choose_input: only grey-image pages have the canvas, and a callback whose inputs are
# partly missing from the page never runs
@callback(Output("dv-input", "data", allow_duplicate=True), Input("dv-canvas", "relayoutData"),
          State("dv-ws", "value"), prevent_initial_call=True)
def draw_input(relayout, ws):
    """The drawing on the canvas as the new input."""
    shape = tuple(open_analysis(ws).manifest["image_shape"])
    strokes = drawn_strokes(relayout)
    if not strokes or len(shape) != 2:
        raise PreventUpdate
    return image_record(rasterize_strokes(strokes, shape), "drawing")


@callback(Output("dv-enlarged", "figure", allow_duplicate=True),
          Output("dv-enlarged-caption", "children", allow_duplicate=True), Input("dv-input", "data"),
          Input("dv-layer", "value"), Input("dv-epoch", "value"), Input("dv-sort", "value"), prevent_initial_call=True)
def forget_enlarged(*_view):
    """Another input, layer, epoch or order: the enlarged cell of the old grid is gone."""
    return message_figure(HOVER_HINT), ""


@callback(Output("dv-unit", "value", allow_duplicate=True), Input("dv-layer", "value"), prevent_initial_call=True)
def forget_unit(_layer):
    """A unit number means nothing in another layer: the choice is cleared."""
    return None


@callback(Output("dv-grid", "figure"), Output("dv-probs", "figure"), Output("dv-input-view", "figure"),
          Output("dv-grid-status", "children"), *CONTROLS, Input("dv-sort", "value"), Input("dv-unit", "value"))
def render_grid(ws, data, layer, epoch, sort, unit):
    return or_message(grid_view, ws, data, layer, epoch, sort, unit, answer=figure_and_text(message_figure, 4))


@callback(Output("dv-enlarged", "figure"), Output("dv-enlarged-caption", "children"), Input("dv-grid", "hoverData"),
          State("dv-ws", "value"), State("dv-input", "data"), State("dv-layer", "value"), State("dv-epoch", "value"),
          State("dv-sort", "value"), prevent_initial_call=True)
def enlarge_hovered(event, ws, data, layer, epoch, sort):
    return or_message(enlarged_view, ws, data, layer, epoch, sort, event, answer=figure_and_text(message_figure, 2))


@callback(Output("dv-unit", "value"), Input("dv-grid", "clickData"), prevent_initial_call=True)
def choose_unit(event):
    """Clicking a cell of the grid makes its channel (the cell's customdata) the chosen unit."""
    point = ((event or {}).get("points") or [{}])[0]
    channel = point.get("customdata")
    if isinstance(channel, bool) or not isinstance(channel, int) or channel < 0:
        raise PreventUpdate
    return channel


@callback(Output("dv-saliency", "figure"), Output("dv-saliency-status", "children"), *CONTROLS,
          Input("dv-unit", "value"))
def render_saliency(ws, data, layer, epoch, unit):
    return or_message(saliency_view, ws, data, layer, epoch, unit, answer=figure_and_text(message_figure, 2))


@callback(Output("dv-filters", "figure"), Output("dv-wsum", "figure"), Output("dv-weights-status", "children"),
          State("dv-ws", "value"), Input("dv-layer", "value"), Input("dv-epoch", "value"), Input("dv-unit", "value"),
          Input("dv-topk", "value"))
def render_weights(ws, layer, epoch, unit, top_k):
    return or_message(weights_view, ws, layer, epoch, unit, top_k, answer=figure_and_text(message_figure, 3))


@callback(Output("dv-canvas", "figure"), Input("dv-clear", "n_clicks"), State("dv-ws", "value"),
          prevent_initial_call=True)
def clear_canvas(_clicks, ws):
    shape = tuple(open_analysis(ws).manifest["image_shape"])
    return figures.canvas_figure(shape[:2])


# The address follows the view (without reloading), so that it can be shared.
clientside_callback(
    """function (ws, layer, epoch, unit, input) {
        return setAddress({ws: ws, layer: layer, epoch: epoch, unit: unit,
                           obs: input && input.observation !== undefined ? input.observation : null});
    }""",
    Output("dv-share-url", "children"), Input("dv-ws", "value"), Input("dv-layer", "value"),
    Input("dv-epoch", "value"), Input("dv-unit", "value"), Input("dv-input", "data"))
