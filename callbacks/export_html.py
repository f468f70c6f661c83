"""The explore page's "Export HTML" button: the shown view as one self-contained HTML page
(nnvis.integrations.html_view), downloaded. Only from stored artifacts: a view not computed yet
is said in place, never computed in the request; a subset too large to pack in about a second
is sent to the command line."""

from __future__ import annotations

from dash import Input, Output, State, no_update

from nnvis.errors import NNVisError
from nnvis.integrations.html_view import html_view
from web.context import open_analysis
from web.errors import or_message
from web.registry import callback

WEB_OBSERVATIONS = 10_000  # more: `nnvis export-html` (packing the sprite would take the request past ~1 s)


def html_download(ws, layer: str, epoch, method: str) -> tuple[dict, str]:
    """(the dcc.Download payload, the status line) of the view."""
    analysis = open_analysis(ws)
    if analysis.config.subset > WEB_OBSERVATIONS:
        raise NNVisError(f"{analysis.config.subset:,} observations are too many to export from the page (at most "
                         f"{WEB_OBSERVATIONS:,}); run `nnvis export-html --workspace {analysis.workspace.path} "
                         f"--layer {layer} --epoch {epoch} --method {method} --out view.html`")
    page = html_view(analysis, layer, int(epoch), method, stored_only=True)
    return ({"content": page, "filename": f"nnvis-{layer}-epoch{epoch}-{method}.html", "type": "text/html"},
            f"exported ({len(page) / 1e6:.1f} MB)")


@callback(Output("html-download", "data"), Output("html-export-status", "children"), Input("export-html", "n_clicks"),
          State("workspace-select", "value"), State("layer-select", "value"), State("epoch-select", "value"),
          State("projection-select", "value"), prevent_initial_call=True)
def export_html(_clicks, ws, layer, epoch, method):
    return or_message(html_download, ws, layer, epoch, method, answer=lambda message: (no_update, message))
