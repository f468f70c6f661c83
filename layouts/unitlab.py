"""The unit lab: one unit's card (top-k examples, their mean, its activation per class, its
activation-maximization images) and Shang et al.'s rule-based selection of units.

The address holds the view (?ws=&layer=&epoch=&unit=&sel=), so a link reopens it."""

from __future__ import annotations

import dash
from dash import dcc, html

from layouts.page_parts import UNIT_LAB_VIEW
from layouts.unit_exemplars import exemplars_panel
from layouts.unit_figures import ACTMAX_INPUTS, number_input, view_controls
from nnvis.unitlab.actmax import ActMaxParams
from web.components import ALPHA_CAPTION, caption, job_indicator, labelled, nav_link, page_header
from web.view_state import view_query

dash.register_page(__name__, path="/units", title="nnvis: unit lab")

RULE_OPTIONS = [{"label": "max (top-n of each)", "value": "max"},
                {"label": "intersection (in every top-n)", "value": "intersection"},
                {"label": "difference (first only)", "value": "difference"}]


def card_panel() -> html.Div:
    return html.Div([
        html.Div([html.H2("Unit card", className="panel-title"), html.Span(id="ul-title", className="metric")],
                 className="panel-head"),
        caption(ALPHA_CAPTION, "alpha-caption"),
        html.Div(id="ul-message", className="lab-message"),
        html.Div([
            html.Div([html.Div([html.H3("Top-k observations", className="lab-h3"), job_indicator("ul-maps")],
                               className="panel-head"),
                      html.Div(id="ul-maps-status", className="muted"),
                      html.Div(id="ul-topk", className="thumb-grid")]),
            html.Div([html.H3("Mean of the top-k", className="lab-h3"),
                      html.Div(id="ul-mean", className="mean-image")]),
        ], className="card-row"),
        dcc.Graph(id="ul-histogram", className="graph-lab", config={"displaylogo": False}),
    ], className="panel")


def actmax_panel() -> html.Div:
    defaults = ActMaxParams()
    inputs = [labelled(label, number_input(f"ul-am-{suffix}", getattr(defaults, field), step, width="90px"))
              for suffix, label, field, step in ACTMAX_INPUTS]
    return html.Div([
        html.Div([html.H2("Activation maximization", className="panel-title"), job_indicator("ul-actmax")],
                 className="panel-head"),
        html.Div("Gradient ascent from seeded noise, regularized (Yosinski et al. 2015); one image per restart.",
                 className="muted"),
        html.Div([*inputs, html.Button("Run", id="ul-actmax-run", className="button")], className="param-grid"),
        html.Div(id="ul-actmax-status", className="status-line"),
        html.Div(id="ul-actmax-images", className="actmax-images"),
        exemplars_panel(),  # layouts.unit_exemplars: synthetic vs natural
    ], className="panel")


def rules_panel(sel: str, rule: str, n: int) -> html.Div:
    return html.Div([
        html.Div([html.H2("Rule-based selection", className="panel-title"),
                  html.Span("units picked by their alpha on a set of observations (Shang et al.)", className="muted")],
                 className="panel-head"),
        html.Div([
            labelled("Rule", dcc.RadioItems(id="ul-rule", options=RULE_OPTIONS, inline=True, className="radio",
                                            value=rule)),
            labelled("Observations (subset indices)", dcc.Input(id="ul-observations", type="text", value=sel,
                                                                placeholder="3,7,12", debounce=True,
                                                                className="text-input")),
            labelled("Top n", number_input("ul-n", n, 1, 1)),
        ], className="controls-inline"),
        html.Div(id="ul-rules", className="rule-results"),
    ], className="panel")


def layout(**query) -> html.Div:
    """The page for the view in the address (ws, layer, epoch, unit, k, rule, sel, n)."""
    view = UNIT_LAB_VIEW.read(query)
    if view is None:
        return html.Div("No workspace is ready yet; create one with `nnvis run`.", className="empty")
    number, analysis, layer, epoch = view["ws"], view["analysis"], view["layer"], view["epoch"]
    sel_value, rule_value, k_value, n_value, unit_value = view["sel"], view["rule"], view["k"], view["n"], view["unit"]
    return html.Div([
        dcc.Store(id="ul-actmax-request"), dcc.Store(id="ul-maps-request"),
        UNIT_LAB_VIEW.holder({key: view[key] for key in ("k", "rule", "sel", "n") if not query.get(key)}),
        page_header("unit lab: one unit's examples, histogram and preferred input", [
            nav_link("← projection and neurons", "/" + view_query(number, layer, epoch), "ul-explore-link"),
            nav_link("layer lab →", "/layer-lab" + view_query(number, layer, epoch), "ul-layerlab-link"),
            nav_link("concepts →", "/concepts" + view_query(number, layer, epoch), "ul-concepts-link")]),
        view_controls("ul", analysis, number, layer, epoch, [
            labelled("Unit", number_input("ul-unit", unit_value, 1)),
            labelled("k", number_input("ul-k", k_value, 1, 1, "64px")),
            html.Div(dcc.Link("colour the projection by this unit", id="ul-colour-link", href="/"),
                     className="control control-end"),
        ]),
        html.Div([card_panel(), actmax_panel()], className="lab-grid"),
        rules_panel(sel_value, rule_value, n_value),
    ], className="page")
