"""Synthetic and natural side by side in the unit lab (Borowski et al., ICLR 2021): the unit's
activation on each activation-maximization image beside its activation on its top natural
exemplars, and their ratio, with the finding that natural exemplars predict a unit's behaviour
better. Pure functions: numbers and image sources in, components out."""

from __future__ import annotations

import numpy as np
from dash import html

FINDING = ("Natural exemplars predict a unit's behaviour better than synthetic images: people shown a unit's top "
           "natural images chose the image that drives it more often than people shown its activation-maximization "
           "images (92% vs 82%, Borowski et al. 2021).")
SHOWN_NATURAL = 4  # natural exemplars pictured next to the synthetic images (all k are in the numbers)


def exemplars_panel() -> html.Div:
    """The place of the comparison (filled by callbacks.unit_exemplars) under the synthetic images."""
    return html.Div([html.H3("Synthetic vs natural", className="lab-h3"),
                     html.Div(id="ul-exemplars", className="exemplar-compare"),
                     html.Div(FINDING, id="ul-exemplars-finding", className="muted")], className="exemplar-panel")


def ratio_line(synthetic: np.ndarray | None, natural: np.ndarray) -> str:
    """Mean activation on the synthetic images over the mean on the natural exemplars, said in words."""
    natural_mean = float(np.mean(natural))
    if synthetic is None or len(synthetic) == 0:
        return (f"mean activation on the top {len(natural)} natural exemplars {natural_mean:.4g}; run activation "
                "maximization (above) to compare the synthetic images")
    synthetic_mean = float(np.mean(synthetic))
    ratio = "n/a (the natural mean is 0)" if natural_mean == 0 else f"{synthetic_mean / natural_mean:.3g}×"
    return (f"mean activation: synthetic {synthetic_mean:.4g} ({len(synthetic)} images) vs natural "
            f"{natural_mean:.4g} (top {len(natural)}) · ratio synthetic / natural {ratio}")


def value_row(name: str, values, cls: str) -> html.Div:
    """A line of the unit's activations, one number each, wrapping as needed."""
    return html.Div([html.B(f"{name}: "), *(html.Span(f"{v:.4g}", className=f"exemplar-value {cls}") for v in values)],
                    className="exemplar-values")


def comparison(synthetic: np.ndarray | None, natural: np.ndarray, natural_srcs: list[str],
               natural_names: list[str]) -> list:
    """The top natural exemplars pictured (next to the synthetic images above them), the unit's
    activation on each synthetic image and each of its top-k natural exemplars, and the ratio line."""
    pictures = [html.Figure([html.Img(src=src, className="unit-thumb", alt=name), html.Figcaption(name)],
                            className="unit-example natural-example")
                for src, name in zip(natural_srcs[:SHOWN_NATURAL], natural_names)]
    rows = [value_row(f"natural, top {len(natural)}", natural, "natural-value")]
    if synthetic is not None:
        rows.insert(0, value_row(f"synthetic, {len(synthetic)} images", synthetic, "synthetic-value"))
    return [html.Div(pictures, className="thumb-grid"), html.Div(rows, id="ul-exemplars-table"),
            html.Div(ratio_line(synthetic, natural), id="ul-exemplars-ratio", className="metric")]
