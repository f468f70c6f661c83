"""The page's error banner, with a Retry button when what failed was a job that stopped or a
fault that may pass (a crash, a full disk): reloading the page's address asks for the same view
again, since every page keeps its view in its address."""

from __future__ import annotations

from dash import Input, Output, html

from web.registry import clientside_callback

RETRY_PATTERN = "stopped before it answered|Something went wrong|is full"


def error_banner() -> html.Div:
    """The banner (`error-banner`, written by the callbacks' error path) and its Retry button."""
    return html.Div([html.Div(id="error-banner", className="error-banner"),
                     html.Button("Retry", id="error-retry", className="button button-small retry-button",
                                 title="ask for this view again", style={"display": "none"})],
                    className="banner-row")


clientside_callback(
    f"""function (text) {{
        const said = typeof text === 'string' ? text : JSON.stringify(text || '');
        return new RegExp('{RETRY_PATTERN}').test(said) ? {{}} : {{display: 'none'}};
    }}""",
    Output("error-retry", "style"), Input("error-banner", "children"))

clientside_callback(
    """function (clicks) {
        if (clicks) { window.location.reload(); }
        return window.dash_clientside.no_update;
    }""",
    Output("error-retry", "title"), Input("error-retry", "n_clicks"), prevent_initial_call=True)
