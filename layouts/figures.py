"""Figures as pure functions: arrays in, go.Figure out. No Dash, no I/O."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative

NEURON_SCALE = "Viridis"
CORRECT_COLOURS = {"correct": "#4c78a8", "misclassified": "#e45756"}
FONT = dict(family="Inter, Helvetica, Arial, sans-serif", size=13, color="#1f2933")


def class_colours(n: int) -> list[str]:
    """A categorical palette with one colour per class (Tableau 10, then Alphabet)."""
    palette = qualitative.T10 if n <= 10 else qualitative.Alphabet
    return [palette[i % len(palette)] for i in range(n)]


def marker_size(n_points: int) -> int:
    return 7 if n_points <= 1000 else 5 if n_points <= 5000 else 4 if n_points <= 20000 else 2


def observation_groups(labels: np.ndarray, predictions: np.ndarray, classes: list[str],
                       color_by: str) -> list[tuple[str, np.ndarray, str]]:
    """(legend name, observation indices, colour) per trace: by true class (also for neuron
    colouring), by predicted class, or correct vs misclassified."""
    if color_by == "correct":
        right = labels == predictions
        return [(name, np.flatnonzero(mask), CORRECT_COLOURS[name])
                for name, mask in (("correct", right), ("misclassified", ~right)) if mask.any()]
    key = predictions if color_by == "predicted" else labels
    colours = class_colours(len(classes))
    return [(classes[c], np.flatnonzero(key == c), colours[c]) for c in range(len(classes)) if (key == c).any()]


TOOLBAR_MARGIN = 30  # px above the plot area: Plotly's toolbar (the modebar) sits there


def base_layout(**extra) -> dict:
    """A clean, paper-like layout with no axes (projection coordinates carry no meaning)."""
    axis = dict(visible=False, showgrid=False, zeroline=False)
    # the top margin keeps the plot, and the legend at its top right, below Plotly's toolbar (22 px)
    layout = dict(template="plotly_white", font=FONT, margin=dict(l=10, r=10, t=TOOLBAR_MARGIN, b=10), xaxis=axis,
                  yaxis={**axis, "scaleanchor": "x", "scaleratio": 1}, dragmode="lasso", hovermode="closest",
                  legend=dict(itemsizing="constant", bgcolor="rgba(255,255,255,0.8)", font=dict(size=12)),
                  uirevision="keep")
    layout.update(extra)
    return layout


# customdata goes as plain lists: Dash reads event customdata from the un-decoded trace data,
# so base64-encoded arrays would reach callbacks without it.
def projection_figure(points: np.ndarray, labels: np.ndarray, predictions: np.ndarray, classes: list[str], *,
                      color_by: str = "true", neuron_values: np.ndarray | None = None, neuron_name: str = "",
                      uirevision: str = "keep") -> go.Figure:
    """The observation projection: one WebGL trace per group (customdata = observation index),
    misclassified observations ringed; with `neuron_values`, points coloured by that neuron."""
    size = marker_size(len(points))
    figure = go.Figure()
    for name, index, colour in observation_groups(labels, predictions, classes, color_by):
        marker = dict(size=size, color=colour, line=dict(width=0))
        if neuron_values is not None:
            marker.update(neuron_marker(neuron_values[index], neuron_values, neuron_name, first=not figure.data))
        figure.add_trace(go.Scattergl(x=points[index, 0], y=points[index, 1], mode="markers", name=name,
                                      customdata=index.tolist(), marker=marker, hoverinfo="none"))
    wrong = np.flatnonzero(labels != predictions)
    figure.add_trace(go.Scattergl(x=points[wrong, 0], y=points[wrong, 1], mode="markers", name="misclassified (ring)",
                                  customdata=wrong.tolist(), hoverinfo="none",
                                  marker=dict(size=size + 4, color="rgba(0,0,0,0)",
                                              line=dict(width=1.2, color="#222"))))
    figure.update_layout(**base_layout(uirevision=uirevision, showlegend=neuron_values is None))
    return figure


COLOUR_LEVELS = 255


def colour_levels(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """`values` mapped linearly from [low, high] to the 256 levels 0..255 (uint8): one byte per
    point, a colour step far below what the eye tells apart on a continuous scale."""
    span = high - low if high > low else 1.0
    return np.clip(np.rint((np.asarray(values, np.float64) - low) / span * COLOUR_LEVELS), 0, COLOUR_LEVELS
                   ).astype(np.uint8)


def typed_array(values: np.ndarray) -> dict:
    """A plotly.js typed-array spec ({dtype, bdata}) for a uint8 array: how a Patch sends it compactly."""
    import base64

    return {"dtype": "u1", "bdata": base64.b64encode(np.ascontiguousarray(values, np.uint8).tobytes()).decode()}


def neuron_marker(values: np.ndarray, all_values: np.ndarray, neuron_name: str, first: bool) -> dict:
    """Marker settings colouring points by a neuron's activation on one shared colour scale:
    colours are 0..255 levels of [min, max] (uint8), the colour bar labelled in activation units."""
    low, high = float(np.min(all_values)), float(np.max(all_values))
    ticks = np.linspace(0, COLOUR_LEVELS, 5)
    labels = [f"{low + (high - low) * t / COLOUR_LEVELS:.3g}" for t in ticks]
    return dict(color=colour_levels(values, low, high), colorscale=NEURON_SCALE, cmin=0, cmax=COLOUR_LEVELS,
                showscale=first, colorbar=dict(title=dict(text=neuron_name, side="right"), thickness=12, len=0.8,
                                               tickvals=ticks.tolist(), ticktext=labels))


SCORE_NAMES = {"auc": "AUC", "extratrees": "S(c, j)"}
DEAD_COLOUR = "#9aa5b1"


def neuron_map_figure(positions: np.ndarray, scores: np.ndarray, classes: list[str], *, target_class: int | None = None,
                      highlight: list[int] | None = None, selected: int | None = None, scoring: str = "auc",
                      observations: int | None = None) -> go.Figure:
    """The neuron map: MDS positions coloured by best class with opacity by its score (AUC of
    the neuron alone, class vs rest, or the paper's S(c, j) for `scoring` "extratrees"), or by
    the score of one `target_class`; `highlight` rings neurons, `selected` marks one. Dead
    neurons (NaN positions: never active on the `observations`) are counted in a note and by
    one grey cross beneath the map. A legend gives the class colours and what opacity means."""
    live = ~np.isnan(positions[:, 0])
    units = np.flatnonzero(live)
    positions, scores = positions[live], scores[:, live]
    best = scores.argmax(axis=0)
    best_score = scores.max(axis=0)
    size = 8 if len(positions) <= 600 else 6
    score_name = SCORE_NAMES.get(scoring, "score")
    if target_class is None:
        colours = class_colours(len(classes))
        marker = dict(size=size, color=[rgba(colours[b], a) for b, a in zip(best, score_opacity(best_score, scoring))],
                      line=dict(width=0))
    else:
        title = f"{score_name}({classes[target_class]} vs rest)" if scoring == "auc" else \
            f"S({classes[target_class]}, j)"
        bounds = dict(cmin=0.0, cmax=1.0) if scoring == "auc" else {}  # AUC: one scale for every map
        marker = dict(size=size, color=np.round(scores[target_class], 5), colorscale=NEURON_SCALE, showscale=True,
                      colorbar=dict(title=dict(text=title, side="right"), thickness=12), **bounds)
    text = [f"neuron {u}<br>best class {classes[b]}<br>{score_text(s, classes[b], scoring)}"
            for u, b, s in zip(units, best, best_score)]
    figure = go.Figure(go.Scattergl(x=positions[:, 0], y=positions[:, 1], mode="markers", customdata=units.tolist(),
                                    marker=marker, text=text, hovertemplate="%{text}<extra></extra>", name="neurons",
                                    showlegend=False))
    row_of = {int(u): row for row, u in enumerate(units)}
    chosen = [selected] if selected is not None else None
    for name, ids, style in (("top for selection", highlight, dict(color="#111", width=2)),
                             ("selected", chosen, dict(color="#e45756", width=3))):
        ids = np.array([row_of[int(i)] for i in ids or [] if int(i) in row_of], dtype=int)
        if len(ids):
            figure.add_trace(go.Scattergl(x=positions[ids, 0], y=positions[ids, 1], mode="markers", name=name,
                                          customdata=units[ids].tolist(), hoverinfo="skip", showlegend=False,
                                          marker=dict(size=size + 8, color="rgba(0,0,0,0)", line=style)))
    if target_class is None:
        add_class_legend(figure, classes)
    dead = int((~live).sum())
    on = f"the {observations} observations" if observations else "the subset"
    if dead:
        figure.add_trace(dead_marker(dead, positions, on))
    note = [dict(text=f"{dead} neurons never active on {on} (grey ×): no position, no class", showarrow=False,
                 x=0, y=0, xref="paper", yref="paper", xanchor="left", yanchor="bottom",
                 font=dict(size=11, color="#52606d"))] if dead else []
    layout = base_layout(dragmode="pan", showlegend=target_class is None, annotations=note)  # else: a colour bar
    layout["legend"] = {**layout["legend"], "itemclick": False, "itemdoubleclick": False, "font": dict(size=11),
                        "title": dict(text=legend_title(scoring) if target_class is None else "", side="top")}
    figure.update_layout(**layout)
    return figure


def score_opacity(score: np.ndarray, scoring: str) -> np.ndarray:
    """Marker opacity from a neuron's best-class score: AUC 0.5 (no preference) is faint, AUC 1
    solid; an S(c, j) relative to the largest on the map (its values have no absolute scale)."""
    score = np.asarray(score, np.float64)
    if scoring == "auc":
        strength = np.clip((score - 0.5) / 0.5, 0, 1)
    else:
        strength = score / max(float(score.max()), 1e-12) if len(score) else score
    return 0.12 + 0.88 * strength


def score_text(score: float, class_name: str, scoring: str) -> str:
    if scoring == "auc":
        return f"AUC {score:.3f} ({class_name} vs rest)"
    return f"S({class_name}, j) {score:.4f}"


def dead_marker(dead: int, positions: np.ndarray, on: str) -> go.Scatter:
    """One grey cross beneath the map's left edge standing for its `dead` neurons (their
    activation never varies, so they have no position of their own)."""
    left = float(positions[:, 0].min()) if len(positions) else 0.0
    bottom = float(positions[:, 1].min()) if len(positions) else 0.0
    span = float(np.ptp(positions[:, 1])) if len(positions) > 1 else 1.0
    return go.Scatter(x=[left], y=[bottom - 0.12 * (span or 1.0)], mode="markers", name=f"dead: {dead}",
                      hovertext=[f"{dead} dead neurons: never active on {on}"], hoverinfo="text",
                      marker=dict(size=11, symbol="x", color=DEAD_COLOUR, line=dict(width=0)))


def legend_title(scoring: str) -> str:
    opacity = "AUC vs rest:<br>faint 0.5 to solid 1" if scoring == "auc" else "S(c, j) relative<br>to the largest"
    return f"colour: best class<br>opacity: {opacity}"


def add_class_legend(figure: go.Figure, classes: list[str]) -> None:
    """Legend entries (no data) for the class colours."""
    for name, colour in zip(classes, class_colours(len(classes))):
        figure.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=name, hoverinfo="skip",
                                    marker=dict(size=9, color=colour)))


def rgba(hex_colour: str, alpha: float) -> str:
    """'#rrggbb' and an opacity to an 'rgba(...)' string."""
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha:.3f})"


def inset_images(points: np.ndarray, indices: np.ndarray, urls: list[str], size: float = 0.14) -> list[dict]:
    """Layout images placing thumbnails `urls` at the points of `indices` (the paper's insets)."""
    return [dict(source=url, xref="x", yref="y", x=float(points[i, 0]), y=float(points[i, 1]), sizex=size,
                 sizey=size, xanchor="center", yanchor="middle", layer="above", sizing="contain", opacity=0.95)
            for i, url in zip(indices, urls)]


MESSAGE_CHARACTERS = 64
"""Characters per line of a message drawn in a figure. Plotly does not wrap annotation text: a
longer line is cut at both edges. The pages' 15 px Inter averages 6.7 px a character, so 64 of
them (about 430 px) fit the narrowest graph that shows messages at a 1280 px wide window (the
side panels, 471 px)."""


def wrapped(text: str, width: int = MESSAGE_CHARACTERS) -> str:
    """`text` over lines of at most `width` characters, broken at spaces (a word longer than a
    line is split), joined with <br> for a Plotly annotation; its own line breaks are kept."""
    import textwrap

    lines = [line for paragraph in str(text).splitlines()
             for line in textwrap.wrap(paragraph, width, break_on_hyphens=False) or [""]]
    return "<br>".join(lines)


def message_figure(text: str, width: int = MESSAGE_CHARACTERS) -> go.Figure:
    """An empty figure that says what is happening (loading, computing, nothing to show), over
    lines of at most `width` characters."""
    figure = go.Figure()
    note = dict(text=wrapped(text, width), showarrow=False, font=dict(size=15, color="#52606d"), x=0.5, y=0.5,
                xref="paper", yref="paper")
    figure.update_layout(**base_layout(annotations=[note]))
    return figure


def density_figure(image, legend: list[tuple[str, str]], *, colourbar: dict | None = None, note: str = "",
                   uirevision: str = "keep") -> go.Figure:
    """A server-rendered density image (an `nnvis.projection.density.DensityImage`) as an image trace whose
    hover events carry data coordinates; `legend` (name, colour) entries, or a `colourbar`
    (marker settings of a colour scale) for neuron colouring."""
    import base64

    source = "data:image/png;base64," + base64.b64encode(image.png).decode()
    figure = go.Figure(go.Image(source=source, x0=image.x0, y0=image.y0, dx=image.dx, dy=image.dy,
                                hoverinfo="none", name="density"))
    for name, colour in legend:
        figure.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=name, hoverinfo="skip",
                                    marker=dict(size=9, color=colour)))
    if colourbar:
        figure.add_trace(go.Scatter(x=[None], y=[None], mode="markers", showlegend=False, hoverinfo="skip",
                                    marker={**colourbar, "color": [colourbar["cmin"]]}))
    annotations = [dict(text=note, showarrow=False, x=0, y=0, xref="paper", yref="paper", xanchor="left",
                        yanchor="bottom", font=dict(size=11, color="#52606d"))] if note else []
    layout = base_layout(uirevision=uirevision, showlegend=bool(legend), dragmode="zoom", annotations=annotations)
    layout["yaxis"] = {**layout["yaxis"], "autorange": True}  # an image trace would reverse it
    layout["legend"] = {**layout["legend"], "itemclick": False, "itemdoubleclick": False}
    figure.update_layout(**layout)
    return figure


def faithfulness_text(found: dict | None, subset: int) -> str:
    """The header's trustworthiness and continuity (k = 7, then k = 15) of a projection, saying
    when they were measured on a sample; what to do when they were not measured yet."""
    if found is None:
        return "trustworthiness and continuity not measured yet (`nnvis summary` measures them)"
    k, trust, cont, used = found["k"], found["trustworthiness"], found["continuity"], int(found["observations"])
    sample = f", on a sample of {used:,}" if used < subset else ""
    return (f"trustworthiness {trust[0]:.3f} · continuity {cont[0]:.3f} "
            f"(k = {k[0]}; k = {k[1]}: {trust[1]:.3f} / {cont[1]:.3f}{sample})")
