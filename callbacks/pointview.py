"""Callbacks of the explore page's WebGL point view (projections of more than
`Settings.points_above` observations, up to `density_above`): draw it when the projection is
drawn (the status line `nh-value` changes), recolour it (values only: the points and their
spatial index stay in the browser), and answer its hover, click and lasso with the page's own
observation cards and neuron ranking.

Nothing here holds a layer's activations: they are memory-mapped from the store's file
(`Analysis.mapped_activations`), read in chunks or by the selected rows alone (`nnvis.projection.selection`).
Each neuron's moments over all observations (`web.moments`) are computed in a background thread
when a layer is first drawn as points, so that a lasso reads only its own rows."""

from __future__ import annotations

import numpy as np
from dash import Input, Output, State, ctx, html, no_update
from dash.exceptions import PreventUpdate

from callbacks.density_views import is_webgl, shown_method
from callbacks.views import NEURON_HINT, NEUTRAL_COLOUR, neuron_values, observation_details, version_of
from layouts.figures import observation_groups
from layouts.page_parts import selection_digest, selection_ranking
from layouts.pointview import HIDDEN, NEURON_PALETTE, SHOWN, group_legend, neuron_legend
from nnvis.errors import NNVisError
from nnvis.models.layers import INPUT_LAYER
from nnvis.projection.selection import unit_column
from nnvis.workspace import keys
from nnvis.workspace.analysis import Analysis
from nnvis_components import encode_points, encode_values
from web.context import open_analysis
from web.errors import or_message
from web.moments import warm_moments
from web.registry import callback, clientside_callback

POINTS = "obs-points"
VIEW_STATE = [State("workspace-select", "value"), State("layer-select", "value"), State("epoch-select", "value")]
DRAW_OUTPUTS = [Output(POINTS, "coordinates"), Output(POINTS, "values"), Output(POINTS, "valueKind"),
                Output(POINTS, "palette"), Output(POINTS, "selectedIndices"), Output("obs-points-box", "style"),
                Output("obs-projection", "style"), Output("points-legend", "children"), Output("points-drawn", "data")]
HIDE = ("", no_update, no_update, no_update, [], HIDDEN, {}, None, None)  # the graph shows the view (or a message)


@callback(*DRAW_OUTPUTS, Input("nh-value", "children"), Input("color-by", "value"), Input("selected-neuron", "data"),
          *VIEW_STATE, State("projection-select", "value"), State("shared-selection", "data"),
          State("points-drawn", "data"), prevent_initial_call=True)
def draw_points(_status, color_by, neuron, ws, layer, epoch, method, shared, drawn):
    """The point view of the shown projection when it is large (else hidden, the graph shown)."""
    colours_only = ctx.triggered_id in ("color-by", "selected-neuron")
    return or_message(points_view, ws, layer, epoch, method, color_by, neuron, shared, drawn, colours_only,
                      answer=lambda _message: HIDE)  # the graph's own callback says what was wrong


def points_view(ws, layer: str, epoch: int, method: str, color_by: str, neuron: int | None,
                shared: list[int] | None, drawn: list | None, colours_only: bool) -> tuple:
    """The point view's props (see DRAW_OUTPUTS) for a view: the coordinates only when the
    browser does not hold them already (`drawn`, the key of what it holds)."""
    analysis = open_analysis(ws)
    shown = shown_method(analysis, layer, epoch, method)
    if not is_webgl(len(analysis.labels)) or not analysis.has_projection(layer, epoch, shown):
        if drawn is None:
            raise PreventUpdate  # hidden already
        return HIDE
    key = [str(analysis.workspace.path), layer, epoch, shown, version_of(analysis)]
    values, kind, palette, legend = colouring(analysis, layer, epoch, color_by, neuron)
    if colours_only and drawn == key:
        return no_update, values, kind, palette, no_update, no_update, no_update, legend, no_update
    if layer != INPUT_LAYER:
        warm_moments(analysis, layer, epoch)  # for a lasso on this view: in the background
    coordinates = no_update if drawn == key else encode_points(analysis.projection(layer, epoch, shown)["points"])
    selected = sorted({int(i) for i in shared or [] if 0 <= int(i) < len(analysis.labels)})
    return coordinates, values, kind, palette, selected, SHOWN, HIDDEN, legend, key


def colouring(analysis: Analysis, layer: str, epoch: int, color_by: str, neuron: int | None) -> tuple:
    """(values, value kind, palette, legend) of a colouring: by a neuron's activation (quantised
    to 0..255 over its range), or by group as the Plotly view groups (one code a colour)."""
    n = len(analysis.labels)
    if color_by == "neuron":
        values = neuron_column(analysis, layer, epoch, neuron) if layer != INPUT_LAYER else None
        if values is None:
            return encode_values(np.zeros(n, np.uint8)), "categorical", [NEUTRAL_COLOUR], [html.Div(NEURON_HINT)]
        low, high = float(values.min()), float(values.max())
        return (encode_values(values, low, high), "continuous", NEURON_PALETTE,
                neuron_legend(f"neuron {neuron}", low, high))
    predictions, _ = analysis.predictions(epoch)
    groups = observation_groups(analysis.labels, predictions, analysis.classes, color_by)
    palette = list(dict.fromkeys(colour for _, _, colour in groups))  # classes past the palette share colours
    codes = np.zeros(n, np.uint8)
    for _, index, colour in groups:
        codes[index] = palette.index(colour)
    return encode_values(codes), "categorical", palette, group_legend([(name, colour) for name, _, colour in groups])


@callback(Output("obs-hover", "children", allow_duplicate=True), Input(POINTS, "hoveredIndex"),
          State("workspace-select", "value"), State("epoch-select", "value"), prevent_initial_call=True)
def show_hovered_point(index, ws, epoch):
    if index is None or int(index) < 0:
        raise PreventUpdate
    return observation_details(ws, epoch, int(index))


@callback(Output("obs-pinned", "children", allow_duplicate=True), Input(POINTS, "clicks"),
          State(POINTS, "clickedIndex"), *VIEW_STATE, prevent_initial_call=True)
def pin_clicked_point(_clicks, index, ws, layer, epoch):
    if index is None or int(index) < 0:
        raise PreventUpdate
    return observation_details(ws, epoch, int(index), layer)


@callback(Output("selection-ranking", "data", allow_duplicate=True),
          Output("neuron-ranking", "children", allow_duplicate=True),
          Input(POINTS, "selectedIndices"), *VIEW_STATE, State("selection-ranking", "data"), prevent_initial_call=True)
def rank_lassoed(indices, ws, layer, epoch, ranked):
    """A lasso (or its clearing), or a selection the page gave the point view: the neurons ranked
    for it, unless they are ranked already for this layer and epoch. The answer is the ranking
    alone: the selection becomes the page's in the browser (the clientside callback below)."""
    return or_message(lassoed_ranking, indices, ws, layer, epoch, ranked, answer=lambda message: (None, message))


def lassoed_ranking(indices, ws, layer: str, epoch: int, ranked: dict | None) -> tuple:
    """(ranking data, list component) of a point view's selection; (None, None) for none."""
    chosen = selection_of(indices)
    if not chosen or layer == INPUT_LAYER:
        if ranked is None:
            raise PreventUpdate  # nothing ranked to clear: the neuron map is not drawn again
        return None, None
    if ranked and [ranked.get("layer"), ranked.get("epoch"), ranked.get("selection")] == [
            layer, epoch, selection_digest(chosen)]:
        raise PreventUpdate
    return selection_ranking(ws, layer, epoch, chosen)


def selection_of(indices) -> list[int]:
    """The sorted distinct observation indices of a selection the browser sent (a list of whole
    numbers; their range is checked where they are read)."""
    if indices is None:
        return []
    found = np.asarray(indices) if isinstance(indices, list) else None
    if found is None or found.ndim != 1 or (found.size and found.dtype.kind not in "iu"):
        raise NNVisError(f"a selection is a list of observation indices (whole numbers); got {str(indices)[:60]}")
    return np.unique(found).tolist()


def neuron_column(analysis: Analysis, layer: str, epoch: int, neuron: int | None) -> np.ndarray | None:
    """A neuron's activations over the subset: one row of the units x observations copy where it
    was made, else its column read in chunks from the mapped layer (never the layer in memory)."""
    if neuron is None:
        return None
    by_unit = analysis.store.directory / "arrays" / f"{keys.activations_by_unit(analysis, layer, epoch).digest()}.npy"
    if by_unit.exists():
        return neuron_values(analysis, layer, epoch, neuron)
    acts = analysis.mapped_activations(layer, epoch)
    return unit_column(acts, int(neuron)) if 0 <= int(neuron) < acts.shape[1] else None


clientside_callback(  # the point view's selection: the page's (the link's `sel`, kept for the next view drawn)
    """function (indices, ws, layer, epoch, method, color, neuron, observations, tokenColour) {
        const link = window.dash_clientside.nnvis.shareLink(ws, layer, epoch, method, color, neuron, null,
                                                            observations, tokenColour, indices || []);
        return [...link, indices && indices.length ? indices : null];
    }""",
    Output("share-url", "children", allow_duplicate=True), Output("link-note", "children", allow_duplicate=True),
    Output("shared-selection", "data", allow_duplicate=True), Input(POINTS, "selectedIndices"), *VIEW_STATE,
    State("projection-select", "value"), State("color-by", "value"), State("selected-neuron", "data"),
    State("patch-observations", "value"), State("patch-colour", "value"), prevent_initial_call=True)
