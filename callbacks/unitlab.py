"""Callbacks of the unit lab, and the work behind them as plain functions (tested without a
browser): read the controls, call nnvis.unitlab.lab (cached in the store), build components."""

from __future__ import annotations

import numpy as np
from dash import Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from callbacks.views import version_of
from layouts.figures import message_figure
from layouts.page_parts import UNIT_LAB_VIEW
from layouts.unit_figures import ACTMAX_INPUTS, firing_patch, patch_outlined, png_uri, unit_histogram_figure
from nnvis.errors import NNVisError
from nnvis.models.feature_maps import overlay
from nnvis.unitlab import lab as unitlab
from nnvis.unitlab.actmax import ActMaxParams
from nnvis.unitlab.layouts import recorded_layout, what_a_unit_is, workspace_tokens
from web.context import current_settings, layer_and_epoch_choices, open_analysis
from web.errors import or_message, said_in_place
from web.jobs import READ_ONLY_MESSAGE, background_options, no_job, run_on_workspace, run_request
from web.registry import callback
from web.routes import thumbnail_url
from web.view_state import view_query

VIEW = [Input("ul-ws", "value"), Input("ul-layer", "value"), Input("ul-epoch", "value")]
PARAMS = [Input(f"ul-am-{suffix}", "value") for suffix, _, _, _ in ACTMAX_INPUTS]
MAX_K = 64
UNIT_LAB_VIEW.follow()  # the address holds the view: a link reopens it


def parse_observations(text: str | None) -> list[int]:
    """Subset indices typed as "3,7,12" (ranges "3-7" allowed, as in a shared link's `sel`),
    in the order given without repeats; NNVisError for anything else."""
    indices: list[int] = []
    for part in (text or "").replace(" ", "").split(","):
        if not part:
            continue
        first, dash_, last = part.partition("-")
        if not first.isdigit() or (dash_ and not last.isdigit()):
            raise NNVisError(f"observations '{text}': '{part}' is not an index or a range; "
                             "type subset indices separated by commas, e.g. 3,7,12")
        indices += range(int(first), int(last or first) + 1)
    if not indices:
        raise NNVisError("no observations given; type subset indices separated by commas, e.g. 3,7,12")
    return list(dict.fromkeys(indices))


def unit_count(analysis, layer: str, epoch: int | None) -> int:
    """How many units `layer` has: the memory-mapped by-unit copy's length (its header, not the layer)."""
    return len(analysis.activations_by_unit(layer, unitlab.resolve_epoch(analysis, epoch)))


def checked_unit(analysis, layer: str, epoch: int, unit, k) -> tuple[int, int]:
    """(unit, k) as ints in range, or NNVisError naming what is allowed."""
    units = unit_count(analysis, layer, epoch)
    if unit is None:
        raise NNVisError(f"no unit given; type a unit number, 0..{units - 1} at layer {layer}")
    if not isinstance(unit, int) or not 0 <= unit < units:
        raise NNVisError(f"unit {unit} is out of range; layer {layer} has {units} units (0..{units - 1})")
    upper = min(MAX_K, analysis.config.subset)
    if not isinstance(k, int) or not 1 <= k <= upper:
        raise NNVisError(f"k {k} is out of range; allowed: 1..{upper}")
    return unit, k


def thumbnail_src(ws, analysis, index: int) -> str:
    """The thumbnail route's URL of a subset observation (the route makes its PNG on first use;
    concurrent reads are safe since the store serialises numpy's header parsing)."""
    return thumbnail_url(ws, int(index), version_of(analysis))


def example_tile(src: str, caption: list, alt: str) -> html.Div:
    return html.Div([html.Img(src=src, className="unit-thumb", alt=alt), html.Div(caption, className="tile-caption")],
                    className="unit-example")


MAPS_COMPUTING = "Computing the activation maps over these images in the background…"
MAPS_READ_ONLY = "This server is read-only: the activation maps over these images are not computed."
MAPS_GONE = "The activation maps are not in the store; change the unit and come back to compute them."


def top_k_tiles(ws, analysis, layer: str, epoch: int, unit: int, k: int, maps: np.ndarray | None) -> list:
    """The top-k observations as tiles: the unit's activation `maps` over the images for a conv
    unit (its map larger than 1 x 1), else the thumbnail route's images. A token layer's maps
    are its patch grid: the patch where the unit fires most is outlined and named."""
    found = unitlab.top_examples(analysis, layer, epoch, unit, k)
    overlays = maps is not None and maps.shape[1] * maps.shape[2] > 1
    images = analysis.subset()["images"] if overlays else None
    patches = overlays and recorded_layout(analysis, layer).is_tokens
    tiles = []
    for rank, (index, label, alpha) in enumerate(zip(found["observations"], found["labels"], found["alpha"])):
        caption, alt = [html.B(f"#{index}"), f" {analysis.classes[label]} · α {alpha:.3g}"], f"observation {index}"
        if patches:
            cell = firing_patch(maps[rank])
            src = png_uri(patch_outlined(overlay(images[index], maps[rank]), maps.shape[1:], cell), 96)
            caption.append(html.Span(f" · patch ({cell[0]}, {cell[1]})", className="firing-patch"))
            alt += f", patch row {cell[0]} column {cell[1]} outlined"
        else:
            src = png_uri(overlay(images[index], maps[rank]), 96) if overlays else thumbnail_src(ws, analysis, index)
        tiles.append(example_tile(src, caption, alt))
    return tiles


def unit_kind(analysis, layer: str, maps: np.ndarray | None) -> str:
    """What a unit of `layer` is, for the card's title: a dense unit, a channel and its maps, a
    token layer's hidden unit on its patch grid and what its alpha reads."""
    if maps is None:
        return " (dense unit)"
    layout = recorded_layout(analysis, layer)
    if layout.is_tokens:
        return (f" (hidden unit, patch grid {maps.shape[1]}×{maps.shape[2]}; "
                f"α: {what_a_unit_is(layout, workspace_tokens(analysis))})")
    return f" (channel, maps {maps.shape[1]}×{maps.shape[2]})"


def maps_status(ws, layer: str, epoch: int, unit: int, k: int, found: bool, ran: bool) -> tuple:
    """(status line, job request) of the unit's activation maps: none when `found`; else a request
    for the job computing them (a read-only server says they are not computed; after the job
    `ran`, only a line)."""
    if found:
        return None, no_job()
    if current_settings().read_only or ran:
        return MAPS_READ_ONLY if current_settings().read_only else MAPS_GONE, no_job()
    return MAPS_COMPUTING, {"ws": ws, "layer": layer, "epoch": epoch, "unit": unit, "k": k}


def card_view(ws, layer: str, epoch: int, unit, k, ran: bool = False) -> tuple:
    """(title, top-k tiles, mean image, histogram figure, maps status, maps job request) of one
    unit, from the store alone: the activation maps of a conv unit not computed yet are a job's."""
    analysis = open_analysis(ws)
    unit, k = checked_unit(analysis, layer, epoch, unit, k)
    units = unit_count(analysis, layer, epoch)
    histogram = unitlab.unit_histogram(analysis, layer, epoch, unit)
    figure = unit_histogram_figure(histogram["edges"], histogram["counts"], analysis.classes, unit)
    found, maps = unitlab.stored_unit_maps(analysis, layer, epoch, unit, k)
    dead = unitlab.dead_note(analysis, layer, epoch, unit)
    if found:
        kind = unit_kind(analysis, layer, maps)
    else:
        kind = "" if dead else " (maps not computed)" if current_settings().read_only else " (maps computing)"
    title = f"{layer} · unit {unit} of {units}{kind} · epoch {epoch}"
    if dead:  # its "top" images would be arbitrary ties: say so instead of showing them (and compute no map)
        note = html.Div(f"Dead unit: this unit {dead}. Its top images would be arbitrary ties, so none are shown.",
                        id="ul-dead-note", className="lab-message", style={"gridColumn": "1 / -1"})
        return f"{title} · dead", [note], [], figure, None, no_job()
    mean = np.clip(np.round(unitlab.top_mean_image(analysis, layer, epoch, unit, k)), 0, 255).astype(np.uint8)
    mean_image = [html.Img(src=png_uri(mean, 160), id="ul-mean-img", className="mean-thumb",
                           alt=f"mean of the top {k}"), html.Div(f"mean of {k} images", className="tile-caption")]
    return (title, top_k_tiles(ws, analysis, layer, epoch, unit, k, maps), mean_image, figure,
            *maps_status(ws, layer, epoch, unit, k, found, ran))


@callback(Output("ul-layer", "options"), Output("ul-layer", "value"), Output("ul-epoch", "options"),
          Output("ul-epoch", "value"), Input("ul-ws", "value"), prevent_initial_call=True)
def switch_workspace(ws):
    return layer_and_epoch_choices(ws)


@callback(Output("ul-title", "children"), Output("ul-message", "children"), Output("ul-topk", "children"),
          Output("ul-mean", "children"), Output("ul-histogram", "figure"), Output("ul-maps-status", "children"),
          Output("ul-maps-request", "data"), Output("ul-colour-link", "href"), Output("ul-explore-link", "href"),
          Output("ul-layerlab-link", "href"), *VIEW, Input("ul-unit", "value"), Input("ul-k", "value"))
def render_card(ws, layer, epoch, unit, k):
    links = ("/" + view_query(ws, layer, epoch, color="neuron", neuron=unit), "/" + view_query(ws, layer, epoch),
             "/layer-lab" + view_query(ws, layer, epoch))
    def shown() -> tuple:
        title, tiles, mean, figure, status, request = card_view(ws, layer, epoch, unit, k)
        return title, None, tiles, mean, figure, status, request, *links
    return or_message(shown, answer=lambda message: ("", message, [], [], message_figure(message), None,
                                                     no_update, *links))


@callback(Output("ul-title", "children", allow_duplicate=True), Output("ul-topk", "children", allow_duplicate=True),
          Output("ul-maps-status", "children", allow_duplicate=True), Input("ul-maps-request", "data"),
          on_error=said_in_place(lambda text: (no_update, no_update, text)), **background_options("ul-maps"))
def run_maps_job(set_progress, request):
    """Compute a conv unit's activation maps over its top-k images away from the web workers
    (identical requests share one job: its only input is the request), then draw the tiles."""
    if not isinstance(request, dict) or not request:
        raise PreventUpdate
    view = [request.get(name) for name in ("ws", "layer", "epoch", "unit", "k")]

    def finished() -> tuple:
        run_on_workspace(set_progress, view[0], "activation maps",
                         lambda analysis: unitlab.unit_maps(analysis, *view[1:]))
        title, tiles, _, _, status, _ = card_view(*view, ran=True)
        return title, tiles, status
    return or_message(finished, answer=lambda message: (no_update, no_update, message))


def actmax_params(values: list) -> ActMaxParams:
    """The regularizer inputs as ActMaxParams; NNVisError naming an empty or invalid one."""
    fields = {}
    for (_, label, field, _), value in zip(ACTMAX_INPUTS, values):
        if value is None:
            raise NNVisError(f"activation maximization: '{label}' is empty or not a number")
        fields[field] = value
    return unitlab.actmax_params(fields)


def actmax_images(result, restarts: int) -> list:
    """One tile per restart with the activation that its image reaches."""
    return [example_tile(png_uri(image, 128), [f"restart {i} · activation ", html.B(f"{a:.4g}")], f"restart {i}")
            for i, (image, a) in enumerate(zip(result.images[:restarts], result.activations))]


def actmax_view(ws, layer: str, epoch: int, unit, values: list, run: bool) -> tuple:
    """(images, status, job request): the stored result for these settings, else a request
    for the job when `run`, else a hint to press Run."""
    params = actmax_params(values)
    analysis = open_analysis(ws)
    unit, _ = checked_unit(analysis, layer, epoch, unit, 1)
    dead = unitlab.dead_note(analysis, layer, epoch, unit)
    if dead:
        return [], f"Not run: unit {unit} {dead} (a dead unit); activation maximization would only give blank " \
                   "images.", no_update
    stored = unitlab.stored_actmax(analysis, layer, epoch, unit, params)
    if stored is not None:
        objective = what_a_unit_is(recorded_layout(analysis, layer), workspace_tokens(analysis))
        return (actmax_images(stored, params.restarts),
                f"unit {unit}: {params.restarts} restarts, {stored.steps_done} steps; maximized: {objective}",
                no_update)
    if current_settings().read_only:  # it runs no job: say so, never "computing…"
        return [], READ_ONLY_MESSAGE, no_update
    if not run:  # no_update: the job's background callback is not started
        return [], f"Not computed yet for unit {unit} with these settings: press Run.", no_update
    request = {"ws": ws, "layer": layer, "epoch": epoch, "unit": unit, "params": params.as_key()}
    return [], f"Computing unit {unit} in the background…", request


@callback(Output("ul-actmax-images", "children"), Output("ul-actmax-status", "children"),
          Output("ul-actmax-request", "data"), *VIEW, Input("ul-unit", "value"), Input("ul-actmax-run", "n_clicks"),
          *PARAMS)
def show_actmax(ws, layer, epoch, unit, _clicks, *values):
    return or_message(actmax_view, ws, layer, epoch, unit, list(values), ctx.triggered_id == "ul-actmax-run",
                      answer=lambda message: (*actmax_message(message), no_update))


def actmax_message(message: str) -> tuple:
    """No images, and the status line saying what was wrong."""
    return [], html.Span(message, className="lab-message")


@callback(Output("ul-actmax-images", "children", allow_duplicate=True),
          Output("ul-actmax-status", "children", allow_duplicate=True),
          Input("ul-actmax-request", "data"), State("ul-ws", "value"), State("ul-layer", "value"),
          State("ul-epoch", "value"), State("ul-unit", "value"), *[State(p.component_id, "value") for p in PARAMS],
          on_error=said_in_place(actmax_message), **background_options("ul-actmax"))
def run_actmax_job(set_progress, request, ws, layer, epoch, unit, *values):
    """Maximize the unit away from the web workers; show the stored images if still wanted."""
    if not request:
        raise PreventUpdate
    def finished() -> tuple:
        run_request(set_progress, "actmax", request)
        return actmax_view(ws, layer, epoch, unit, list(values), run=False)[:2]
    return or_message(finished, answer=actmax_message)


@callback(Output("ul-actmax-status", "children", allow_duplicate=True), Input("ul-actmax-cancel", "n_clicks"),
          prevent_initial_call=True)
def cancelled_actmax(_clicks):
    return "Cancelled; nothing was stored. Press Run to start again."


def unit_chip(ws, analysis, layer: str, epoch: int, unit: int, alphas: np.ndarray) -> dcc.Link:
    """A small card of a selected unit: its number, its alpha on the set, its top-3
    observations; a link to its unit card."""
    best = unitlab.top_examples(analysis, layer, epoch, unit, 3)["observations"]
    return dcc.Link([html.Div([html.B(f"unit {unit}"), html.Span(f" α {', '.join(f'{a:.2f}' for a in alphas)}",
                                                                  className="muted")]),
                     html.Div([html.Img(src=thumbnail_src(ws, analysis, i), className="chip-thumb",
                                        alt=f"observation {i}") for i in best])],
                    href="/units" + view_query(ws, layer, epoch, unit=unit), className="unit-chip")


def rules_view(ws, layer: str, epoch: int, rule: str, text: str, n) -> list:
    """The units a rule selects, as small unit cards (one row per observation for max)."""
    analysis = open_analysis(ws)
    observations = parse_observations(text)
    units = unit_count(analysis, layer, epoch)
    if not isinstance(n, int) or not 1 <= n <= units:
        raise NNVisError(f"top n {n} is out of range; allowed: 1..{units}")
    picked = unitlab.select(analysis, layer, epoch, rule, observations, n)
    acts = unitlab.activations(analysis, layer, epoch)[observations]
    groups = ([(f"observation {o}: its top {n}", chosen, acts[[i]]) for i, (o, chosen)
               in enumerate(zip(observations, picked))] if rule == "max"
              else [(f"{rule} rule over observations {', '.join(map(str, observations))}, top {n}", picked, acts)])
    rows = []
    for title, chosen, alphas in groups:
        chips = [unit_chip(ws, analysis, layer, epoch, int(u), alphas[:, u]) for u in chosen]
        rows.append(html.Div([html.Div(f"{title}: {len(chosen)} unit{'s' * (len(chosen) != 1)}",
                                       className="rule-title"),
                              html.Div(chips or html.Span("no unit satisfies the rule; try a larger n",
                                                          className="muted"), className="chips")],
                             className="rule-group"))
    return rows


@callback(Output("ul-rules", "children"), *VIEW, Input("ul-rule", "value"), Input("ul-observations", "value"),
          Input("ul-n", "value"))
def render_rules(ws, layer, epoch, rule, text, n):
    return or_message(rules_view, ws, layer, epoch, rule, text, n,
                      answer=lambda message: html.Div(message, className="lab-message"))
