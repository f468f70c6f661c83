"""Callbacks of the explore page's patch-token view (layouts.patch_view): the choice shown for
token layers only, the projection of the sampled patch tokens (a background job on a store
miss, read from the store after), and the hovered token's image with its patch outlined."""

from __future__ import annotations

from dash import Input, Output, State, no_update
from dash.exceptions import PreventUpdate

from callbacks.views import METHOD_NAMES, version_of
from layouts.figures import message_figure
from layouts.patch_view import COLOURS, PATCHES, outlined_image, patch_figure
from nnvis.errors import NNVisError
from nnvis.workspace.patch_tokens import has_patch_projection, is_patch_layer, outline, patch_projection
from web.context import current_settings, open_analysis
from web.errors import or_message, said_in_place
from web.jobs import READ_ONLY_MESSAGE, asks_for, background_options, no_job, run_then_show
from web.registry import callback
from web.routes import thumbnail_url

SHOWN, HIDDEN = {}, {"display": "none"}
VIEW = [Input("patch-observations", "value"), Input("patch-colour", "value"), Input("workspace-select", "value"),
        Input("layer-select", "value"), Input("epoch-select", "value"), Input("projection-select", "value")]


@callback(Output("patch-controls", "style"), Output("patch-observations", "value"),
          Input("workspace-select", "value"), Input("layer-select", "value"), State("patch-observations", "value"))
def offer_patch_tokens(ws, layer, chosen):
    """The choice of observations, for a token layer only (back to the images for any other)."""
    if ws is None or not layer or not or_message(lambda: is_patch_layer(open_analysis(ws), layer),
                                                 answer=lambda _message: False):
        return HIDDEN, "images"
    return SHOWN, chosen or "images"


def patch_view(chosen, colour, ws, layer, epoch, method) -> tuple:
    """(panel style, figure, status text, job request) of the patch-token view."""
    if chosen != PATCHES or ws is None or not layer or epoch is None:
        return HIDDEN, no_update, "", no_job()
    analysis = open_analysis(ws)
    if not is_patch_layer(analysis, layer):
        return HIDDEN, no_update, "", no_job()
    if colour not in COLOURS:
        raise NNVisError(f"colour tokens by {colour!r} is not a choice; allowed: {', '.join(COLOURS)}")
    method = method or analysis.config.projection
    name = f"{METHOD_NAMES.get(method, method)} of the patch tokens of {layer}, epoch {epoch}"
    if has_patch_projection(analysis, layer, int(epoch), method):
        figure, text = drawn(analysis, ws, layer, int(epoch), method, colour, name)  # a dict: built in ~0.1 s
        return SHOWN, figure, text, no_update
    if current_settings().read_only:
        return SHOWN, message_figure(READ_ONLY_MESSAGE), READ_ONLY_MESSAGE, no_update
    text = f"Computing {name}…"
    return SHOWN, message_figure(text), text, {"ws": ws, "layer": layer, "epoch": int(epoch), "method": method}


def drawn(analysis, ws, layer: str, epoch: int, method: str, colour: str, name: str) -> tuple:
    found = patch_projection(analysis, layer, epoch, method)
    grid = [int(n) for n in found["grid"]]
    figure = patch_figure(found["points"], found["image"], found["label"], found["row"], found["column"],
                          analysis.classes, colour, uirevision=f"patches-{ws}-{layer}-{epoch}-{method}")
    text = (f"NH {float(found['nh'].mean()):.4f} · {len(found['points']):,} patch tokens of "
            f"{len(set(found['image'].tolist())):,} images · {grid[0]}x{grid[1]} grid · {name}")
    return figure, text


def patch_message(message: str) -> tuple:
    return SHOWN, message_figure(message), message, None


OUTPUTS = [Output("patch-panel", "style"), Output("patch-projection", "figure"), Output("patch-status", "children"),
           Output("patch-job", "data")]


@callback(*OUTPUTS, *VIEW)
def render_patch_view(chosen, colour, ws, layer, epoch, method):
    return or_message(patch_view, chosen, colour, ws, layer, epoch, method, answer=patch_message)


@callback(*[Output(o.component_id, o.component_property, allow_duplicate=True) for o in OUTPUTS],
          Input("patch-job", "data"), *[State(i.component_id, i.component_property) for i in VIEW],
          on_error=said_in_place(patch_message), **background_options("patch-job"))
def run_patch_job(set_progress, request, *view):
    """Sample and project the patch tokens away from the web workers, then show them if the view still asks."""
    return run_then_show(set_progress, "patches", request, still_asked=lambda asked: asks_for(view[2:], asked),
                         show=lambda: patch_view(*view), answer=patch_message)


def hovered_patch(hover, ws, layer, epoch, method):
    """The hovered token's image with its patch outlined (read from the stored projection)."""
    points = (hover or {}).get("points") or [{}]
    data = points[0].get("customdata") if isinstance(points[0], dict) else None
    if not isinstance(data, list) or not data or not isinstance(data[0], int) or None in (ws, layer, epoch):
        raise PreventUpdate
    analysis = open_analysis(ws)
    method = method or analysis.config.projection
    if not is_patch_layer(analysis, layer) or not has_patch_projection(analysis, layer, int(epoch), method):
        raise PreventUpdate
    found = patch_projection(analysis, layer, int(epoch), method)
    token = data[0]
    if not 0 <= token < len(found["image"]):
        raise NNVisError(f"patch token {token} is not among the {len(found['image'])} shown")
    image, row, column = (int(found[name][token]) for name in ("image", "row", "column"))
    box = outline(row, column, tuple(int(n) for n in found["grid"]))
    label = analysis.classes[int(found["label"][token])]
    return outlined_image(thumbnail_url(ws, image, version_of(analysis)), box,
                          f"image {image} ({label}) · patch row {row}, column {column}")


@callback(Output("patch-hover", "children"), Input("patch-projection", "hoverData"),
          State("workspace-select", "value"), State("layer-select", "value"), State("epoch-select", "value"),
          State("projection-select", "value"), prevent_initial_call=True)
def show_hovered_patch(hover, ws, layer, epoch, method):
    return or_message(hovered_patch, hover, ws, layer, epoch, method, answer=lambda message: message)
