"""The attention panel of /deepvis (a transformer): the class token's attention per layer (the
heads' mean, or one head) over the input, and attention rollout over all layers."""

from __future__ import annotations

from dash import dcc, html

from web.components import labelled


def attention_panel() -> html.Div:
    """The panel; its callbacks (callbacks.deepvis_attention) fill it for the current input."""
    return html.Div([
        html.Div([html.H2("Attention", className="panel-title"),
                  html.Span(id="dv-attention-status", className="muted")], className="panel-head"),
        html.Div("The class token's attention over the patches, per layer (mean of the heads, or one head), and "
                 "attention rollout over all layers (Abnar and Zuidema, 2020). Transformers only.", className="muted"),
        labelled("Head", dcc.Input(id="dv-attention-head", type="number", min=0, step=1, debounce=True,
                                   placeholder="mean", className="number-input", style={"width": "80px"})),
        dcc.Graph(id="dv-attention", className="dv-attention", config={"displaylogo": False}),
    ], className="panel", id="dv-attention-panel")
