"""The work behind the explore page's callbacks, as plain functions (tested without a browser):
inputs are control values, outputs are figures, Patches and components."""

from __future__ import annotations

import numpy as np
from dash import Patch, html, no_update

from callbacks.density_views import density_projection_figure, is_dense, nearest_in_view, shown_method
from layouts.figures import (
    faithfulness_text,
    inset_images,
    marker_size,
    message_figure,
    neuron_map_figure,
    neuron_marker,
    observation_groups,
    projection_figure,
    typed_array,
)
from nnvis.errors import NNVisError
from nnvis.models.layers import INPUT_LAYER
from nnvis.projection.linking import representatives, top_units
from nnvis.workspace.analysis import Analysis
from nnvis.workspace.export import projection_csv
from web.components import observation_card
from web.context import current_settings, open_analysis, workspace_identity
from web.jobs import READ_ONLY_MESSAGE
from web.memo import remembered_view
from web.routes import thumbnail_url

METHOD_NAMES = {"tsne": "t-SNE", "umap": "UMAP", "pca": "PCA"}


def version_of(analysis: Analysis) -> str:
    return analysis.key("subset").digest()[:12]


def neuron_values(analysis: Analysis, layer: str, epoch: int, neuron: int | None) -> np.ndarray | None:
    """The activations of `neuron` at `layer`/`epoch` over the subset, or None when it does not exist there."""
    if neuron is None:
        return None
    by_unit = analysis.activations_by_unit(layer, epoch)
    return np.asarray(by_unit[int(neuron)], np.float32) if 0 <= int(neuron) < len(by_unit) else None


NEUTRAL_COLOUR = "#9aa5b1"
NEURON_HINT = "Colour by neuron activation: click a neuron on the neuron map."


def projection_view(ws, layer: str, epoch: int, method: str, color_by: str, insets: list, neuron: int | None,
                    highlighted: list[int] | None = None):
    """(figure, NH text, job request, drawn grouping) for the observation projection, with the
    observations `highlighted` (a shared link's lasso) selected. When the projection is not in
    the store yet: PCA at once (progressive display), with the job that computes the asked one;
    the job's callback swaps it in when done."""
    analysis = open_analysis(ws)
    if analysis.has_projection(layer, epoch, method):
        figure, text = drawn_projection(analysis, ws, layer, epoch, method, color_by, insets, neuron,
                                        private=bool(highlighted))
        select_points(figure, highlighted)
        return figure, text, no_update, color_by  # no job: the background callback is not started
    if current_settings().read_only:
        return message_figure(READ_ONLY_MESSAGE), READ_ONLY_MESSAGE, no_update, color_by
    job = {"ws": ws, "layer": layer, "epoch": epoch, "method": method}
    text = f"Computing {METHOD_NAMES[method]} of {layer} at epoch {epoch}…"
    if method == "pca" or not (analysis.has_projection(layer, epoch, "pca") or analysis.captured(epoch)):
        return message_figure(text), text, job, color_by  # no stand-in without activations: the job captures them
    figure, shown = drawn_projection(analysis, ws, layer, epoch, "pca", color_by, insets, neuron, private=False)
    return figure, f"{text} Showing PCA meanwhile: {shown}", job, color_by


def drawn_projection(analysis: Analysis, ws, layer: str, epoch: int, method: str, color_by: str, insets: list,
                     neuron: int | None, private: bool = True) -> tuple:
    """(figure, NH text) of one projection, computed here if missing (only PCA is quick enough);
    drawn once per process for each view (`web.memo`; not `private`: the kept figure, to read only)."""
    key = ("projection", workspace_identity(analysis), ws, layer, epoch, method, color_by, bool(insets),
           neuron if color_by == "neuron" else None, current_settings().points_above, current_settings().density_above)
    return remembered_view(key, lambda: draw_projection(analysis, ws, layer, epoch, method, color_by, insets, neuron),
                           private)


def draw_projection(analysis: Analysis, ws, layer: str, epoch: int, method: str, color_by: str, insets: list,
                    neuron: int | None) -> tuple:
    """(figure, NH text) of one projection, drawn."""
    projection = analysis.projection(layer, epoch, method)
    points, nh = projection["points"], projection["nh"]
    predictions, _ = analysis.predictions(epoch)
    values = neuron_values(analysis, layer, epoch, neuron) if color_by == "neuron" else None
    draw = density_projection_figure if is_dense(len(points)) else projection_figure
    figure = draw(points, analysis.labels, predictions, analysis.classes, color_by=color_by, neuron_values=values,
                  neuron_name=f"neuron {neuron}", uirevision=f"{ws}-{layer}-{epoch}-{method}")
    if color_by == "neuron" and values is None and draw is projection_figure:
        # no neuron chosen yet: one neutral colour (not the class colours the dropdown no longer names)
        figure.update_traces(marker_color=NEUTRAL_COLOUR, selector=lambda t: not t.name.startswith("misclassified"))
        figure.update_layout(showlegend=False)
    if values is not None:
        figure.update_layout(datarevision=f"neuron-{neuron}-full")  # the browser redraws every trace's colours
    if insets:
        chosen = representatives(points, len(analysis.classes))
        figure.update_layout(images=inset_images(points, chosen, [thumbnail_url(ws, i, version_of(analysis))
                                                                  for i in chosen]))
    text = (f"NH {nh.mean():.4f} · {faithfulness_text(shown_faithfulness(analysis, layer, epoch, method), len(points))}"
            f" · accuracy {analysis.test_accuracy(epoch):.4f} · {len(points):,} observations · "
            f"{METHOD_NAMES[method]} of {layer}, epoch {epoch}")
    return figure, text


QUICK_FAITHFULNESS = 5_000  # projections stored before trustworthiness existed: measured here up to this size


def shown_faithfulness(analysis: Analysis, layer: str, epoch: int, method: str) -> dict | None:
    """The projection's trustworthiness and continuity: stored, or measured now when quick (never
    on a read-only server: None, the view says they are not measured)."""
    quick = analysis.config.subset <= QUICK_FAITHFULNESS and not current_settings().read_only
    if analysis.has_faithfulness(layer, epoch, method) or quick:
        return analysis.faithfulness(layer, epoch, method)
    return None


def select_points(figure, highlighted: list[int] | None) -> None:
    """Mark the observations `highlighted` as selected in every trace of a points figure (a
    density image has no points to select)."""
    if not highlighted:
        return
    chosen = set(int(i) for i in highlighted)
    for trace in figure.data:
        if trace.customdata is not None:
            trace.selectedpoints = [k for k, index in enumerate(trace.customdata) if int(index) in chosen]


def neuron_colour_patch(ws, layer: str, epoch: int, neuron: int, drawn_grouping: str, method: str = "pca",
                        relayout: dict | None = None) -> Patch:
    """A Patch recolouring every trace of the drawn projection by `neuron`'s activation (a density
    image is drawn again, over the range of the last zoom `relayout`)."""
    analysis = open_analysis(ws)
    values = neuron_values(analysis, layer, epoch, neuron)
    if values is None:
        units = len(analysis.activations_by_unit(layer, epoch))
        raise NNVisError(f"neuron {neuron} does not exist at layer {layer}; allowed: 0..{units - 1}")
    if is_dense(len(values)):
        return density_patch(analysis, layer, epoch, method, "neuron", neuron, relayout)
    predictions, _ = analysis.predictions(epoch)
    patch = Patch()
    groups = observation_groups(analysis.labels, predictions, analysis.classes, drawn_grouping)
    size = marker_size(len(values))
    for trace, (_, index, _) in enumerate(groups):
        marker = neuron_marker(values[index], values, f"neuron {neuron}", first=trace == 0)
        marker["color"] = typed_array(marker["color"])  # 1 byte per point, base64
        patch["data"][trace]["marker"] = {**marker, "size": size, "line": {"width": 0}}  # whole marker: scattergl
    patch["layout"]["showlegend"] = False  # the colour bar takes the legend's place
    patch["layout"]["datarevision"] = f"neuron-{neuron}"  # makes scattergl recompute every trace's colours
    return patch


def density_patch(analysis: Analysis, layer: str, epoch: int, method: str, color_by: str, neuron: int | None,
                  relayout: dict | None) -> Patch:
    """A Patch replacing the density image (and its legend or colour bar) with one drawn over the
    range of `relayout`, coloured by `color_by` (or by `neuron` when that is "neuron")."""
    points = analysis.projection(layer, epoch, shown_method(analysis, layer, epoch, method))["points"]
    predictions, _ = analysis.predictions(epoch)
    values = neuron_values(analysis, layer, epoch, neuron) if color_by == "neuron" else None
    grouping = "true" if color_by == "neuron" else color_by
    figure = density_projection_figure(points, analysis.labels, predictions, analysis.classes, color_by=grouping,
                                       neuron_values=values, neuron_name=f"neuron {neuron}", relayout=relayout)
    patch = Patch()
    patch["data"] = [trace.to_plotly_json() for trace in figure.data]
    patch["layout"]["showlegend"] = values is None
    return patch


def zoomed_density(ws, layer: str, epoch: int, method: str, color_by: str, neuron: int | None,
                   relayout: dict | None) -> Patch | None:
    """The density image redrawn for a zoom, pan or reset; None when the view is drawn as points
    or the layout change was not one of those."""
    if not relayout or not any(key.startswith(("xaxis.range", "xaxis.autorange")) for key in relayout):
        return None
    analysis = open_analysis(ws)
    if not is_dense(len(analysis.labels)):
        return None
    return density_patch(analysis, layer, epoch, method, color_by, neuron, relayout)


def event_observation(event: dict | None, ws, layer: str, epoch: int, method: str) -> int | None:
    """The observation a hover or click event points at: a point's customdata, or on a density
    image the observation nearest the pixel (None over an empty pixel or without an event)."""
    point = ((event or {}).get("points") or [None])[0]
    if not point:
        return None
    if "customdata" in point:
        return int(point["customdata"])
    if "x" not in point or "y" not in point or transparent(point.get("color")):
        return None
    return nearest_in_view(open_analysis(ws), layer, epoch, method, float(point["x"]), float(point["y"]))


def transparent(colour) -> bool:
    """Whether an image pixel's hover colour (RGBA as a list, or a typed array sent as an
    {index: value} object) has no opacity: no observation drawn there."""
    values = list(colour.values()) if isinstance(colour, dict) else list(colour or [])
    return len(values) == 4 and float(values[3]) == 0


def neuron_map_or_job(ws, layer: str, epoch: int, colour: str, ranking: dict | None, neuron: int | None) -> tuple:
    """(figure, job request): the neuron map when stored; else a message and the request of the
    job that computes it (never computed in a web request; a read-only server says so instead)."""
    if layer == INPUT_LAYER:
        return message_figure("Pick a hidden layer to see its neurons."), no_update
    analysis = open_analysis(ws)
    if analysis.neuron_map_key(layer, epoch) in analysis.store:
        return neuron_map_view(ws, layer, epoch, colour, ranking, neuron), no_update
    if current_settings().read_only:
        return message_figure(READ_ONLY_MESSAGE), no_update
    return (message_figure(f"Computing the neuron map of {layer} at epoch {epoch}…"),
            {"ws": ws, "layer": layer, "epoch": epoch})


def neuron_map_view(ws, layer: str, epoch: int, colour: str, ranking: dict | None, neuron: int | None):
    """The neuron map figure for `layer`/`epoch` (a message for the input pseudo-layer)."""
    if layer == INPUT_LAYER:
        return message_figure("Pick a hidden layer to see its neurons.")
    analysis = open_analysis(ws)
    if current_settings().read_only and analysis.neuron_map_key(layer, epoch) not in analysis.store:
        return message_figure(READ_ONLY_MESSAGE)
    target = None if colour in (None, "best") else int(colour)
    highlight = ranking["neurons"] if ranking and ranking.get("layer") == layer else None

    def draw() -> tuple:
        neurons = analysis.neuron_map(layer, epoch)
        return (neuron_map_figure(neurons["positions"], neurons["scores"], analysis.classes, target_class=target,
                                  highlight=highlight, selected=neuron, observations=len(analysis.labels)),)
    key = ("neuron-map", workspace_identity(analysis), layer, epoch, target, tuple(map(str, highlight or ())), neuron)
    return remembered_view(key, draw, private=False)[0]  # returned to Dash as it is


def observation_details(ws, epoch: int, index: int, layer: str | None = None) -> list:
    """The hover/pinned card of observation `index`; with `layer`, its top neurons there."""
    analysis = open_analysis(ws)
    labels = analysis.labels
    if not 0 <= index < len(labels):
        raise NNVisError(f"observation {index} is outside the subset (0..{len(labels) - 1})")
    predicted, confidence = analysis.prediction_table(epoch)[index]
    extra = None
    if layer is not None:
        units, values = top_units(analysis.activations_by_unit(layer, epoch)[:, index])  # one column: no layer load
        extra = html.Div([html.Div(f"top units at {layer}:", className="muted")] +
                         [html.Div(f"{'pixel' if layer == INPUT_LAYER else 'neuron'} {u}: {v:.3f}")
                          for u, v in zip(units, values)], className="top-units")
    return observation_card(thumbnail_url(ws, index, version_of(analysis)), index,
                            analysis.classes[labels[index]], analysis.classes[int(predicted)], float(confidence), extra)




def export_table(ws, layer: str, epoch: int, method: str) -> dict:
    """The dcc.Download payload of the shown projection as CSV; one not computed yet is not
    computed here (a web request never runs a projection: the page's job does)."""
    analysis = open_analysis(ws)
    if not analysis.has_projection(layer, epoch, method) and not current_settings().read_only:  # read-only: says so
        raise NNVisError(f"The {METHOD_NAMES.get(method, method)} of {layer} at epoch {epoch} is not computed yet; "
                         "show it first (it is computed in the background), then export it.")
    projection = analysis.projection(layer, epoch, method)
    predictions, _ = analysis.predictions(epoch)
    content = projection_csv(analysis.subset()["index"], projection["points"], analysis.labels, predictions,
                             projection["nh"], analysis.classes, analysis.subset()["split"],
                             faithfulness=shown_faithfulness(analysis, layer, epoch, method))
    return {"content": content, "filename": f"nnvis-{layer}-epoch{epoch}-{method}.csv", "type": "text/csv"}
