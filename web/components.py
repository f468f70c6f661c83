"""Building blocks of the pages, as pure functions of their options."""

from __future__ import annotations

from dash import dcc, html

COLOR_BY = [
    {"label": "True class", "value": "true"},
    {"label": "Predicted class", "value": "predicted"},
    {"label": "Correct / misclassified", "value": "correct"},
    {"label": "Neuron activation (click a neuron)", "value": "neuron"},
]
PROJECTION_OPTIONS = [{"label": "t-SNE", "value": "tsne"}, {"label": "UMAP", "value": "umap"},
                      {"label": "PCA", "value": "pca"}]


# the papers' terms, in their words, where the pages show them
NH_CAPTION = ("NH (neighborhood hit): the fraction of a point's 6 nearest neighbours in the projection that share "
              "its class, averaged over the points; 1 = classes fully apart.")
FAITHFULNESS_CAPTION = ("Trustworthiness: how far the projection's k nearest neighbours are neighbours in activation "
                        "space too; continuity: the reverse (Venna and Kaski; 1 = always).")
SCORE_CAPTION = ("A point per neuron, placed by MDS (correlated neurons lie close). Score of neuron j for class c: "
                 "the AUC of its activation alone telling class c from the rest (0.5 = no preference, 1 = it fires "
                 "for c only); colour: the best class c* = argmax over c, opacity: that AUC.")
COHERENCE_CAPTION = ("Coherence: how the frames are tied. Independent: each frame projected alone, only rotated "
                     "onto the previous one; chained: each frame starts from the previous one's layout; tied λ: "
                     "chained, and each point pulled the share λ back towards its previous place as far as its "
                     "neighbours stayed the same; damped λ: the same pull, also damping the point's optimiser "
                     "momentum (t-SNE only).")
ALPHA_CAPTION = ("α (alpha): a unit's activation on one observation; for a convolutional channel, the mean of "
                 "its feature map, α(A_li) (Shang et al.).")


def caption(text: str, element_id: str | None = None) -> html.Div:
    """A one-line explanation of a term under a panel's title (the whole text also as its tooltip)."""
    return html.Div(text, id=element_id, className="caption", title=text) if element_id else \
        html.Div(text, className="caption", title=text)


def labelled(label: str, control, width: str | None = None) -> html.Div:
    """A control with its label above it."""
    return html.Div([html.Label(label, className="control-label"), control], className="control",
                    style={"width": width} if width else None)


def layer_options(layers: list[str]) -> list[dict]:
    return [{"label": "input (raw pixels)", "value": "input"}] + [{"label": name, "value": name} for name in layers]


EPOCH_WIDTH = "200px"  # an epoch dropdown wide enough for "epoch 0 (untrained)" uncut


def epoch_options(epochs: list[int]) -> list[dict]:
    return [{"label": f"epoch {e}" + (" (untrained)" if e == 0 else ""), "value": e} for e in epochs]


def anchor_options(analysis, kind: str) -> list[dict]:
    """Epochs to fix for a sequence across layers, or layers to fix for one across epochs."""
    if kind == "layers":
        return [{"label": f"epoch {e}", "value": e} for e in analysis.epochs]
    return [{"label": name, "value": name} for name in analysis.layers]


def neuron_colour_options(classes: list[str]) -> list[dict]:
    return [{"label": "Best class (opacity = score)", "value": "best"}] + [
        {"label": f"Class {name} vs rest", "value": str(i)} for i, name in enumerate(classes)]


def controls(state: dict, workspaces: list[dict], layers: list[str], epochs: list[int], classes: list[str]) -> html.Div:
    """The control bar: workspace, layer, epoch, projection, colouring, insets, export."""
    return html.Div([
        labelled("Workspace", dcc.Dropdown(id="workspace-select", options=workspaces, value=state["ws"],
                                           clearable=False), "260px"),
        labelled("Layer", dcc.Dropdown(id="layer-select", options=layer_options(layers), value=state["layer"],
                                       clearable=False), "170px"),
        labelled("Epoch", dcc.Dropdown(id="epoch-select", options=epoch_options(epochs), value=state["epoch"],
                                       clearable=False), "170px"),
        labelled("Projection", dcc.RadioItems(id="projection-select", options=PROJECTION_OPTIONS,
                                              value=state["method"], inline=True, className="radio")),
        labelled("Colour by", dcc.Dropdown(id="color-by", options=COLOR_BY, value=state["color"],
                                           clearable=False), "250px"),
        labelled("Insets", dcc.Checklist(id="insets-toggle", options=[{"label": " thumbnails", "value": "on"}],
                                         value=[], className="radio")),
        html.Div([html.Button("Export CSV", id="export-csv", className="button"), dcc.Download(id="csv-download"),
                  html.Button("Copy link", id="copy-link", className="button share-button",
                              title="copy a link to this view (the address bar holds it too)"),
                  html.Span(id="copy-link-done", className="muted", role="status"),
                  html.Span(id="share-url", hidden=True),
                  html.Span(id="link-note", className="muted", role="status")],
                 className="control control-end control-row"),
    ], className="controls")


def job_indicator(prefix: str) -> html.Span:
    """A background job's stage, progress bar and cancel button; shown only while a job runs."""
    return html.Span([html.Span(id=f"{prefix}-stage"), html.Progress(id=f"{prefix}-progress", value="0", max="1"),
                      html.Button("Cancel", id=f"{prefix}-cancel", className="button button-small")],
                     id=f"{prefix}-indicator", className="job-status", style={"display": "none"})


def projection_panel() -> html.Div:
    return html.Div([
        html.Div([html.H2("Observations", className="panel-title"),
                  html.Span(id="nh-value", className="metric"), html.Span(id="neuron-hint", className="hint"),
                  job_indicator("job")],
                 className="panel-head"),
        caption(f"{NH_CAPTION} {FAITHFULNESS_CAPTION}", "nh-caption"),
        dcc.Loading(dcc.Graph(id="obs-projection", className="graph-main",
                              config={"displaylogo": False, "scrollZoom": True,
                                      "toImageButtonOptions": {"format": "svg", "filename": "nnvis-projection"}}),
                    type="circle", delay_show=400,
                    # the drawn view (e.g. PCA while t-SNE computes) stays visible, dimmed, under the spinner
                    overlay_style={"visibility": "visible", "opacity": 0.6}),
    ], className="panel panel-main")


def neuron_panel(classes: list[str], ranking=None) -> html.Div:
    return html.Div([
        html.Div([html.H2("Neurons", className="panel-title"),
                  dcc.Dropdown(id="neuron-colour", options=neuron_colour_options(classes), value="best",
                               clearable=False, className="inline-dropdown")], className="panel-head"),
        caption(SCORE_CAPTION, "score-caption"),
        html.Div(job_indicator("neuron-job"), className="panel-head"),  # over the map's top edge, out of the flow
        dcc.Loading(dcc.Graph(id="neuron-map", className="graph-side",
                              config={"displaylogo": False, "scrollZoom": True,
                                      "toImageButtonOptions": {"format": "svg", "filename": "nnvis-neurons"}}),
                    type="circle", delay_show=400),
        html.Div(ranking, id="neuron-ranking", className="ranking"),
    ], className="panel")


def detail_panel() -> html.Div:
    return html.Div([
        html.Div([html.H3("Hover"), html.Div("Hover a point to see its image.", id="obs-hover", className="card")],
                 className="detail"),
        html.Div([html.H3("Pinned"), html.Div("Click a point to pin it.", id="obs-pinned", className="card")],
                 className="detail"),
    ], className="details")


def observation_card(src: str, index: int, true_name: str, predicted_name: str, confidence: float,
                     extra=None) -> list:
    """An observation's image with its true and predicted class and confidence."""
    verdict = "correct" if true_name == predicted_name else "misclassified"
    return [html.Img(src=src, className="thumb", alt=f"observation {index}"),
            html.Div([html.Div(f"#{index}", className="obs-id"),
                      html.Div(["true ", html.B(true_name)]),
                      html.Div(["predicted ", html.B(predicted_name), f" ({confidence:.1%})"], className=verdict),
                      extra], className="obs-text")]


def nav_link(text: str, href: str, element_id: str | None = None) -> dcc.Link:
    """A link to another page in a page's header."""
    return dcc.Link(text, href=href, className="nav-link", **({"id": element_id} if element_id else {}))


def page_header(subtitle: str, links: list) -> html.Header:
    """Every page's header: the name, what the page shows, and its links to the other pages."""
    return html.Header([html.H1("nnvis"), html.Span(subtitle, className="subtitle"), *links])
