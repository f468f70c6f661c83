"""Callbacks of the layer lab's structure strip (Shang et al.), and the work behind them as plain
functions (tested without a browser): the strip of a subset image or an upload is a job's work,
written to a folder every worker reads; the request draws what is there, or asks for the job."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from dash import ALL, Input, Output, State, ctx, html
from dash.exceptions import PreventUpdate

from callbacks.deepvis import uploaded_image  # the same upload rules on both pages
from layouts.unit_figures import png_uri
from nnvis.deepvis.strip import select_layers, strip_arrays, strip_from_arrays, structure_strip
from nnvis.errors import NNVisError
from nnvis.models.feature_maps import heat_colours, map_layers, normalise, overlay
from web.context import current_settings, open_analysis
from web.errors import or_message, said_in_place
from web.jobs import background_options, no_job, run_on_workspace
from web.registry import callback
from web.uploads import SharedFolder, image_record, input_key, input_of, result_digest, stored_image

STRIP_ROWS = 6  # rows of the strip when no step is given
MAP_ID = "ll-strip-map"
HINT = "Click a map to see it over the input."
STRIP_BOXES = ("from layer", "to layer", "step")  # the strip's range, as the page's boxes name it


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
