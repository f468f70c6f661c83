"""Callbacks of the concept atlas page, and the work behind them as plain functions: the view
reads stored atlases only (a web request computes nothing); a missing one is a background job
(web.jobs.run_on_workspace) computing the layer's atlas at every epoch and the matchings
between consecutive epochs, with progress, stored in the workspace and reused."""

from __future__ import annotations

import base64

import numpy as np
from dash import ALL, Input, Output, State, ctx, no_update
from dash.exceptions import PreventUpdate

from layouts.concept_figures import DEFAULT_K, concept_card, importance_figure, projection_figure
from layouts.figures import message_figure
from nnvis.concepts import atlas as concepts
from nnvis.concepts.factor import MAX_K
from nnvis.concepts.heat import exemplar_heat
from nnvis.data.images import to_png
from nnvis.errors import NNVisError, NotInStore
from nnvis.models.feature_maps import overlay
from nnvis.workspace import keys
from web.components import epoch_options
from web.context import current_settings, open_analysis
from web.errors import or_message, said_in_place
from web.jobs import READ_ONLY_MESSAGE, background_options, run_on_workspace
from web.registry import callback

SEED, IMAGES, CROPS = 0, concepts.DEFAULT_IMAGES, 4
HEAT_SIZE = 160  # the heat-map over the whole image shown on hovering a crop
OUTPUTS = 6  # grid, projection, importance, selected caption, ranking, status (then the job request)


def check_k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, float)) or not float(k).is_integer() or not 1 <= k <= MAX_K:
        raise NNVisError(f"K {k} is out of range; allowed: a whole number 1..{MAX_K} (at most the layer's channels)")
    return int(k)


def stored(analysis, key):
    try:
        return analysis.store.get(key)
    except NotInStore:
        return None


def atlas_at(analysis, layer: str, epoch: int, k: int):
    return stored(analysis, keys.concept_atlas(analysis, layer, epoch, k, SEED, IMAGES))


def follow(analysis, layer: str, k: int, start: dict | None, epoch: int) -> tuple[int | None, str]:
    """The concept at `epoch` matched (epoch by epoch) to the concept selected at another epoch,
    and a line saying how it was followed; (None, "") when nothing is selected or not matched."""
    if not isinstance(start, dict) or start.get("layer") != layer or start.get("k") != k:
        return None, ""
    concept, at = int(start["concept"]), int(start["epoch"])
    if at == epoch:
        return concept, f"concept {concept} at epoch {epoch}"
    epochs = analysis.epochs
    if at not in epochs or epoch not in epochs:
        return None, ""
    low, high = sorted((epochs.index(at), epochs.index(epoch)))
    steps, scores = epochs[low:high + 1], []
    pairs = list(zip(steps, steps[1:])) if at < epoch else [(b, a) for a, b in zip(steps, steps[1:])][::-1]
    for before, after in pairs:
        forward = before < after
        found = stored(analysis, keys.concept_match(analysis, layer, min(before, after), max(before, after), k, SEED,
                                                    IMAGES))
        if found is None:
            return None, ""
        partner = found["partner"]
        index = int(partner[concept]) if forward else int(np.flatnonzero(partner == concept)[0])
        scores.append(float(found["score"][concept if forward else index]))
        concept = index
    return concept, (f"concept {concept} at epoch {epoch}, matched to concept {start['concept']} of epoch {at} "
                     f"(matching scores {', '.join(f'{s:.2f}' for s in scores)})")


def png_url(image: np.ndarray, size: int) -> str:
    return "data:image/png;base64," + base64.b64encode(to_png(image, size)).decode()


def crops(images: np.ndarray, found, j: int, heat=None) -> list[tuple[str, str | None]]:
    """(PNG data URL of the receptive-field crop, of the concept's heat-map over the whole image
    or None when not stored) for each of concept j's first exemplars."""
    urls = []
    for i, (obs, box) in enumerate(zip(found["exemplar_observation"][j][:CROPS], found["exemplar_box"][j][:CROPS])):
        top, left, bottom, right = (int(v) for v in box)
        whole = None
        if heat is not None and i < heat["heat"].shape[1] and int(heat["observation"][j, i]) == int(obs):
            whole = png_url(overlay(images[obs], heat["heat"][j, i]), HEAT_SIZE)
        urls.append((png_url(images[obs][top:bottom, left:right], 40), whole))
    return urls


def concepts_view(ws, layer, epoch, k, selected, class_index, done) -> tuple:
    """(grid, projection, importance, caption, ranking, status, job request) of the view."""
    k = check_k(k)
    analysis = open_analysis(ws)
    analysis.check_layer(layer)
    epoch = concepts.resolve_epoch(analysis, epoch)
    found = atlas_at(analysis, layer, epoch, k)
    if found is None:
        wait = message_figure("The concept atlas is not computed yet.")
        if current_settings().read_only:
            return [], wait, wait, "", "", READ_ONLY_MESSAGE, no_update
        if done == {"ws": ws, "layer": layer, "k": k}:
            return [], wait, wait, "", "", "The atlas is not in the store; change the view and come back.", no_update
        return ([], wait, wait, "", "", f"Computing the concept atlas of {layer} (K = {k}) at every epoch in the "
                f"background…", {"ws": ws, "layer": layer, "k": k})
    concept, line = follow(analysis, layer, k, selected, epoch)
    images = analysis.subset()["images"]
    heat = stored(analysis, keys.concept_exemplar_heat(analysis, layer, epoch, k, SEED, IMAGES, CROPS))
    request = no_update  # an atlas stored before the heat-maps were: the job adds them
    if heat is None and not current_settings().read_only and done != {"ws": ws, "layer": layer, "k": k}:
        request = {"ws": ws, "layer": layer, "k": k}
    grid = [concept_card(j, float(found["share"][j]), crops(images, found, j, heat), j == concept)
            for j in range(len(found["components"]))]
    status = (f"{layer} at epoch {epoch}: {k} concepts, r2 {float(found['r2']):.3f}, accuracy "
              f"{float(found['accuracy']):.3f} (with the layer replaced by its concepts "
              f"{float(found['accuracy_reconstructed']):.3f}), on {len(found['observations'])} images")
    ranking = ""
    if isinstance(class_index, int) and 0 <= class_index < len(analysis.classes):
        order = np.argsort(-found["importance"][:, class_index], kind="stable")
        ranking = (f"concepts of {analysis.classes[class_index]}, most important first: "
                   + ", ".join(f"{j} ({found['importance'][j, class_index]:+.2f})" for j in order))
    if concept is None:
        hint = message_figure("Click a concept.")
        return grid, hint, hint, "", ranking, status, request
    colour = np.full(analysis.config.subset, np.nan)
    colour[found["observations"]] = found["strength"][:, concept]
    points = stored(analysis, keys.projection(analysis, layer, epoch))
    projection = message_figure(f"The projection of {layer} at epoch {epoch} is not computed; open it on the "
                                "explore page.") if points is None else \
        projection_figure(points["points"], colour, f"strength of concept {concept}")
    importance = importance_figure(found["importance"][concept], analysis.classes,
                                   f"concept {concept}: logit drop when removed")
    return grid, projection, importance, line, ranking, status, request


@callback(Output("cc-layer", "options"), Output("cc-layer", "value"), Output("cc-epoch", "options"),
          Output("cc-epoch", "value"), Input("cc-ws", "value"), prevent_initial_call=True)
def switch_workspace(ws):
    analysis = open_analysis(ws)
    return analysis.layers, analysis.layers[0], epoch_options(analysis.epochs), analysis.epochs[-1]


@callback(Output("cc-grid", "children"), Output("cc-projection", "figure"), Output("cc-importance", "figure"),
          Output("cc-selected-caption", "children"), Output("cc-ranking", "children"), Output("cc-status", "children"),
          Output("cc-request", "data"), Input("cc-ws", "value"), Input("cc-layer", "value"),
          Input("cc-epoch", "value"), Input("cc-k", "value"), Input("cc-selected", "data"),
          Input("cc-class", "value"), Input("cc-done", "data"))
def show(ws, layer, epoch, k, selected, class_index, done):
    return or_message(concepts_view, ws, layer, epoch, k if k is not None else DEFAULT_K, selected, class_index, done,
                      answer=lambda text: ([], message_figure(text), message_figure(text), "", "", text, no_update))


@callback(Output("cc-selected", "data"), Input({"type": "cc-concept", "index": ALL}, "n_clicks"),
          State("cc-epoch", "value"), State("cc-layer", "value"), State("cc-k", "value"), prevent_initial_call=True)
def select(clicks, epoch, layer, k):
    if not isinstance(ctx.triggered_id, dict) or not any(clicks or []):
        raise PreventUpdate
    return {"epoch": epoch, "layer": layer, "k": k if k is not None else DEFAULT_K,
            "concept": int(ctx.triggered_id["index"])}


def compute_atlases(analysis, layer: str, k: int) -> None:
    """Every epoch's atlas of the layer and its exemplars' heat-maps, then the matchings between
    consecutive epochs (stored)."""
    request = concepts.Request(analysis, layer, None, k, SEED, IMAGES)
    for epoch in analysis.epochs:
        concepts.atlas(request.at(epoch))
        exemplar_heat(request.at(epoch), CROPS)
    concepts.across_epochs(request)


def check_request(request) -> dict:
    if not isinstance(request, dict) or set(request) != {"ws", "layer", "k"} or not isinstance(request["layer"], str):
        raise NNVisError("a concept job request is {ws, layer, k}")
    check_k(request["k"])
    return request


VIEW_OUTPUTS = [("cc-grid", "children"), ("cc-projection", "figure"), ("cc-importance", "figure"),
                ("cc-selected-caption", "children"), ("cc-ranking", "children"), ("cc-status", "children")]


@callback(Output("cc-done", "data"), *[Output(*part, allow_duplicate=True) for part in VIEW_OUTPUTS],
          Input("cc-request", "data"), State("cc-epoch", "value"), State("cc-selected", "data"),
          State("cc-class", "value"),
          on_error=said_in_place(lambda text: (no_update,) * OUTPUTS + (text,)), **background_options("cc"))
def run_atlas_job(set_progress, request, epoch, selected, class_index):
    """Compute the atlases away from the web workers, then draw the view from the store."""
    if not request:
        raise PreventUpdate
    request = check_request(request)
    run_on_workspace(set_progress, request["ws"], f"concept atlas of {request['layer']}",
                     lambda analysis: compute_atlases(analysis, request["layer"], int(request["k"])))
    view = or_message(concepts_view, request["ws"], request["layer"], epoch, request["k"], selected, class_index,
                      request, answer=lambda text: ([], no_update, no_update, "", "", text, no_update))
    return (request, *view[:OUTPUTS])
