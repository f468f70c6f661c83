"""The views of the deep-visualization page, drawn from the parts a job computed
(callbacks.deepvis_jobs): each view is its figures and the parts it still lacks. A request never
builds the model: a view not computed yet says 'computing…' (its parts go into the page's job
request); on a read-only server it says it is not computed, and no job starts."""

from __future__ import annotations

import numpy as np
from dash import no_update

from callbacks.deepvis_inputs import input_image, method_choice, open_view, top_k_number, unit_number
from callbacks.deepvis_jobs import saliency_parts, stored
from layouts import deepvis_figures as figures
from layouts.figures import message_figure
from nnvis.deepvis.grid import grid_mosaic
from nnvis.deepvis.results import grid_from_arrays, pictures_from_arrays, raise_error
from nnvis.errors import NNVisError
from nnvis.models.feature_maps import normalise, upsample
from web.context import current_settings
from web.jobs import no_job
from web.uploads import input_of

COMPUTING = "Computing in the background…"
READ_ONLY = "Not computed: this server is read-only (it computes nothing). Pick a view computed already."
GONE = "This view is no longer on the server; change a control to compute it again."
GRID_PENDING = "The grid of this input is not computed yet; hover again once it is drawn."


def waiting(ran: bool) -> str:
    """What a view not computed says: computing, or why it will not be (read-only, or evicted after its job)."""
    return READ_ONLY if current_settings().read_only else GONE if ran else COMPUTING


def grid_view(ws, data, layer, epoch, sort, unit, ran: bool = False) -> tuple:
    """(grid figure, probabilities, the input picture, a status line, parts lacking)."""
    analysis, epoch = open_view(ws, epoch, layer)
    unit = unit_number(unit)
    image, source = input_image(analysis, data)
    found = stored(analysis, epoch, "grid", layer, data, unit, 9)
    if found is None:
        return (message_figure(waiting(ran)), figures.probabilities_figure(None, []),
                figures.image_figure(image, source), source, [] if ran else ["grid"])
    grid = grid_from_arrays(raise_error(found), sort)
    mosaic, channel_at = grid_mosaic(grid)
    kind = "units" if grid.dense else f"maps {grid.maps.shape[1]}×{grid.maps.shape[2]}"
    title = f"{layer}: {len(grid.maps)} {kind}, by {'index' if sort == 'index' else 'mean activation'}"
    status = source
    if grid.probabilities is not None:
        best = int(np.argmax(grid.probabilities))
        status = f"{source}: predicted {analysis.classes[best]} ({grid.probabilities[best]:.1%})"
    return (figures.grid_figure(mosaic, channel_at, title, unit), figures.probabilities_figure(
        grid.probabilities, analysis.classes), figures.image_figure(image, source), status, [])


def saliency_view(ws, data, layer, epoch, unit, method, ran: bool = False) -> tuple:
    """(overlays of the chosen methods for the unit (first row) and the predicted class, a status
    line, parts lacking)."""
    analysis, epoch = open_view(ws, epoch, layer)
    unit, method = unit_number(unit), method_choice(method)
    image, _source = input_image(analysis, data)
    parts = saliency_parts(unit, method)
    found = {part: stored(analysis, epoch, part, layer, data, unit, 9) for part in parts}
    missing = [part for part, arrays in found.items() if arrays is None]
    if missing:
        return message_figure(waiting(ran)), "", [] if ran else missing
    panels, notes = [], []
    for part in parts:
        try:
            panels += pictures_from_arrays(raise_error(found[part]))[0]
        except NNVisError as error:  # the unit's error (e.g. out of range): said once, the class row shown
            if str(error) not in notes:
                notes.append(str(error))
    cols = 3 if method == "all" else 1
    unit_shown = unit is not None and not notes
    lines = [f"first {'row' if cols == 3 else 'panel'}: unit {unit} of {layer}" if unit_shown else "",
             f"{'second row' if unit_shown and cols == 3 else 'last panel' if unit_shown else 'shown'}: "
             "the predicted class", *notes]
    return figures.overlay_figure(image, panels, cols=cols), " · ".join(line for line in lines if line), []


def weights_view(ws, layer, epoch, unit, top_k, ran: bool = False) -> tuple:
    """(the first-layer filters, the chosen unit's weighted-sum view, a status line, parts lacking)."""
    analysis, epoch = open_view(ws, epoch, layer)
    unit, top_k = unit_number(unit), top_k_number(top_k)
    filters = stored(analysis, epoch, "filters", layer, None, unit, top_k)
    missing = [] if filters is not None else ["filters"]
    filters_figure = message_figure(waiting(ran)) if filters is None else \
        figures.pictures_figure(pictures_from_arrays(raise_error(filters))[0], size=640)
    if unit is None:
        return filters_figure, message_figure("Pick a unit (click a grid cell)."), "", [] if ran else missing
    found = stored(analysis, epoch, "wsum", layer, None, unit, top_k)
    if found is None:
        return filters_figure, message_figure(waiting(ran)), "", [] if ran else missing + ["wsum"]
    if "error" in found:  # said once, in full, in the status line
        return filters_figure, message_figure(f"No weighted-sum view for unit {unit}."), str(found["error"]), \
            [] if ran else missing
    pictures, status = pictures_from_arrays(found)
    widths = [3.0] + [1.0] * (len(pictures) - 1)
    return filters_figure, figures.pictures_figure(pictures, widths, size=256), status, [] if ran else missing


def enlarged_view(ws, data, layer, epoch, sort, channel_of) -> tuple:
    """The hovered channel's map (`channel_of(channel_at)`), upsampled over the input and scaled to
    [0, 1], and a caption (from the grid computed for this input: never computed here)."""
    analysis, epoch = open_view(ws, epoch, layer)
    image, _source = input_image(analysis, data)
    found = stored(analysis, epoch, "grid", layer, data, None, 9)
    if found is None:
        raise NNVisError(GRID_PENDING)
    grid = grid_from_arrays(raise_error(found), sort)
    channel = channel_of(grid_mosaic(grid)[1])
    value = float(grid.alphas[channel])
    if grid.dense:
        return figures.image_figure(image, f"unit {channel}: {value:.4g}"), f"unit {channel} of {layer}: {value:.4g}"
    heat = normalise(upsample(grid.maps[channel], image.shape[:2]))
    caption = f"channel {channel} of {layer}: mean {value:.4g}, max {float(grid.maps[channel].max()):.4g}"
    return figures.overlay_figure(image, [(f"channel {channel}", heat)]), caption


# which views a control changes (the others are left as drawn)
AFFECTS = {"grid": {"dv-input", "dv-layer", "dv-epoch", "dv-sort", "dv-unit"},
           "saliency": {"dv-input", "dv-layer", "dv-epoch", "dv-unit", "dv-method"},
           "weights": {"dv-layer", "dv-epoch", "dv-unit", "dv-topk"}}
OUTPUTS = {"grid": 4, "saliency": 2, "weights": 3}


def in_place(view: str, message: str) -> tuple:
    """A view's outputs saying `message`: in its first figure and its status line."""
    return (message_figure(message),) + (no_update,) * (OUTPUTS[view] - 2) + (message,)


def page_views(ws, data, layer, epoch, sort, unit, top_k, method, changed=None, ran: bool = False) -> tuple:
    """The page's three views (grid 4 outputs, saliency 2, weights 3), then its job request: the
    parts lacking, or no job (none lacking, a read-only server, or after the job `ran`). Only the
    views a `changed` control touches are drawn again (all when None); bad input is said in place."""
    makers = {"grid": lambda: grid_view(ws, data, layer, epoch, sort, unit, ran),
              "saliency": lambda: saliency_view(ws, data, layer, epoch, unit, method, ran),
              "weights": lambda: weights_view(ws, layer, epoch, unit, top_k, ran)}
    outputs, parts = [], []
    for view, make in makers.items():
        try:
            *shown, lacking = make()
        except NNVisError as error:
            shown, lacking = in_place(view, str(error)), []
        parts += lacking
        redraw = changed is None or bool(AFFECTS[view] & set(changed))
        outputs += shown if redraw else [no_update] * OUTPUTS[view]
    if not parts or current_settings().read_only:
        return (*outputs, no_job())
    try:
        request = {"ws": ws, "epoch": epoch, "layer": layer, "input": {**input_of(data), **(
            {"source": str(data.get("source") or "")[:80]} if isinstance(data, dict) and "digest" in data else {})},
            "sort": sort, "top_k": top_k_number(top_k), "method": method_choice(method), "parts": parts}
        if unit is not None:
            request["unit"] = unit_number(unit)
    except NNVisError:  # a box refused (said in its view): the other views wait for a good value
        return (*outputs, no_job())
    return (*outputs, request)
