"""The faithfulness badges under /deepvis's saliency maps: for each saliency method shown, how far
to trust its map of the predicted class for the shown input (nnvis.deepvis.faithfulness, by
Quantus): deletion and insertion AUC against a random ranking of the same pixels, and the
model-parameter randomisation similarity. Pure functions: numbers in, components out."""

from __future__ import annotations

import math

from dash import dcc, html

from layouts.deepvis_figures import METHOD_NAMES
from nnvis.deepvis.faithfulness import RANDOMISED, TOP_LAYERS
from web.components import job_indicator

CAPTION = ("How to read it: pixels are removed (deletion) or put back into a black image (insertion) in the "
           "order of the map; a faithful map has a lower deletion AUC and a higher insertion AUC than a random "
           "order of the same pixels (✓). Randomisation: the map's Spearman similarity with the map of the model "
           f"with its top {TOP_LAYERS} layers re-initialised; near 1 = the map hardly depends on what the model "
           "learned (Adebayo et al. 2018).")


def faithfulness_panel() -> html.Div:
    """The badges' place (filled by callbacks.deepvis_faithfulness), its job indicator and the caption."""
    return html.Div([dcc.Store(id="dv-faith-request"),
                     html.Div([html.H3("Faithfulness of each map", className="dv-h3"),
                               job_indicator("dv-faith-job")], className="panel-head"),
                     html.Div(id="dv-faith", className="faith-badges"),
                     html.Div(CAPTION, id="dv-faith-caption", className="muted")], className="dv-faith")


def number(value: float) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.3f}"


def badge_text(method: str, measures: dict | None) -> str:
    """One line for `method`: its deletion and insertion AUC against random (✓ where the map beats
    the random order, ✗ where not) and its randomisation similarity, or that it has none."""
    name = METHOD_NAMES.get(method, method)
    if measures is None:
        return f"{name}: computing…"
    deletion, insertion = measures["deletion_auc"], measures["insertion_auc"]
    random_deletion, random_insertion = measures["random_deletion_auc"], measures["random_insertion_auc"]
    mark_deletion = "✓" if deletion < random_deletion else "✗"
    mark_insertion = "✓" if insertion > random_insertion else "✗"
    if method not in RANDOMISED:
        randomisation = "no randomisation check for this method"
    elif not math.isfinite(measures.get("randomisation_similarity", math.nan)):
        randomisation = "randomisation similarity n/a (a constant map)"
    else:
        randomisation = f"randomisation similarity {number(measures['randomisation_similarity'])}"
    return (f"{name}: deletion AUC {number(deletion)} vs random {number(random_deletion)} {mark_deletion} · "
            f"insertion AUC {number(insertion)} vs random {number(random_insertion)} {mark_insertion} · "
            f"{randomisation}")


def badges(found: dict) -> list:
    """A badge per (target, method), in order (target None: the predicted class; else (layer,
    unit)): its measures, a message (why there are none), or computing."""
    shown = []
    for (target, method), measures in found.items():
        text = f"{METHOD_NAMES.get(method, method)}: {measures}" if isinstance(measures, str) \
            else badge_text(method, measures)
        what = "class" if target is None else f"unit {target[1]}"
        shown.append(html.Span(f"{what} · {text}", className="faith-badge",
                               **{"data-method": method, "data-target": what}))
    return shown
