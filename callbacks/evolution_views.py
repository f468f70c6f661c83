"""The work behind the evolution page's callbacks, as plain functions."""

from __future__ import annotations

import numpy as np
from dash import no_update

from callbacks.density_views import is_webgl
from callbacks.views import METHOD_NAMES, observation_details
from layouts.figures import class_colours, message_figure
from layouts.page_parts import coherence_for, coherence_label, coherence_options
from layouts.trail_figures import frame_figure, nh_curves_figure, stability_figure, tradeoff_figure, trails_figure
from nnvis.compare.evolution import bundled_trails, frame_names, has_sequence, sequence
from nnvis_components import encode_lines, encode_points, encode_values
from web.context import current_settings, open_analysis
from web.jobs import READ_ONLY_MESSAGE


def shown_observations(labels: np.ndarray, classes: list[int] | None, selected: list[int] | None = None) -> np.ndarray:
    """Indices of the observations whose class is ticked in the class filter and, when some
    observations are lasso-selected in the player, among them."""
    shown = np.isin(labels, classes or [])
    if selected:
        shown &= np.isin(np.arange(len(labels)), selected)
    return np.flatnonzero(shown)


def anchor_fits(ws, kind: str, anchor) -> bool:
    """Whether `anchor` is one of the `kind` sequence's anchors: an epoch for a sequence across
    layers, a layer for one across epochs."""
    analysis = open_analysis(ws)
    return anchor in (analysis.epochs if kind == "layers" else analysis.layers)


def describe(kind: str, anchor) -> str:
    return f"hidden layers at epoch {anchor}" if kind == "layers" else f"{anchor} across epochs"


def as_points(ws) -> bool:
    """Whether the workspace's trails are drawn by the WebGL point view (more observations than
    `Settings.points_above`): one curve an observation through its frames, not Plotly lines."""
    return is_webgl(len(open_analysis(ws).labels))


def trails_view(ws, kind: str, anchor, method: str, classes: list[int], selected: list[int] | None = None,
                coherence: str | None = None):
    """(trails figure, status, slider max, slider marks, job request): a job request and a
    'computing' message when the sequence or its bundling is not in the store yet."""
    analysis = open_analysis(ws)
    coherence = coherence_for(method, coherence)
    names = frame_names(analysis, kind)
    marks = {i: name for i, name in enumerate(names)}
    if not has_sequence(analysis, kind, anchor, method, bundled=True, coherence=coherence):
        if current_settings().read_only:
            return message_figure(READ_ONLY_MESSAGE), READ_ONLY_MESSAGE, len(names) - 1, marks, no_update
        text = (f"Aligning {METHOD_NAMES[method]} frames ({coherence_label(coherence)}) of the "
                f"{describe(kind, anchor)} and bundling trails…")
        return message_figure(text), text, len(names) - 1, marks, {"ws": ws, "kind": kind, "anchor": anchor,
                                                                   "method": method, "coherence": coherence}
    paths = bundled_trails(analysis, kind, anchor, method, coherence)["paths"]
    shown = shown_observations(analysis.labels, classes, selected)
    nh = sequence(analysis, kind, anchor, method, coherence)["nh"]
    status = f"{len(shown):,} trails · {describe(kind, anchor)} · NH along the trail: " + \
             " → ".join(f"{v:.3f}" for v in nh)
    if not len(shown):
        figure = message_figure("No observation passes the class and selection filters.")
    elif as_points(ws):
        figure = message_figure("")  # hidden: the point view draws the trails (callbacks.evolution.draw_trail_points)
    else:
        figure = trails_figure(paths, analysis.labels, analysis.classes, shown)
    return figure, status, len(names) - 1, marks, no_update  # no job to start


def trail_points(ws, kind: str, anchor, method: str, classes: list[int], selected: list[int] | None = None,
                 coherence: str | None = None) -> dict | None:
    """The point view's props for the trails of the shown observations (None: not drawn as
    points, or nothing to draw yet): each shown observation's positions in the aligned frames,
    in order, observation by observation, as one line (its id the observation's index, its
    order the frame's), coloured by class."""
    analysis = open_analysis(ws)
    coherence = coherence_for(method, coherence)
    if not as_points(ws) or not has_sequence(analysis, kind, anchor, method, bundled=True, coherence=coherence):
        return None
    shown = shown_observations(analysis.labels, classes, selected)
    if not len(shown):
        return None
    frames = np.asarray(sequence(analysis, kind, anchor, method, coherence)["frames"])  # (F, N, 2)
    n_frames = frames.shape[0]
    points = frames[:, shown].transpose(1, 0, 2).reshape(-1, 2)  # observation-major: a line's points in order
    colours = class_colours(len(analysis.classes))
    palette = list(dict.fromkeys(colours))  # classes past the palette share colours
    code_of = np.array([palette.index(c) for c in colours], np.uint8)
    line_ids, line_orders = encode_lines(np.repeat(shown, n_frames), np.tile(np.arange(n_frames), len(shown)))
    return {"coordinates": encode_points(points), "values": encode_values(np.repeat(code_of[analysis.labels[shown]],
                                                                                     n_frames)),
            "palette": palette, "lineIds": line_ids, "lineOrders": line_orders}


def waiting_message() -> str:
    """What a view of a sequence not in the store says: its job is coming, or (read-only) it is not."""
    return READ_ONLY_MESSAGE if current_settings().read_only else "Waiting for the aligned frames…"


def frame_view(ws, kind: str, anchor, method: str, classes: list[int], frame: int, coherence: str | None = None):
    """The aligned projection of frame `frame` of the sequence, or a message while it is computed."""
    analysis = open_analysis(ws)
    coherence = coherence_for(method, coherence)
    if not has_sequence(analysis, kind, anchor, method, coherence=coherence):
        return message_figure(waiting_message())
    data = sequence(analysis, kind, anchor, method, coherence)
    frame = int(min(max(frame or 0, 0), len(data["frames"]) - 1))
    name = frame_names(analysis, kind)[frame]
    title = f"{name} · NH {data['nh'][frame]:.3f}"
    return frame_figure(data["frames"][frame], analysis.labels, analysis.classes,
                        shown_observations(analysis.labels, classes), title)


def hovered_observation(ws, kind: str, anchor, index: int) -> list:
    """The card of a hovered trail's observation, with its prediction at the sequence's epoch."""
    analysis = open_analysis(ws)
    epoch = int(anchor) if kind == "layers" else analysis.epochs[-1]
    return observation_details(ws, epoch, index)


def curves_view(ws, kind: str, anchor, method: str):
    """NH per layer and per epoch from the stored projections (None where not computed) and
    test accuracy per epoch."""
    analysis = open_analysis(ws)
    epoch = int(anchor) if kind == "layers" else analysis.epochs[-1]
    layer = str(anchor) if kind == "epochs" else analysis.layers[-1]

    def nh(layer_name: str, e: int) -> float | None:
        return analysis.neighborhood_hit(layer_name, e, method) if analysis.has_projection(layer_name, e, method) \
            else None
    accuracy = [analysis.stored_accuracy(e) for e in analysis.epochs]  # a gap where not computed yet
    return nh_curves_figure(analysis.layers, [nh(name, epoch) for name in analysis.layers], epoch, analysis.epochs,
                            [nh(layer, e) for e in analysis.epochs], accuracy, layer)


def stability_view(ws, kind: str, anchor, method: str, coherence: str | None = None):
    """(stability figure, trade-off figure) of the sequence: the chosen setting's per-frame NH
    (aligned and independent) and trustworthiness and per-step temporal preservation, and the
    trade-off over every coherence setting measured so far (each one's sequence is cached)."""
    analysis = open_analysis(ws)
    coherence = coherence_for(method, coherence)
    if not has_sequence(analysis, kind, anchor, method, coherence=coherence):
        waiting = message_figure(waiting_message())
        return waiting, waiting
    data = sequence(analysis, kind, anchor, method, coherence)
    names = frame_names(analysis, kind)
    stability = stability_figure(names, data["nh"], data["nh_independent"], data["trustworthiness"],
                                 data["temporal"], coherence_label(coherence))
    measured = [o["value"] for o in coherence_options(method) if not o.get("disabled")
                and has_sequence(analysis, kind, anchor, method, coherence=o["value"])]
    sequences = [sequence(analysis, kind, anchor, method, setting) for setting in measured]
    tradeoff = tradeoff_figure(measured, [float(np.nanmean(s["temporal"])) for s in sequences],
                               [float(s["nh"].mean()) for s in sequences],
                               [float(s["trustworthiness"].mean()) for s in sequences], coherence,
                               [coherence_label(setting) for setting in measured])
    return stability, tradeoff
