"""Callbacks of the compare page: the two aligned views (computed by a background job when not
in the store), hover and selection linked across them, the movers gallery and NH per class."""

from __future__ import annotations

from urllib.parse import urlencode

from dash import ALL, Input, Output, Patch, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from callbacks.views import METHOD_NAMES, version_of
from layouts.compare_figures import HIGHLIGHT_TRACE, class_nh_figure, side_figure
from layouts.figures import message_figure
from layouts.page_parts import COMPARE_VIEW
from nnvis.compare.snapshots import (
    Snapshot,
    aligned_projections,
    check_same_observations,
    class_nh,
    class_verdict,
    has_aligned_projections,
    mover_order,
    neighbourhood_change,
    snapshot,
)
from nnvis.errors import NNVisError
from web.components import layer_options
from web.context import current_settings, layer_and_epoch_choices, open_analysis, workspace_path
from web.errors import or_message, said_in_place
from web.jobs import READ_ONLY_MESSAGE, background_options, run_then_show
from web.registry import callback, clientside_callback
from web.routes import thumbnail_url

SIDES = ("", "2")
VIEW = [Input(f"compare-{name}{suffix}", "value") for suffix in SIDES for name in ("ws", "layer", "epoch")] + \
    [Input("compare-method", "value"), Input("compare-color", "value")]
OUTPUTS = [Output("compare-a", "figure"), Output("compare-b", "figure"), Output("compare-status", "children"),
           Output("compare-movers", "children"), Output("compare-class-nh", "figure"), Output("compare-job", "data")]
TOP_MOVERS = 50


def open_view(ws, layer, epoch, ws2, layer2, epoch2) -> tuple[Snapshot, Snapshot]:
    """The two sides the controls name, over this process's opened workspaces (`open_analysis`:
    read-only on a read-only server, models on the allow-list); NNVisError when they cannot be
    compared, as `nnvis.compare.snapshots.open_pair` says (which opens them writable)."""
    same = workspace_path(ws).resolve() == workspace_path(ws2).resolve()
    first = open_analysis(ws)
    a, b = snapshot(first, layer, epoch), snapshot(first if same else open_analysis(ws2), layer2, epoch2)
    if same and a.identity() == b.identity():
        raise NNVisError(f"nothing to compare: both sides are {a.describe()}; choose another epoch or layer")
    if not same:
        check_same_observations(a.analysis, b.analysis)
    return a, b


def message_view(text: str, job=no_update) -> tuple:
    return message_figure(text), message_figure(text), text, [], message_figure(""), job


def compare_view(ws, layer, epoch, ws2, layer2, epoch2, method: str, colour: str) -> tuple:
    """(figure A, figure B, status, movers gallery, NH per class, job request): a message and a
    job request when the comparison is not in the store yet."""
    pair = or_message(open_view, ws, layer, epoch, ws2, layer2, epoch2, answer=message_view)
    if not isinstance(pair[0], Snapshot):
        return pair
    a, b = pair
    if not has_aligned_projections(a, b, method):
        if current_settings().read_only:
            return message_view(READ_ONLY_MESSAGE)
        request = {"ws": ws, "ws2": ws2, "layer": layer, "layer2": layer2, "epoch": int(epoch), "epoch2": int(epoch2),
                   "method": method}
        return message_view(f"Finding every observation's 10 nearest neighbours in both snapshots and aligning "
                            f"{METHOD_NAMES[method]} projections…", request)
    kept = neighbourhood_change(a, b)
    pair = aligned_projections(a, b, method)
    labels, classes = a.analysis.labels, a.analysis.classes
    change = 1.0 - kept["kept"]
    revision = view_revision(ws, layer, epoch, ws2, layer2, epoch2, method)
    figures = [side_figure(pair[side], change, labels, classes, colour_by=colour, show_scale=side == "b",
                           title=f"{name} · {snapshot.describe()} · NH {pair['nh_' + side].mean():.3f} (aligned)",
                           uirevision=revision)
               for side, name, snapshot in (("a", "A", a), ("b", "B", b))]
    per_class = [class_nh(pair[f"nh_{side}"], labels, len(classes)) for side in ("a", "b")]
    verdicts = [class_verdict(x, y) for x, y in zip(*per_class)]
    status = [f"{len(labels):,} observations keep {kept['kept'].mean():.0%} of their 10 nearest neighbours on "
              f"average · NH {pair['nh_a'].mean():.3f} → {pair['nh_b'].mean():.3f} ({METHOD_NAMES[method]}, aligned: "
              "B's projection starts from A's, so NH differs a little from each snapshot's own projection: ",
              dcc.Link("A", href=f"/?{urlencode({'ws': ws, 'layer': layer, 'epoch': epoch, 'method': method})}",
                       id="compare-independent-a"), ", ",
              dcc.Link("B", href=f"/?{urlencode({'ws': ws2, 'layer': layer2, 'epoch': epoch2, 'method': method})}",
                       id="compare-independent-b"), ")"]
    return (*figures, status, movers_gallery(a, b, ws, kept), class_nh_figure(classes, *per_class, verdicts),
            no_update)


def view_revision(ws, layer, epoch, ws2, layer2, epoch2, method) -> str:
    """What the two views' positions depend on (their figures' uirevision): not the colouring."""
    return f"{ws}-{layer}-{epoch}-{ws2}-{layer2}-{epoch2}-{method}"


def movers_gallery(a: Snapshot, b: Snapshot, ws, kept: dict) -> list:
    """The TOP_MOVERS observations that kept fewest neighbours: thumbnail, class, predictions in both."""
    classes, labels = a.analysis.classes, a.analysis.labels
    predicted_a, _ = a.analysis.predictions(a.epoch)
    predicted_b, _ = b.analysis.predictions(b.epoch)
    version = version_of(a.analysis)
    tiles = []
    for i in mover_order(kept)[:TOP_MOVERS]:
        changed = predicted_a[i] != predicted_b[i]
        tiles.append(html.Div([
            html.Img(src=thumbnail_url(ws, i, version), alt=f"observation {i}"),
            html.Div(f"#{i} · class {classes[labels[i]]}"),
            html.Div(f"A {classes[predicted_a[i]]} → B {classes[predicted_b[i]]}", className="changed" if changed
                     else None),
            html.Div(f"kept {kept['kept'][i]:.0%}")], className="mover", title=f"observation {i}"))
    return tiles


def hovered_index(hover) -> int | None:
    points = (hover or {}).get("points") or [{}]
    return int(points[0]["customdata"]) if "customdata" in points[0] else None


RING_STORE = {"role": "compare-ring", "of": "hovered"}  # in the hover card: where the ring goes in each view


def hover_card(a: Snapshot, b: Snapshot, ws, index: int, kept: float, ring: dict | None = None) -> list:
    """The hovered observation's image, class and predictions (with confidence) in both snapshots;
    with `ring`, a store holding where it lies in each view (for redraws to ring it again)."""
    classes = a.analysis.classes
    rows = [html.Div(f"#{index}", className="obs-id"), html.Div(["true ", html.B(classes[a.analysis.labels[index]])])]
    for name, side in (("A", a), ("B", b)):
        predicted, confidence = side.analysis.prediction_table(side.epoch)[index]
        rows.append(html.Div([f"{name} predicts ", html.B(classes[int(predicted)]), f" ({confidence:.1%})"]))
    rows.append(html.Div(f"keeps {kept:.0%} of its 10 nearest neighbours"))
    return [html.Img(src=thumbnail_url(ws, index, version_of(a.analysis)), className="thumb",
                     alt=f"observation {index}"), html.Div(rows, className="obs-text"),
            *([dcc.Store(id=RING_STORE, data=ring)] if ring else [])]


@callback(Output("compare-layer", "options"), Output("compare-layer", "value"), Output("compare-epoch", "options"),
          Output("compare-epoch", "value"), Input("compare-ws", "value"), prevent_initial_call=True)
def switch_workspace(ws):
    layers, layer, epochs, epoch = layer_and_epoch_choices(ws)
    return layer_options(layers), layer, epochs, epoch


@callback(Output("compare-layer2", "options"), Output("compare-layer2", "value"), Output("compare-epoch2", "options"),
          Output("compare-epoch2", "value"), Input("compare-ws2", "value"), prevent_initial_call=True)
def switch_workspace_b(ws2):
    layers, layer, epochs, epoch = layer_and_epoch_choices(ws2)
    return layer_options(layers), layer, epochs, epoch


@callback(*OUTPUTS, *VIEW)
def render_comparison(*view):
    return compare_view(*view)


@callback(*[Output(o.component_id, o.component_property, allow_duplicate=True) for o in OUTPUTS],
          Input("compare-job", "data"), *[State(i.component_id, i.component_property) for i in VIEW],
          on_error=said_in_place(lambda message: message_view(message, None)), **background_options("compare-job"))
def run_comparison_job(set_progress, request, *view):
    """Compute the comparison away from the web workers, then show it if it is still the view asked for."""
    return run_then_show(set_progress, "compare", request, still_asked=lambda asked: True,
                         show=lambda: compare_view(*view), answer=lambda message: message_view(message, None))


@callback(Output("compare-a", "figure", allow_duplicate=True), Output("compare-b", "figure", allow_duplicate=True),
          Output("compare-hover", "children"), Input("compare-a", "hoverData"), Input("compare-b", "hoverData"),
          *[State(i.component_id, i.component_property) for i in VIEW], prevent_initial_call=True)
def link_hover(hover_a, hover_b, ws, layer, epoch, ws2, layer2, epoch2, method, _colour):
    """Ring the hovered observation in both views (a Patch of the ring trace) and show its card."""
    index = hovered_index(hover_a if ctx.triggered_id == "compare-a" else hover_b)
    if index is None:
        raise PreventUpdate
    a, b = open_view(ws, layer, epoch, ws2, layer2, epoch2)
    if not has_aligned_projections(a, b, method):
        raise PreventUpdate
    pair = aligned_projections(a, b, method)
    ring = {"revision": view_revision(ws, layer, epoch, ws2, layer2, epoch2, method), "index": index,
            **{side: [float(pair[side][index, 0]), float(pair[side][index, 1])] for side in ("a", "b")}}
    patches = []
    for side in ("a", "b"):
        patch = Patch()
        patch["data"][HIGHLIGHT_TRACE]["x"] = [ring[side][0]]
        patch["data"][HIGHLIGHT_TRACE]["y"] = [ring[side][1]]
        patches.append(patch)
    kept = float(neighbourhood_change(a, b)["kept"][index])
    return *patches, hover_card(a, b, ws, index, kept, ring)


# Any later full draw of a view (another colouring, a job's result, or a first draw that lands
# after the hover) comes without the ring: ring the hovered observation again, in the browser,
# when the figure's positions are those the ring was placed in (same uirevision).
clientside_callback(
    f"""function (figureA, figureB, rings) {{
        const ring = rings && rings.length ? rings[rings.length - 1] : null;
        const noUpdate = window.dash_clientside.no_update;
        const ringed = (figure, at) => {{
            if (!ring || !figure || !figure.data || figure.data.length <= {HIGHLIGHT_TRACE} || !figure.layout ||
                figure.layout.uirevision !== ring.revision) {{ return noUpdate; }}
            const trace = figure.data[{HIGHLIGHT_TRACE}];
            if (Array.isArray(trace.x) && trace.x.length === 1 && trace.x[0] === at[0] && trace.y[0] === at[1]) {{
                return noUpdate;
            }}
            const data = figure.data.slice();
            data[{HIGHLIGHT_TRACE}] = Object.assign({{}}, trace, {{x: [at[0]], y: [at[1]]}});
            return Object.assign({{}}, figure, {{data: data}});
        }};
        return [ringed(figureA, ring ? ring.a : null), ringed(figureB, ring ? ring.b : null)];
    }}""", Output("compare-a", "figure", allow_duplicate=True), Output("compare-b", "figure", allow_duplicate=True),
    Input("compare-a", "figure"), Input("compare-b", "figure"), State({**RING_STORE, "of": ALL}, "data"),
    prevent_initial_call=True)


@callback(Output("compare-a", "figure", allow_duplicate=True), Output("compare-b", "figure", allow_duplicate=True),
          Output("compare-selection", "children"), Input("compare-a", "selectedData"),
          Input("compare-b", "selectedData"), prevent_initial_call=True)
def link_selection(selected_a, selected_b):
    """A lasso in either view selects the same observations in both (points keep one order in both)."""
    selected = selected_a if ctx.triggered_id == "compare-a" else selected_b
    points = [p for p in (selected or {}).get("points", []) if p.get("curveNumber") == 0]
    numbers = sorted({int(p["pointIndex"]) for p in points})
    patches = []
    for _ in range(2):
        patch = Patch()
        patch["data"][0]["selectedpoints"] = numbers or None
        patches.append(patch)
    text = f"{len(numbers)} observations selected in both views" if numbers else ""
    return *patches, text


COMPARE_VIEW.follow()  # the address holds the view: a link reopens it

