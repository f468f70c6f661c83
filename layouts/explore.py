"""The explore page: linked observation projection and neuron map (Rauber et al. 2016)."""

from __future__ import annotations

import dash
from dash import dcc, html

from layouts.page_parts import EXPLORE_VIEW, selection_ranking
from layouts.patch_view import patch_controls, patch_panel
from layouts.pointview import with_point_view
from web.components import controls, detail_panel, nav_link, neuron_panel, page_header, projection_panel
from web.context import workspace_options
from web.errors import or_message

dash.register_page(__name__, path="/", title="nnvis")


def initial_state(workspaces: list[dict], query: dict) -> dict:
    """The view to open: query-string values where valid, else the workspace's last layer and epoch
    (`workspaces`: the server's ready workspaces, as `ViewState.read` finds them)."""
    view = EXPLORE_VIEW.read(query)
    return {key: view[key] for key in (*EXPLORE_VIEW.keys, "analysis")}


def shared_ranking(state: dict) -> tuple:
    """The neuron ranking of a link's selection (None, None without one)."""
    if not state["sel"]:
        return None, None
    return or_message(selection_ranking, state["ws"], state["layer"], state["epoch"], state["sel"],
                      answer=lambda _message: (None, None))


def layout(**query) -> html.Div:
    """The page for the view in `query` (ws, layer, epoch, method, color, neuron, sel): what a
    copied link holds, so that it reopens the same view."""
    workspaces = workspace_options()
    if not workspaces:
        return html.Div([html.H1("nnvis"), html.P("No workspace is ready yet. Create one with "
                                                  "`nnvis run --dataset digits --model mlp --workspace DIR` "
                                                  "and start the server with `nnvis serve --workspace DIR`.")],
                        className="empty")
    state = initial_state(workspaces, query)
    analysis = state.pop("analysis")
    ranking, ranking_list = shared_ranking(state)
    return html.Div([
        dcc.Store(id="selected-neuron", data=state["neuron"]), dcc.Store(id="selection-ranking", data=ranking),
        dcc.Store(id="shared-selection", data=state["sel"]),
        dcc.Store(id="job-request"), dcc.Store(id="neuron-job"),
        dcc.Store(id="drawn-grouping"), dcc.Store(id="drawn-revision"),
        page_header("hidden activity of neural networks", [
            nav_link("evolution: trails across layers and epochs →", f"/evolution?ws={state['ws']}", "evolution-link"),
            nav_link("unit lab →", f"/units?ws={state['ws']}", "unit-card-link"),
            nav_link("layer lab →", f"/layer-lab?ws={state['ws']}", "layer-lab-link"),
            nav_link("concepts →", f"/concepts?ws={state['ws']}", "concepts-link"),
            nav_link("compare →", f"/compare?ws={state['ws']}", "compare-link"),
            nav_link("deep visualization →", f"/deepvis?ws={state['ws']}", "deepvis-link")]),
        controls(state, workspaces, analysis.layers, analysis.epochs, analysis.classes),
        html.Div([html.Button("Export HTML", id="export-html", className="button",
                              title="this view as one HTML file that opens without a server"),
                  dcc.Download(id="html-download"), html.Span(id="html-export-status", className="muted",
                                                              role="status")], className="control-row"),
        patch_controls(state["obs"], state["tokens"]), patch_panel(),  # patch tokens as observations (issue 25)
        html.Div([with_point_view(projection_panel()),
                  html.Div([neuron_panel(analysis.classes, ranking_list), detail_panel()], className="side")],
                 className="main-grid"),
    ], className="page")
