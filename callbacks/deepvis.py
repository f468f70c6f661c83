"""Callbacks of the deep-visualization page. Thin: read the controls (callbacks.deepvis_inputs),
draw the views from what a job computed (callbacks.deepvis_views), and run that job
(callbacks.deepvis_jobs) away from the web workers, with progress and Cancel.

The current input lives in the `dv-input` store: {"observation": i} for a subset observation,
or {"digest", "source", "shape"} for an uploaded or drawn image, stored once by web.uploads (the
pixels are never sent back from the browser). The views' results lie in a folder every worker
reads, so a hover or a re-render reads them instead of rebuilding the model."""

from __future__ import annotations

from pathlib import Path

from dash import Input, Output, State, ctx, no_update
from dash.exceptions import MissingCallbackContextException, PreventUpdate

from callbacks.deepvis_inputs import (  # noqa: F401 (the page's input rules, used by other pages and tests)
    METHOD_NAMES,
    drawn_strokes,
    input_image,
    observation_index,
    open_view,
    unit_number,
    uploaded_image,
)
from callbacks.deepvis_jobs import checked_request, compute_parts
from callbacks.deepvis_views import enlarged_view, in_place, page_views
from layouts import deepvis_figures as figures
from layouts.figures import message_figure
from layouts.page_parts import HOVER_HINT
from nnvis.deepvis.drawing import rasterize_strokes
from nnvis.errors import NNVisError
from web.context import current_settings, open_analysis
from web.errors import figure_and_text, or_message, said_in_place
from web.jobs import HIDDEN, SHOWN, background_options, run_on_workspace
from web.registry import callback, clientside_callback
from web.uploads import image_record

UPLOAD_READ_ONLY = "This server is read-only: it computes no view of a new image; pick an observation."
VIEW_OUTPUTS = [Output("dv-grid", "figure"), Output("dv-probs", "figure"), Output("dv-input-view", "figure"),
                Output("dv-grid-status", "children"), Output("dv-saliency", "figure"),
                Output("dv-saliency-status", "children"), Output("dv-filters", "figure"), Output("dv-wsum", "figure"),
                Output("dv-weights-status", "children")]


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
        if current_settings().read_only:
            raise NNVisError(UPLOAD_READ_ONLY)  # nothing written: its views could not be computed anyway
        pixels = uploaded_image(contents, filename, shape, analysis.preprocess)
        return image_record(pixels, Path(filename or "upload").name), ""
    return {"observation": observation_index(analysis, observation)}, ""


def drawn_input(ws, relayout) -> tuple:
    """(the `dv-input` store's data, no message) for the drawing on the canvas (rasterised here:
    about 0.1 s for the most points allowed; the model's part is the job's)."""
    shape = tuple(open_analysis(ws).manifest["image_shape"])
    strokes = drawn_strokes(relayout)
    if not strokes or len(shape) != 2:
        raise PreventUpdate
    if current_settings().read_only:
        raise NNVisError(UPLOAD_READ_ONLY)
    return image_record(rasterize_strokes(strokes, shape), "drawing"), ""


# apart from choose_input: only grey-image pages have the canvas, and a callback whose inputs are
# partly missing from the page never runs
@callback(Output("dv-input", "data", allow_duplicate=True), Output("dv-input-status", "children", allow_duplicate=True),
          Input("dv-canvas", "relayoutData"), State("dv-ws", "value"), prevent_initial_call=True)
def draw_input(relayout, ws):
    """The drawing on the canvas as the new input; one beyond the bounds is said under the input."""
    return or_message(drawn_input, ws, relayout, answer=lambda message: (no_update, message))


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


@callback(*VIEW_OUTPUTS, Output("dv-request", "data"), State("dv-ws", "value"), Input("dv-input", "data"),
          Input("dv-layer", "value"), Input("dv-epoch", "value"), Input("dv-sort", "value"), Input("dv-unit", "value"),
          Input("dv-topk", "value"), Input("dv-method", "value"), Input("dv-retry", "n_clicks"))
def render_views(ws, data, layer, epoch, sort, unit, top_k, method, _retry=None):
    """The views computed already, else 'computing…' and the job's request: never a model here."""
    return page_views(ws, data, layer, epoch, sort, unit, top_k, method, changed_controls())


def changed_controls() -> set | None:
    """The ids of the controls that changed (None: the first call, or called as a plain function)."""
    try:
        if ctx.triggered_id in (None, "dv-retry"):
            return None  # the first call, or Retry: every view drawn and asked for again
        return {key.split(".")[0] for key in ctx.triggered_prop_ids}
    except MissingCallbackContextException:
        return None


def not_computed(message: str) -> tuple:
    """The outputs of a job refused, failed or stopped (killed or crashed): said in each view,
    with the Retry button that asks for it again."""
    return (*in_place("grid", message), *in_place("saliency", message), *in_place("weights", message), SHOWN)


@callback(*[Output(o.component_id, o.component_property, allow_duplicate=True) for o in VIEW_OUTPUTS],
          Output("dv-retry", "style"), Input("dv-request", "data"), on_error=said_in_place(not_computed),
          **background_options("dv-job"))
def run_views_job(set_progress, request):
    """Compute the parts of the views the page asked for away from the web workers (identical
    requests, e.g. two users on one observation, share one job: its only input is the request),
    then draw those views. A page that moved on asks anew, which stops this job for it."""
    if not isinstance(request, dict) or not request:
        raise PreventUpdate

    def finished() -> tuple:
        view = checked_request(request)
        run_on_workspace(set_progress, view["ws"], "computing the views",
                         lambda analysis: compute_parts(analysis, view))
        parts = set(view["parts"])
        shown = page_views(view["ws"], view["input"], view["layer"], view["epoch"], view["sort"], view["unit"],
                           view["top_k"], view["method"], changed=None, ran=True)[:-1]
        drawn = {"grid": "grid" in parts, "saliency": any(":" in part for part in parts),
                 "weights": bool(parts & {"filters", "wsum"})}
        counts = [("grid", 4), ("saliency", 2), ("weights", 3)]
        outputs, start = [], 0
        for name, count in counts:
            outputs += shown[start:start + count] if drawn[name] else [no_update] * count
            start += count
        return (*outputs, HIDDEN)
    return or_message(finished, answer=not_computed)


def hovered_channel(event: dict | None, channel_at) -> int:
    """The channel under a hover event of the grid (its cell's row and column)."""
    point = ((event or {}).get("points") or [{}])[0]
    try:
        row, column = int(point["y"]), int(point["x"])
    except (KeyError, TypeError, ValueError):
        raise PreventUpdate from None
    if not (0 <= row < channel_at.shape[0] and 0 <= column < channel_at.shape[1]) or channel_at[row, column] < 0:
        raise PreventUpdate
    return int(channel_at[row, column])


@callback(Output("dv-enlarged", "figure"), Output("dv-enlarged-caption", "children"), Input("dv-grid", "hoverData"),
          State("dv-ws", "value"), State("dv-input", "data"), State("dv-layer", "value"), State("dv-epoch", "value"),
          State("dv-sort", "value"), prevent_initial_call=True)
def enlarge_hovered(event, ws, data, layer, epoch, sort):
    return or_message(enlarged_view, ws, data, layer, epoch, sort, lambda at: hovered_channel(event, at),
                      answer=figure_and_text(message_figure, 2))


@callback(Output("dv-unit", "value"), Input("dv-grid", "clickData"), prevent_initial_call=True)
def choose_unit(event):
    """Clicking a cell of the grid makes its channel (the cell's customdata) the chosen unit."""
    point = ((event or {}).get("points") or [{}])[0]
    channel = point.get("customdata")
    if isinstance(channel, bool) or not isinstance(channel, int) or channel < 0:
        raise PreventUpdate
    return channel


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
