"""Callbacks of the layer lab, and the work behind them as plain functions (tested without a
browser): read the controls, call nnvis.unitlab.lab and nnvis.deepvis.strip, build figures."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from dash import ALL, Input, Output, State, ctx, html, no_update
from dash.exceptions import PreventUpdate

from callbacks.deepvis import uploaded_image  # the same upload rules on both pages
from layouts.figures import message_figure
from layouts.page_parts import LAYER_LAB_VIEW
from layouts.unit_figures import (
    LAYER_JOBS,
    ablation_figure,
    cosine_figure,
    perturbation_figure,
    png_uri,
    sparsity_figure,
)
from nnvis.deepvis.strip import select_layers, strip_arrays, strip_from_arrays, structure_strip
from nnvis.errors import NNVisError, NotInStore
from nnvis.models.feature_maps import heat_colours, map_layers, normalise, overlay
from nnvis.unitlab import lab as unitlab
from nnvis.unitlab.perturbation import check_variance
from nnvis.workspace.analysis import Analysis
from nnvis.workspace.workspace import Workspace
from web.context import current_settings, layer_and_epoch_choices, open_analysis
from web.errors import or_message, said_in_place
from web.jobs import READ_ONLY_MESSAGE, background_options, no_job, run_on_workspace, run_request
from web.registry import callback, clientside_callback
from web.uploads import SharedFolder, image_record, input_key, input_of, result_digest, stored_image
from web.view_state import view_query

VIEW = [Input("ll-ws", "value"), Input("ll-layer", "value"), Input("ll-epoch", "value")]
VIEW_CONTROLS = [("ll-ws", "value"), ("ll-layer", "value"), ("ll-epoch", "value"), ("ll-cluster", "value"),
                 ("ll-sparsity-by", "value"), ("ll-threshold", "value"), ("ll-variance", "value")]
LAYER_LAB_VIEW.follow()  # the address holds the view: a link reopens it
STRIP_ROWS = 6  # rows of the strip when no step is given
MAP_ID = "ll-strip-map"
HINT = "Click a map to see it over the input."
STRIP_BOXES = ("from layer", "to layer", "step")  # the strip's range, as the page's boxes name it


@callback(Output("ll-layer", "options"), Output("ll-layer", "value"), Output("ll-epoch", "options"),
          Output("ll-epoch", "value"), Input("ll-ws", "value"), prevent_initial_call=True)
def switch_workspace(ws):
    return layer_and_epoch_choices(ws)


@callback(Output("ll-explore-link", "href"), Output("ll-unitlab-link", "href"), *VIEW)
def follow_links(ws, layer, epoch):
    return "/" + view_query(ws, layer, epoch), "/units" + view_query(ws, layer, epoch)


def from_store(analysis, read):
    """`read(analysis)` from the store alone, computing nothing: its result, or None when it is
    not stored (a read-only server's NotInStore, which says so, passes through)."""
    try:
        return read(Analysis(Workspace(analysis.workspace.path, read_only=True)))
    except NotInStore:
        if analysis.store.read_only:
            raise
        return None


def job_view(ws, what: str, read, draw, params: dict, ran: bool) -> tuple:
    """(figure, job request) of a layer-lab view that a job computes: drawn from the store when
    there, else a request for the job (with `params`); after the job `ran`, only a message."""
    analysis = open_analysis(ws)
    found = from_store(analysis, read)
    if found is not None:
        return draw(analysis, found), no_update
    if ran:
        return message_figure(f"{what} is not in the store; change the view and come back to compute it."), no_update
    return message_figure(f"Computing {what} in the background…"), {"ws": ws, **params}


def view_or_message(build, *args) -> tuple:
    """(figure, job request) of `build(*args)`, or a figure holding the message of bad input."""
    return or_message(build, *args, answer=lambda message: (message_figure(message), no_update))


def cosine_view(ws, layer: str, epoch: int, clustered: bool, ran: bool = False) -> tuple:
    def draw(analysis, matrix):
        order = unitlab.cluster_order(matrix) if clustered else None
        return cosine_figure(matrix, analysis.classes, order, f"cosine of per-class mean activations at {layer}, "
                                                             f"epoch {epoch}" + (" (clustered)" if clustered else ""))
    return job_view(ws, "the class cosine similarity", lambda a: unitlab.class_similarity(a, layer, epoch),
                    draw, {"layer": layer, "epoch": epoch}, ran)


@callback(Output("ll-cosine", "figure"), Output("ll-cosine-request", "data"), *VIEW, Input("ll-cluster", "value"))
def render_cosine(ws, layer, epoch, clustered):
    return view_or_message(cosine_view, ws, layer, epoch, bool(clustered))


def sparsity_view(ws, layer: str, epoch: int, by: str, threshold, ran: bool = False) -> tuple:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold < math.inf:
        raise NNVisError(f"near-zero threshold {threshold} is out of range; allowed: a number >= 0 (default 0.01)")
    return job_view(ws, "the sparsity", lambda a: unitlab.layer_sparsity(a, layer, epoch, float(threshold)),
                    lambda analysis, found: sparsity_figure(found, analysis.classes, by == "class", float(threshold)),
                    {"layer": layer, "epoch": epoch, "threshold": float(threshold)}, ran)


@callback(Output("ll-sparsity", "figure"), Output("ll-sparsity-request", "data"), *VIEW,
          Input("ll-sparsity-by", "value"), Input("ll-threshold", "value"))
def render_sparsity(ws, layer, epoch, by, threshold):
    return view_or_message(sparsity_view, ws, layer, epoch, by, threshold)


def perturbation_view(ws, epoch: int, variance, ran: bool = False) -> tuple:
    if not isinstance(variance, (int, float)):
        raise NNVisError("noise variance is empty or not a number; allowed: a number >= 0 (default 0.01)")
    variance = check_variance(variance)
    return job_view(ws, "the input perturbation",
                    lambda a: unitlab.perturbation(a, epoch, None, variance, on="subset"),
                    lambda _analysis, found: perturbation_figure(found, variance),
                    {"epoch": epoch, "variance": variance}, ran)


@callback(Output("ll-perturbation", "figure"), Output("ll-perturbation-request", "data"),
          Input("ll-ws", "value"), Input("ll-epoch", "value"), Input("ll-variance", "value"))
def render_perturbation(ws, epoch, variance):
    return view_or_message(perturbation_view, ws, epoch, variance)


# the views' job requests, merged: one job computes what a page view lacks (a newly opened lab
# lacks up to three views, and a user may run only so many jobs at once)
clientside_callback(
    """function (cosine, sparsity, perturbation) {
        return (cosine || sparsity || perturbation) ? {cosine: cosine, sparsity: sparsity, perturbation: perturbation}
                                                    : null;
    }""",
    Output("ll-views-request", "data"), *[Input(f"ll-{kind}-request", "data") for kind in LAYER_JOBS])


@callback(*[Output(f"ll-{kind}", "figure", allow_duplicate=True) for kind in LAYER_JOBS],
          Input("ll-views-request", "data"), *[State(*control) for control in VIEW_CONTROLS],
          on_error=said_in_place(lambda text: tuple(message_figure(text) for _ in LAYER_JOBS)),
          **background_options("ll-views"))
def run_view_jobs(set_progress, requests, ws, layer, epoch, clustered, by, threshold, variance):
    """Compute the views requested, away from the web workers; then draw the views the page
    shows now from the store (outputs, not a store the views listen to: no callback cycle)."""
    if not isinstance(requests, dict) or not any(requests.get(kind) for kind in LAYER_JOBS):
        raise PreventUpdate
    for kind in LAYER_JOBS:
        if requests.get(kind):
            run_request(set_progress, {"job": kind, **requests[kind]})
    return (view_or_message(cosine_view, ws, layer, epoch, bool(clustered), True)[0],
            view_or_message(sparsity_view, ws, layer, epoch, by, threshold, True)[0],
            view_or_message(perturbation_view, ws, epoch, variance, True)[0])


def ablation_view(ws, layer: str, epoch: int, mode: str, on: str, run: bool) -> tuple:
    """(figure, status, job request): the stored sweep, else a request for the job when `run`,
    else a hint to press Run."""
    analysis = open_analysis(ws)
    images = f"the subset's {analysis.config.subset}" if on == "subset" else "the whole test split's"
    if unitlab.has_ablation_sweep(analysis, layer, epoch, mode, on):
        sweep = unitlab.ablation_sweep(analysis, layer, epoch, mode, on=on)
        drop = unitlab.first_drop(sweep)
        status = ("top-1 never falls by more than 1 point" if drop is None
                  else f"top-1 first falls by more than 1 point at {drop} of {sweep['units']} units zeroed")
        figure = ablation_figure(sweep, f"{mode} removal at {layer}, epoch {epoch}, on {images} images")
        return figure, status, no_update
    points = len(unitlab.sweep_counts(analysis, layer, epoch)) + 1
    if current_settings().read_only:  # it runs no job: say so, never "computing…"
        return message_figure(READ_ONLY_MESSAGE), "", no_update
    if not run:
        return message_figure(f"Press Run sweep: {points} accuracy passes over {images} images."), "", no_update
    request = {"ws": ws, "layer": layer, "epoch": epoch, "mode": mode, "on": on}
    return message_figure(f"Computing the sweep: {points} accuracy passes…"), "", request


@callback(Output("ll-ablation", "figure"), Output("ll-ablation-status", "children"),
          Output("ll-ablation-request", "data"), *VIEW, Input("ll-ablation-mode", "value"),
          Input("ll-ablation-on", "value"), Input("ll-ablation-run", "n_clicks"))
def show_ablation(ws, layer, epoch, mode, on, _clicks):
    return or_message(ablation_view, ws, layer, epoch, mode, on, ctx.triggered_id == "ll-ablation-run",
                      answer=lambda message: (*ablation_message(message), no_update))


def ablation_message(message: str) -> tuple:
    """The sweep's figure and status line saying what was wrong."""
    return message_figure(message), html.Span(message, className="lab-message")


@callback(Output("ll-ablation", "figure", allow_duplicate=True),
          Output("ll-ablation-status", "children", allow_duplicate=True),
          Input("ll-ablation-request", "data"), State("ll-ws", "value"), State("ll-layer", "value"),
          State("ll-epoch", "value"), State("ll-ablation-mode", "value"), State("ll-ablation-on", "value"),
          on_error=said_in_place(lambda text: (message_figure(text), html.Span(text, className="lab-message"))),
          **background_options("ll-ablation"))
def run_ablation_job(set_progress, request, ws, layer, epoch, mode, on):
    """Run the sweep away from the web workers; show it if the view still asks for it."""
    if not request:
        raise PreventUpdate
    def finished() -> tuple:
        run_request(set_progress, {"job": "ablation", **request})
        return ablation_view(ws, layer, epoch, mode, on, run=False)[:2]
    return or_message(finished, answer=ablation_message)


@callback(Output("ll-ablation-status", "children", allow_duplicate=True), Input("ll-ablation-cancel", "n_clicks"),
          prevent_initial_call=True)
def cancelled_ablation(_clicks):
    return "Cancelled; the points computed so far are stored. Press Run sweep to go on."


# ---- the structure strip

def strip_image(analysis, source: str, index, contents: str | None, filename: str | None) -> tuple[np.ndarray, str]:
    """The strip's input image and a caption: an uploaded file, or a subset observation."""
    if source == "upload" and contents:
        image = uploaded_image(contents, filename, tuple(analysis.manifest["image_shape"]), analysis.preprocess)
        return image, Path(filename or "").name
    n = analysis.config.subset
    if not isinstance(index, int) or not 0 <= index < n:
        raise NNVisError(f"subset image {index} is out of range; allowed: 0..{n - 1}")
    label = analysis.classes[analysis.labels[index]]
    return analysis.subset()["images"][index], f"subset image {index} (class {label})"


def strip_input(analysis, data) -> tuple[np.ndarray, str]:
    """The strip's input as the `ll-strip-source` store holds it: a stored upload (by digest),
    a subset observation, or why the last choice was refused."""
    if isinstance(data, dict) and data.get("error"):
        raise NNVisError(str(data["error"])[:300])
    if isinstance(data, dict) and data.get("digest") is not None:
        image = stored_image(data["digest"], tuple(analysis.manifest["image_shape"]))
        return image, str(data.get("source") or "uploaded image")[:80]
    return strip_image(analysis, "index", data.get("observation") if isinstance(data, dict) else data, None, None)


def chosen_input(ws, source: str, index, contents: str | None, filename: str | None) -> dict:
    """What the `ll-strip-source` store holds for a new choice: an upload decoded once and
    stored by digest (web.uploads), or the observation's index; {"error"} when it is refused."""
    if source == "upload" and contents and current_settings().read_only:
        return {"error": UPLOAD_READ_ONLY}  # nothing written: its strip could not be computed anyway
    try:
        analysis = open_analysis(ws)
        image, caption = strip_image(analysis, source, index, contents, filename)
    except NNVisError as error:
        return {"error": str(error)}
    return image_record(image, caption) if source == "upload" and contents else {"observation": index}


STRIPS = SharedFolder("strips", max_files=256, max_bytes=256 * 2**20)  # what a job wrote, read by every worker
STRIP_COMPUTING = "Computing the strip in the background…"
STRIP_READ_ONLY = "The strip of this input is not computed; this server is read-only (it computes nothing)."
STRIP_GONE = "This strip is no longer on the server; choose the input again to compute it."
UPLOAD_READ_ONLY = "This server is read-only: it computes no strip of an uploaded image; pick a subset image."


def strip_digest(analysis, epoch: int, data, start, stop, step) -> str:
    """The strip's file name: from the workspace, the weights of `epoch`, the input and the layers."""
    key = analysis.key("structure-strip", epoch=epoch, input=input_key(data), start=start, stop=stop, step=step)
    return result_digest("structure-strip", analysis, key)


def stored_strip(analysis, epoch: int, data, start, stop, step) -> list | None:
    """The strip's rows computed already (this process's memory, else the server's folder), or
    None; NNVisError saying why when its job found that no strip can be made (e.g. no map layers)."""
    found = STRIPS.read_arrays(strip_digest(analysis, epoch, data, start, stop, step),
                               lambda arrays: str(arrays["error"]) if "error" in arrays else strip_from_arrays(arrays))
    if isinstance(found, str):
        raise NNVisError(found)
    return found


def strip_arrays_of(analysis, epoch: int, image: np.ndarray, start, stop, step) -> dict:
    """Shang's strip of `image` as arrays: layers `start`..`stop` step `step` of those with maps (by
    default about STRIP_ROWS, evenly spaced), or why the model or the range has no such layers."""
    model = analysis.model(epoch)
    available = map_layers(model, image.shape, analysis.device)
    if step is None:
        step = max(1, math.ceil(len(available) / STRIP_ROWS))
    try:
        layers = select_layers(available, 0 if start is None else start, stop, step, STRIP_BOXES)
    except NNVisError as error:
        return {"error": np.array(str(error))}  # kept too: said at once next time, with no job
    return strip_arrays(structure_strip(model, image, layers, device=analysis.device))


def compute_strip(analysis, epoch: int, data, start, stop, step) -> None:
    """Compute the strip of the input (a forward pass: in a job only) into the server's folder."""
    image, _ = strip_input(analysis, data)
    STRIPS.write_arrays(strip_digest(analysis, epoch, data, start, stop, step),
                        strip_arrays_of(analysis, epoch, image, start, stop, step))


def strip_grid(rows: list) -> list:
    """One line per layer: its name and size, then its top maps as heat images (scaled over
    the line's maps), each clickable."""
    lines = []
    for r, row in enumerate(rows):
        low, high = float(row.maps.min()), float(row.maps.max())
        size = f"{row.n_channels} ch · {row.maps.shape[1]}×{row.maps.shape[2]}"
        tiles = [html.Div([html.Img(src=png_uri(heat_colours(normalise(fmap, low, high)), 72), className="map-thumb",
                                    id={"type": MAP_ID, "row": r, "col": c}, alt=f"{row.layer} channel {channel}"),
                           html.Div(str(int(channel)), className="tile-caption")], className="map-tile")
                 for c, (channel, fmap) in enumerate(zip(row.channels, row.maps))]
        label = html.Div([html.B(row.layer), html.Div(size, className="muted")], className="strip-label")
        lines.append(html.Div([label, *tiles], className="strip-row"))
    return lines


def strip_view(ws, epoch: int, data, start, stop, step, ran: bool = False) -> tuple:
    """(grid, input picture, message, job request) of the strip: drawn when computed already;
    else a request for the job computing it (none on a read-only server, which says so; after
    the job `ran`, only a message)."""
    analysis = open_analysis(ws)
    image, caption = strip_input(analysis, data)
    picture = [html.Img(src=png_uri(image, 128), className="strip-picture", alt="strip input"),
               html.Div(caption, className="tile-caption")]
    rows = stored_strip(analysis, epoch, data, start, stop, step)
    if rows is not None:
        return strip_grid(rows), picture, None, no_job()
    if current_settings().read_only or ran:
        return [], picture, STRIP_READ_ONLY if current_settings().read_only else STRIP_GONE, no_job()
    request = {"ws": ws, "epoch": epoch, "input": input_of(data), "start": start, "stop": stop, "step": step}
    return [], picture, html.Span(STRIP_COMPUTING, className="muted"), request  # progress, not a problem


@callback(Output("ll-strip-source", "data"), Input("ll-image", "value"), Input("ll-upload", "contents"),
          State("ll-upload", "filename"), State("ll-ws", "value"), prevent_initial_call=True)
def choose_strip_input(index, contents, filename, ws):
    """A new input for the strip: the subset image typed, or the file dropped (decoded once here;
    the browser never sends it again)."""
    source = "upload" if ctx.triggered_id == "ll-upload" else "index"
    return chosen_input(ws, source, index, contents, filename)


@callback(Output("ll-strip-grid", "children"), Output("ll-strip-input", "children"),
          Output("ll-strip-message", "children"), Output("ll-strip-enlarged", "children"),
          Output("ll-strip-request", "data"),
          Input("ll-ws", "value"), Input("ll-epoch", "value"), Input("ll-strip-source", "data"),
          Input("ll-start", "value"), Input("ll-stop", "value"), Input("ll-step", "value"))
def render_strip(ws, epoch, data, start, stop, step):
    """The strip computed already, else 'computing…' and the job's request: never a forward pass here."""
    def shown() -> tuple:
        grid, picture, message, request = strip_view(ws, epoch, data, start, stop, step)
        return grid, picture, message, HINT, request
    return or_message(shown, answer=lambda message: ([], [], message, HINT, no_job()))


@callback(Output("ll-strip-grid", "children", allow_duplicate=True),
          Output("ll-strip-message", "children", allow_duplicate=True),
          Input("ll-strip-request", "data"), on_error=said_in_place(lambda text: ([], text)),
          **background_options("ll-strip"))
def run_strip_job(set_progress, request):
    """Compute the strip asked for away from the web workers (identical requests, e.g. two users
    on one observation, share one job: its only input is the request), then draw it. A page that
    moved on asks anew, which stops this job for it."""
    if not isinstance(request, dict) or not request:
        raise PreventUpdate
    view = (request.get("ws"), request.get("epoch"), request.get("input"), request.get("start"),
            request.get("stop"), request.get("step"))

    def finished() -> tuple:
        run_on_workspace(set_progress, view[0], "computing the strip",
                         lambda analysis: compute_strip(analysis, *view[1:]))
        grid, _, message, _ = strip_view(*view, ran=True)
        return grid, message
    return or_message(finished, answer=lambda message: ([], message))


def enlarged_view(ws, epoch: int, data, start, stop, step, row: int, col: int) -> list:
    """One map of the strip upsampled over its input image, with its layer, channel and alpha
    (from the strip computed for this input: never computed here)."""
    analysis = open_analysis(ws)
    image, _ = strip_input(analysis, data)
    rows = stored_strip(analysis, epoch, data, start, stop, step)
    if rows is None:
        raise NNVisError(STRIP_READ_ONLY if current_settings().read_only else STRIP_GONE)
    if not 0 <= row < len(rows) or not 0 <= col < len(rows[row].channels):
        raise NNVisError(f"map {row},{col} is not in the strip")
    layer = rows[row]
    fmap = layer.maps[col]
    return [html.Img(src=png_uri(overlay(image, fmap), 224), className="enlarged-picture", id="ll-enlarged-img",
                     alt=f"{layer.layer} channel {int(layer.channels[col])}"),
            html.Div([html.B(layer.layer), f" · channel {int(layer.channels[col])} · α {float(layer.alphas[col]):.4g}"
                      f" · map {fmap.shape[0]}×{fmap.shape[1]}"], className="tile-caption")]


@callback(Output("ll-strip-enlarged", "children", allow_duplicate=True),
          Input({"type": MAP_ID, "row": ALL, "col": ALL}, "n_clicks"),
          State("ll-ws", "value"), State("ll-epoch", "value"), State("ll-strip-source", "data"),
          State("ll-start", "value"), State("ll-stop", "value"), State("ll-step", "value"), prevent_initial_call=True)
def enlarge_map(clicks, ws, epoch, data, start, stop, step):
    if not isinstance(ctx.triggered_id, dict) or not any(clicks):
        raise PreventUpdate  # a new grid was drawn, nothing was clicked
    try:
        return enlarged_view(ws, epoch, data, start, stop, step, int(ctx.triggered_id["row"]),
                             int(ctx.triggered_id["col"]))
    except NNVisError as error:
        return html.Div(str(error), className="lab-message")
