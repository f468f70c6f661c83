"""The unit lab's synthetic-vs-natural comparison (layouts.unit_exemplars): the activation each
stored activation-maximization image reaches (nnvis.unitlab's stored result for the settings in
the boxes) beside the stored activations of the unit's top-k natural exemplars. Reads the store
only: nothing is computed in the request (the synthetic images are the actmax job's)."""

from __future__ import annotations

import numpy as np
from dash import Input, Output, html

from callbacks.unitlab import PARAMS, VIEW, actmax_params, checked_unit, thumbnail_src
from layouts.unit_exemplars import SHOWN_NATURAL, comparison
from nnvis.errors import NNVisError
from nnvis.unitlab import lab as unitlab
from web.context import open_analysis
from web.errors import or_message
from web.registry import callback


def exemplars_view(ws, layer: str, epoch, unit, k, values: list) -> list:
    """The comparison for the unit: its top-k natural exemplars' activations (stored), and the
    synthetic images' when activation maximization with these settings is stored."""
    analysis = open_analysis(ws)
    unit, k = checked_unit(analysis, layer, epoch, unit, k)
    dead = unitlab.dead_note(analysis, layer, epoch, unit)
    if dead:
        return [html_message(f"Dead unit: it {dead}; no exemplar to compare.")]
    natural = unitlab.top_examples(analysis, layer, epoch, unit, k)
    try:
        params = actmax_params(values)
    except NNVisError:
        params = None  # a box being edited: the natural side alone
    stored = None if params is None else unitlab.stored_actmax(analysis, layer, epoch, unit, params)
    synthetic = None if stored is None else np.asarray(stored.activations[:params.restarts], dtype=np.float64)
    names = [f"#{int(i)} · {analysis.classes[int(y)]}" for i, y in
             zip(natural["observations"][:SHOWN_NATURAL], natural["labels"][:SHOWN_NATURAL])]
    srcs = [thumbnail_src(ws, analysis, int(i)) for i in natural["observations"][:SHOWN_NATURAL]]
    return comparison(synthetic, np.asarray(natural["alpha"], dtype=np.float64), srcs, names)


def html_message(text: str) -> html.Div:
    return html.Div(text, className="lab-message")


@callback(Output("ul-exemplars", "children"), *VIEW, Input("ul-unit", "value"), Input("ul-k", "value"),
          Input("ul-actmax-status", "children"), *PARAMS)
def show_exemplars(ws, layer, epoch, unit, k, _status, *values):
    """Drawn again when the view, the unit, k or the settings change, and when the actmax job ends."""
    return or_message(exemplars_view, ws, layer, epoch, unit, k, list(values),
                      answer=lambda message: [html_message(message)])
