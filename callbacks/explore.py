"""Callbacks of the explore page. Thin: read the controls, call callbacks.views, return."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

from dash import ClientsideFunction, Input, Output, State, ctx, no_update
from dash.exceptions import PreventUpdate

from callbacks import pointview, views  # noqa: F401  pointview: this page's WebGL point view (its callbacks)
from layouts.figures import message_figure
from layouts.page_parts import selection_ranking
from web.components import epoch_options, layer_options, neuron_colour_options
from web.context import open_analysis
from web.errors import or_message, said_in_place
from web.jobs import asks_for, background_options, run_on_workspace, run_then_show
from web.registry import callback, clientside_callback

VIEW = [Input("workspace-select", "value"), Input("layer-select", "value"), Input("epoch-select", "value")]
VIEW_STATE = [State("workspace-select", "value"), State("layer-select", "value"), State("epoch-select", "value")]


@callback(Output("layer-select", "options"), Output("layer-select", "value"), Output("epoch-select", "options"),
          Output("epoch-select", "value"), Output("neuron-colour", "options"), Output("neuron-colour", "value"),
          Input("workspace-select", "value"), prevent_initial_call=True)
def switch_workspace(ws):
    analysis = open_analysis(ws)
    return (layer_options(analysis.layers), analysis.layers[-1], epoch_options(analysis.epochs), analysis.epochs[-1],
            neuron_colour_options(analysis.classes), "best")


PROJECTION_CONTROLS = [*VIEW, Input("projection-select", "value"), Input("color-by", "value"),
                       Input("insets-toggle", "value")]
CANCELLED = "Cancelled: this projection was not computed. Change a control or reload the page to ask again."


def projection_message(message: str) -> tuple:
    """The projection's outputs for bad input: the message in the figure and the status line."""
    return message_figure(message), message, None, no_update


PROJECTION_OUTPUTS = [Output("obs-projection", "figure"), Output("nh-value", "children"),
                      Output("job-request", "data"), Output("drawn-grouping", "data")]


@callback(*PROJECTION_OUTPUTS, *PROJECTION_CONTROLS, State("selected-neuron", "data"),
          State("shared-selection", "data"))
def render_projection(ws, layer, epoch, method, color_by, insets, neuron, shared):
    if ctx.triggered_id == "color-by" and color_by == "neuron" and neuron is not None:
        raise PreventUpdate  # colour_by_neuron patches the colours in place
    return or_message(views.projection_view, ws, layer, epoch, method, color_by, insets, neuron, shared,
                      answer=projection_message)


@callback(*[Output(o.component_id, o.component_property, allow_duplicate=True) for o in PROJECTION_OUTPUTS],
          Input("job-request", "data"), *[State(i.component_id, i.component_property) for i in PROJECTION_CONTROLS],
          State("selected-neuron", "data"), on_error=said_in_place(projection_message), **background_options("job"))
def run_projection_job(set_progress, request, *view):
    """Compute a missing projection away from the web workers, then show it if the view still asks for it."""
    return run_then_show(set_progress, "projection", request, still_asked=lambda asked: asks_for(view[:4], asked),
                         show=lambda: views.projection_view(*view), answer=projection_message)


@callback(Output("selected-neuron", "data"), Output("color-by", "value"), Input("neuron-map", "clickData"),
          prevent_initial_call=True)
def select_neuron(click):
    if not click or "customdata" not in click["points"][0]:
        raise PreventUpdate
    return int(click["points"][0]["customdata"]), "neuron"


@callback(Output("obs-projection", "figure", allow_duplicate=True), Input("selected-neuron", "data"),
          Input("color-by", "value"), *VIEW_STATE, State("drawn-grouping", "data"), State("projection-select", "value"),
          State("obs-projection", "relayoutData"), prevent_initial_call=True)
def colour_by_neuron(neuron, color_by, ws, layer, epoch, grouping, method, relayout):
    if color_by != "neuron" or neuron is None or layer == "input" or not grouping:
        raise PreventUpdate
    return views.neuron_colour_patch(ws, layer, epoch, neuron, grouping, method, relayout)


@callback(Output("obs-projection", "figure", allow_duplicate=True), Input("obs-projection", "relayoutData"),
          *VIEW_STATE, State("projection-select", "value"), State("color-by", "value"),
          State("selected-neuron", "data"), prevent_initial_call=True)
def redraw_density(relayout, ws, layer, epoch, method, color_by, neuron):
    """A density image is drawn again for each zoom or pan (points views are left to the browser)."""
    patch = views.zoomed_density(ws, layer, epoch, method, color_by, neuron, relayout)
    if patch is None:
        raise PreventUpdate
    return patch


clientside_callback(ClientsideFunction("nnvis", "redrawAfterPatch"), Output("drawn-revision", "data"),
                    Input("obs-projection", "figure"), prevent_initial_call=True)
clientside_callback(  # a cancelled projection says so: the heading no longer says it is computing
    f"""function (clicks) {{ return clicks ? {CANCELLED!r} : window.dash_clientside.no_update; }}""",
    Output("nh-value", "children", allow_duplicate=True), Input("job-cancel", "n_clicks"), prevent_initial_call=True)
clientside_callback(ClientsideFunction("nnvis", "copyAddress"), Output("copy-link-done", "children"),
                    Input("copy-link", "n_clicks"), prevent_initial_call=True)
clientside_callback(ClientsideFunction("nnvis", "shareLink"), Output("share-url", "children"),
                    Output("link-note", "children"), *VIEW, Input("projection-select", "value"),
                    Input("color-by", "value"), Input("selected-neuron", "data"),
                    Input("obs-projection", "selectedData"),
                    Input("patch-observations", "value"), Input("patch-colour", "value"),
                    State("shared-selection", "data"))


@callback(Output("neuron-hint", "children"), Input("color-by", "value"), Input("selected-neuron", "data"))
def hint_neuron_colouring(color_by, neuron):
    """Colouring by a neuron before any is chosen: say how to choose one."""
    return views.NEURON_HINT if color_by == "neuron" and neuron is None else None


@callback(Output("shared-selection", "data", allow_duplicate=True), Input("obs-projection", "selectedData"),
          prevent_initial_call=True)
def forget_shared_selection(_selected):
    """A lasso of one's own replaces the selection a link brought."""
    return None


@callback(Output("selected-neuron", "data", allow_duplicate=True),
          Output("selection-ranking", "data", allow_duplicate=True), Output("neuron-ranking", "children"),
          Input("workspace-select", "value"), Input("layer-select", "value"), prevent_initial_call=True)
def forget_neurons_of_other_layers(_ws, _layer):
    return None, None, None


NEURON_MAP_CONTROLS = [*VIEW, Input("neuron-colour", "value"), Input("selection-ranking", "data"),
                       Input("selected-neuron", "data")]


@callback(Output("neuron-map", "figure"), Output("neuron-job", "data"), *NEURON_MAP_CONTROLS)
def render_neuron_map(ws, layer, epoch, colour, ranking, neuron):
    return or_message(views.neuron_map_or_job, ws, layer, epoch, colour, ranking, neuron,
                      answer=lambda message: (message_figure(message), None))


@callback(Output("neuron-map", "figure", allow_duplicate=True), Input("neuron-job", "data"),
          *[State(i.component_id, i.component_property) for i in NEURON_MAP_CONTROLS],
          on_error=said_in_place(message_figure), **background_options("neuron-job"))
def run_neuron_map_job(set_progress, request, *view):
    """Compute a missing neuron map away from the web workers, then show it if the view still asks for it."""
    if not request:
        raise PreventUpdate
    failed = or_message(run_on_workspace, set_progress, request["ws"], "neuron map",
                        lambda analysis: analysis.neuron_map(request["layer"], request["epoch"]),
                        answer=message_figure)
    if failed is not None:
        return failed
    if list(view[:3]) != [request["ws"], request["layer"], request["epoch"]]:
        raise PreventUpdate  # the user moved on; the result waits in the store
    return views.neuron_map_view(*view)


@callback(Output("obs-hover", "children"), Input("obs-projection", "hoverData"), *VIEW_STATE,
          State("projection-select", "value"), prevent_initial_call=True)
def show_hovered(hover, ws, layer, epoch, method):
    return views.observation_details(ws, epoch, observation_of(hover, ws, layer, epoch, method))


@callback(Output("obs-pinned", "children"), Input("obs-projection", "clickData"), *VIEW_STATE,
          State("projection-select", "value"), prevent_initial_call=True)
def pin_clicked(click, ws, layer, epoch, method):
    return views.observation_details(ws, epoch, observation_of(click, ws, layer, epoch, method), layer)


@callback(Output("selection-ranking", "data"), Output("neuron-ranking", "children", allow_duplicate=True),
          Input("obs-projection", "selectedData"), *VIEW_STATE, prevent_initial_call=True)
def rank_selected(selected, ws, layer, epoch):
    indices = [int(p["customdata"]) for p in (selected or {}).get("points", []) if "customdata" in p]
    if not indices or layer == "input":
        return None, None
    return or_message(selection_ranking, ws, layer, epoch, indices, answer=lambda message: (None, message))


@callback(Output("csv-download", "data"), Input("export-csv", "n_clicks"), *VIEW_STATE,
          State("projection-select", "value"), prevent_initial_call=True)
def export_csv(_clicks, ws, layer, epoch, method):
    return views.export_table(ws, layer, epoch, method)


def observation_of(event: dict | None, ws, layer: str, epoch: int, method: str) -> int:
    """The observation a hover/click event points at (a point, or the nearest on a density image)."""
    index = views.event_observation(event, ws, layer, epoch, method)
    if index is None:
        raise PreventUpdate
    return index




@callback(Output("evolution-link", "href"), Input("share-url", "children"), prevent_initial_call=True)
def link_evolution(url):
    """The evolution page's address for the shown workspace and projection."""
    query = {key: values[0] for key, values in parse_qs(urlsplit(url or "").query).items()}
    return "/evolution?" + urlencode({key: query[key] for key in ("ws", "method") if key in query})


@callback(Output("unit-card-link", "href"), Output("unit-card-link", "children"), Output("layer-lab-link", "href"),
          Input("share-url", "children"), prevent_initial_call=True)
def link_unit_lab(url):
    """The unit lab's address for the shown view: the clicked neuron's unit card ("open unit
    card"), with the selection (`sel`) for its rules; the layer lab's for the layer."""
    query = {key: values[0] for key, values in parse_qs(urlsplit(url or "").query).items()}
    view = {key: query[key] for key in ("ws", "layer", "epoch") if key in query}
    if view.get("layer") == "input":
        view.pop("layer")
    card = {**view, **({"unit": query["neuron"]} if "neuron" in query and "layer" in view else {}),
            **({"sel": query["sel"]} if "sel" in query else {})}
    text = f"open unit card of neuron {card['unit']} →" if "unit" in card else "unit lab →"
    return "/units?" + urlencode(card), text, "/layer-lab?" + urlencode(view)
