"""Callbacks of the layer lab's views (class cosine, sparsity, perturbation, ablation sweep), and
the work behind them as plain functions (tested without a browser): read the controls, call
nnvis.unitlab.lab, build figures. The structure strip's are in callbacks.layerlab_strip."""

from __future__ import annotations

import math

from dash import Input, Output, State, ctx, html, no_update
from dash.exceptions import PreventUpdate

from layouts.figures import message_figure
from layouts.page_parts import LAYER_LAB_VIEW
from layouts.unit_figures import (
    LAYER_JOBS,
    ablation_figure,
    cosine_figure,
    perturbation_figure,
    sparsity_figure,
)
from nnvis.errors import NNVisError, NotInStore
from nnvis.unitlab import lab as unitlab
from nnvis.unitlab.perturbation import check_variance
from nnvis.workspace.analysis import Analysis
from nnvis.workspace.workspace import Workspace
from web.context import current_settings, layer_and_epoch_choices, open_analysis
from web.errors import or_message, said_in_place
from web.jobs import READ_ONLY_MESSAGE, background_options, run_request
from web.registry import callback, clientside_callback
from web.view_state import view_query

VIEW = [Input("ll-ws", "value"), Input("ll-layer", "value"), Input("ll-epoch", "value")]
VIEW_CONTROLS = [("ll-ws", "value"), ("ll-layer", "value"), ("ll-epoch", "value"), ("ll-cluster", "value"),
                 ("ll-sparsity-by", "value"), ("ll-threshold", "value"), ("ll-variance", "value")]
LAYER_LAB_VIEW.follow()  # the address holds the view: a link reopens it


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
            run_request(set_progress, kind, requests[kind])
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
        run_request(set_progress, "ablation", request)
        return ablation_view(ws, layer, epoch, mode, on, run=False)[:2]
    return or_message(finished, answer=ablation_message)


@callback(Output("ll-ablation-status", "children", allow_duplicate=True), Input("ll-ablation-cancel", "n_clicks"),
          prevent_initial_call=True)
def cancelled_ablation(_clicks):
    return "Cancelled; the points computed so far are stored. Press Run sweep to go on."
