"""Callbacks of the evolution page. Thin: read the controls, call callbacks.evolution_views."""

from __future__ import annotations

from dash import Input, Output, State, ctx, no_update
from dash.exceptions import PreventUpdate

from callbacks import evolution_views as views
from layouts.figures import message_figure
from layouts.page_parts import EVOLUTION_VIEW, class_options, coherence_for, coherence_options
from layouts.pointview import HIDDEN, SHOWN
from web.components import anchor_options
from web.context import open_analysis
from web.errors import said_in_place
from web.jobs import asks_for, background_options, run_then_show
from web.registry import callback, clientside_callback

CONTROLS = [Input("evo-ws", "value"), Input("sequence-kind", "value"), Input("sequence-anchor", "value"),
            Input("evo-method", "value"), Input("class-filter", "value"), Input("trail-selection", "data"),
            Input("evo-coherence", "value")]
OUTPUTS = [Output("trails-graph", "figure"), Output("evo-status", "children"), Output("frame-slider", "max"),
           Output("frame-slider", "marks"), Output("evo-job", "data")]


@callback(Output("sequence-anchor", "options"), Output("sequence-anchor", "value"), Output("class-filter", "options"),
          Output("class-filter", "value"), Input("sequence-kind", "value"), Input("evo-ws", "value"),
          State("sequence-anchor", "value"), State("class-filter", "options"), prevent_initial_call=True)
def switch_sequence(kind, ws, anchor, shown_classes):
    """A new kind of sequence, or another workspace: the anchors of that workspace (its last epoch
    or last layer) and, for a workspace with other classes, those classes, all ticked. What
    still fits is kept (the address's values are set again when the page opens)."""
    analysis = open_analysis(ws)
    anchors = anchor_options(analysis, kind)
    if ctx.triggered_id != "sequence-kind" and views.anchor_fits(ws, kind, anchor):
        last = no_update  # the anchor shown is one of this workspace's too
    else:
        last = analysis.epochs[-1] if kind == "layers" else analysis.layers[-1]
    classes = class_options(analysis.classes)
    if ctx.triggered_id != "evo-ws" or classes == shown_classes:
        return anchors, last, no_update, no_update
    return anchors, last, classes, list(range(len(classes)))


@callback(*OUTPUTS, *CONTROLS)
def render_trails(ws, kind, anchor, method, classes, selected, coherence=None):
    if not views.anchor_fits(ws, kind, anchor):
        raise PreventUpdate  # the kind changed and its anchor is on the way: that update renders
    return views.trails_view(ws, kind, anchor, method, classes, selected, coherence)


@callback(*[Output(o.component_id, o.component_property, allow_duplicate=True) for o in OUTPUTS],
          Input("evo-job", "data"), *[State(i.component_id, i.component_property) for i in CONTROLS],
          on_error=said_in_place(lambda message: (message_figure(message), message, no_update, no_update, None)),
          **background_options("evo-job"))
def run_sequence_job(set_progress, request, *view):
    """Align and bundle a sequence away from the web workers, then show it if still wanted."""
    def still_asked(asked: dict) -> bool:
        return asks_for(view[:4], asked, ("ws", "kind", "anchor", "method")) and \
            coherence_for(view[3], view[6]) == asked.get("coherence", coherence_for(view[3], None))
    return run_then_show(set_progress, "sequence", request, still_asked=still_asked,
                         show=lambda: views.trails_view(*view),
                         answer=lambda message: (message_figure(message), message, no_update, no_update, None))


@callback(Output("frame-graph", "figure"), Output("frame-graph", "animate"), Input("frame-slider", "value"),
          Input("evo-status", "children"), *[State(i.component_id, i.component_property) for i in CONTROLS])
def render_frame(frame, _status, ws, kind, anchor, method, classes, _selected, coherence=None):
    if not views.anchor_fits(ws, kind, anchor):
        raise PreventUpdate
    figure = views.frame_view(ws, kind, anchor, method, classes, frame, coherence)
    return figure, bool(figure.data)  # a message (no trace) is drawn afresh: an animation would not show its text


@callback(Output("trail-selection", "data"), Input("frame-graph", "selectedData"), prevent_initial_call=True)
def select_trails(selected):
    """Lasso observations in the player to keep only their trails (an empty lasso shows all)."""
    indices = [int(p["customdata"]) for p in (selected or {}).get("points", []) if "customdata" in p]
    return sorted(set(indices)) or None


@callback(Output("trails-hover", "children"), Input("trails-graph", "hoverData"), State("evo-ws", "value"),
          State("sequence-kind", "value"), State("sequence-anchor", "value"), prevent_initial_call=True)
def show_hovered_trail(hover, ws, kind, anchor):
    points = (hover or {}).get("points") or [{}]
    if "customdata" not in points[0]:
        raise PreventUpdate
    return views.hovered_observation(ws, kind, anchor, int(points[0]["customdata"]))


@callback(Output("nh-curves", "figure"), *CONTROLS[:4])
def render_curves(ws, kind, anchor, method):
    if not views.anchor_fits(ws, kind, anchor):
        raise PreventUpdate
    return views.curves_view(ws, kind, anchor, method)


@callback(Output("player-interval", "disabled"), Output("play-button", "children"), Input("play-button", "n_clicks"),
          State("player-interval", "disabled"), prevent_initial_call=True)
def toggle_player(_clicks, disabled):
    return (False, "❚❚ pause") if disabled else (True, "▶ play")


@callback(Output("frame-slider", "value"), Input("player-interval", "n_intervals"), State("frame-slider", "value"),
          State("frame-slider", "max"), prevent_initial_call=True)
def advance_frame(_ticks, frame, last):
    return 0 if (frame or 0) >= (last or 0) else (frame or 0) + 1


@callback(Output("evo-location", "href"), Input("nh-curves", "clickData"), State("evo-ws", "value"),
          State("evo-method", "value"), prevent_initial_call=True)
def open_projection(click, ws, method):
    """Clicking a point of an NH curve opens that layer and epoch in the projection view."""
    if not click or "customdata" not in click["points"][0]:
        return no_update
    layer, epoch = click["points"][0]["customdata"]
    return f"/?ws={ws}&layer={layer}&epoch={epoch}&method={method}"


@callback(Output("stability-curves", "figure"), Output("coherence-tradeoff", "figure"), Input("evo-status", "children"),
          *[State(i.component_id, i.component_property) for i in CONTROLS[:4]], State("evo-coherence", "value"))
def render_stability(_status, ws, kind, anchor, method, coherence):
    """The sequence's stability and the coherence trade-off, once its frames are in the store."""
    return views.stability_view(ws, kind, anchor, method, coherence)


@callback(Output("evo-coherence", "options"), Output("evo-coherence", "value"), Input("evo-method", "value"),
          State("evo-coherence", "value"), prevent_initial_call=True)
def offer_coherence(method, coherence):
    """Attractions tie t-SNE frames only: other methods keep independent or chained frames."""
    return coherence_options(method), coherence_for(method, coherence)


@callback(Output("trail-points", "coordinates"), Output("trail-points", "values"), Output("trail-points", "palette"),
          Output("trail-points", "lineIds"), Output("trail-points", "lineOrders"), Output("trail-points-box", "style"),
          Output("trails-graph", "style"), Input("evo-status", "children"),
          *[State(i.component_id, i.component_property) for i in CONTROLS])
def draw_trail_points(_status, ws, kind, anchor, method, classes, selected, coherence=None):
    """Above `Settings.points_above` observations the trails are drawn by the WebGL point view in
    the graph's place, once the trails' status says they are shown (else the graph is shown)."""
    if not views.anchor_fits(ws, kind, anchor):
        raise PreventUpdate
    props = views.trail_points(ws, kind, anchor, method, classes, selected, coherence)
    if props is None:
        return "", no_update, no_update, None, None, HIDDEN, {}
    return (props["coordinates"], props["values"], props["palette"], props["lineIds"], props["lineOrders"], SHOWN,
            HIDDEN)


clientside_callback("function (frame) { return frame || 0; }", Output("trail-points", "shownOrder"),
                    Input("frame-slider", "value"))  # the player's frame: its points shown, every trail kept


@callback(Output("trails-hover", "children", allow_duplicate=True), Input("trail-points", "hoveredLine"),
          State("evo-ws", "value"), State("sequence-kind", "value"), State("sequence-anchor", "value"),
          prevent_initial_call=True)
def show_hovered_trail_point(line, ws, kind, anchor):
    """A trail's point hovered in the point view: its observation's card (the line is the observation)."""
    if line is None or int(line) < 0:
        raise PreventUpdate
    return views.hovered_observation(ws, kind, anchor, int(line))


EVOLUTION_VIEW.follow()  # the address holds the view: a link reopens it
