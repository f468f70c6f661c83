"""`nnvis export-html` and the explore page's Export HTML: one self-contained page holding the
stored view's figures (checked against the store), and one-line refusals."""

import base64
import json
import re

import numpy as np
import pytest

from nnvis.errors import NNVisError
from nnvis.integrations.html_view import html_view, plotly_js
from nnvis.workspace.analysis import Analysis
from nnvis.workspace.workspace import Workspace
from tests.integration.test_cli import nnvis


def embedded(page: str) -> dict:
    found = re.search(r'<script type="application/json" id="nnvis-data">(.*?)</script>', page, re.S)
    return json.loads(found.group(1))


def test_export_html_holds_the_stored_view(digits_workspace, tmp_path):
    out = tmp_path / "view.html"
    result = nnvis("export-html", "--workspace", str(digits_workspace.path), "--layer", "hidden4", "--epoch", "1",
                   "--method", "pca", "--out", str(out))
    assert result.returncode == 0, result.stderr
    page = out.read_text()
    assert plotly_js() in page  # plotly.js inline; around it, nothing that would be fetched
    assert "src=" not in page.replace(plotly_js(), "") and "http" not in page.replace(plotly_js(), "")
    analysis = Analysis(Workspace(digits_workspace.path))
    data = embedded(page)
    projection = analysis.projection("hidden4", 1, "pca")
    np.testing.assert_allclose(np.column_stack([data["x"], data["y"]]), projection["points"], atol=1e-5)
    assert data["nh"] == pytest.approx(analysis.neighborhood_hit("hidden4", 1, "pca"), abs=1e-9)
    assert data["accuracy"] == pytest.approx(analysis.test_accuracy(1), abs=1e-12)
    assert data["labels"] == analysis.labels.tolist()
    assert data["predictions"] == analysis.predictions(1)[0].tolist()
    faithful = analysis.faithfulness("hidden4", 1, "pca")
    assert data["faithfulness"]["trustworthiness"][0] == pytest.approx(float(faithful["trustworthiness"][0]))
    by_unit = np.asarray(analysis.activations_by_unit("hidden4", 1), dtype=np.float32)
    codes = np.frombuffer(base64.b64decode(data["neurons"]["activations"]), dtype=np.uint8).reshape(by_unit.shape)
    lo, hi = np.array(data["neurons"]["lo"]), np.array(data["neurons"]["hi"])
    decoded = lo[:, None] + codes / 255.0 * (hi - lo)[:, None]
    np.testing.assert_allclose(decoded, by_unit, atol=float((hi - lo).max()) / 255 / 2 + 1e-6)
    live = ~np.isnan(analysis.neuron_map("hidden4", 1)["positions"][:, 0])
    assert data["neurons"]["units"] == np.flatnonzero(live).tolist()
    sprite = base64.b64decode(data["sprite"].split(",", 1)[1])
    assert sprite.startswith(b"\x89PNG") and data["cell"] == [8, 8] and data["sprite_columns"] == 18  # ceil(sqrt(300))


@pytest.mark.parametrize("args, said", [
    (("--layer", "nope"), "layer 'nope' was not captured; allowed:"),
    (("--layer", "hidden4", "--epoch", "99"), "no snapshot for epoch 99; allowed:"),
    (("--layer", "hidden4", "--method", "mds"), "mds"),
])
def test_export_html_bad_input_is_one_line(digits_workspace, tmp_path, args, said):
    result = nnvis("export-html", "--workspace", str(digits_workspace.path), *args, "--out", str(tmp_path / "v.html"))
    assert result.returncode == 2 and said in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "v.html").exists()


def test_the_page_exports_only_what_is_stored(digits_workspace, monkeypatch):
    """The web export reads the store: a projection never computed is named, not computed."""
    from callbacks.export_html import export_html, html_download

    monkeypatch.setenv("NNVIS_WORKSPACES", str(digits_workspace.path))
    analysis = Analysis(Workspace(digits_workspace.path))
    assert not analysis.has_projection("hidden2", 0, "umap")
    with pytest.raises(NNVisError, match="UMAP of hidden2 at epoch 0 is not computed yet"):
        html_view(analysis, "hidden2", 0, "umap", stored_only=True)
    assert not analysis.has_projection("hidden2", 0, "umap")
    payload, status = html_download(0, "hidden4", 2, "pca")
    assert payload["filename"] == "nnvis-hidden4-epoch2-pca.html" and status.startswith("exported (")
    assert embedded(payload["content"])["epoch"] == 2
    assert export_html(1, 0, "hidden2", 0, "umap")[1].startswith("the UMAP of hidden2 at epoch 0 is not computed yet")
