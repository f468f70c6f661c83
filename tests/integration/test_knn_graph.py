"""One neighbour graph per layer and epoch: t-SNE, UMAP and their measures ask for it, the store
computes it once, under its own key."""

import numpy as np

from nnvis.models.layers import INPUT_LAYER
from nnvis.projection.knn import GRAPH_K, graph_space
from nnvis.projection.metrics import neighborhood_hit
from nnvis.workspace import analysis as analysis_module
from nnvis.workspace import keys
from nnvis.workspace.analysis import Analysis
from nnvis.workspace.workspace import Workspace


def test_tsne_umap_and_their_measures_find_the_neighbours_once(digits_workspace, monkeypatch):
    graphs = []
    real = analysis_module.knn_graph

    def counted(x, **kwargs):
        graphs.append(len(x))
        return real(x, **kwargs)
    monkeypatch.setattr(analysis_module, "knn_graph", counted)
    analysis = Analysis(Workspace(digits_workspace.path))
    key = keys.knn_graph(analysis, "hidden3", 1)
    assert key not in analysis.store and key.kind == "knn-graph"
    misses = analysis.store.misses
    tsne = analysis.projection("hidden3", 1, "tsne")
    umap = analysis.projection("hidden3", 1, "umap")
    for method in ("tsne", "umap"):
        found = analysis.faithfulness("hidden3", 1, method)
        assert 0.8 < found["trustworthiness"][0] <= 1.0
    assert graphs == [300]  # one search, for both projections and their measures
    # misses: the graph, the two projections (their measures are stored with them)
    assert analysis.store.misses - misses == 3
    graph = analysis.store.get(key)
    assert graph["indices"].shape == (300, GRAPH_K)
    for points in (tsne, umap):
        assert points["points"].shape == (300, 2)
        assert neighborhood_hit(points["points"], analysis.labels).mean() > 0.6

    again = Analysis(Workspace(digits_workspace.path))
    again.projection("hidden3", 1, "tsne")
    assert graphs == [300] and again.store.misses == 0


def test_the_graph_is_the_exact_knn_of_the_layer_in_its_graph_space(digits_workspace):
    from sklearn.neighbors import NearestNeighbors

    analysis = Analysis(Workspace(digits_workspace.path))
    graph = analysis.knn_graph(INPUT_LAYER, 0)
    x = graph_space(analysis.activations(INPUT_LAYER, -1), seed=analysis.config.seed)
    assert x.shape[1] == 64  # the digits' 64 pixels: not reduced (PCA above 100 dimensions only)
    distances, _ = NearestNeighbors(n_neighbors=GRAPH_K + 1).fit(x).kneighbors(x)
    np.testing.assert_allclose(graph["distances"], distances[:, 1:], rtol=1e-5, atol=1e-4)
    assert keys.knn_graph(analysis, INPUT_LAYER, 0) == keys.knn_graph(analysis, INPUT_LAYER, 2)


def test_a_projection_stored_by_the_path_before_is_recomputed_not_served(digits_workspace):
    """A store holding a UMAP projection of the path before the shared graph (umap-learn's own
    search on the raw 1000-wide activations) under the key that path wrote: the new code does
    not read it, it projects again on PCA-50 and the graph and stores that under its own key."""
    from dataclasses import replace

    import umap

    from nnvis.projection.knn import GRAPH_PATH
    from nnvis.projection.methods import normalise

    analysis = Analysis(Workspace(digits_workspace.path))
    layer, epoch = "hidden2", 2
    x = analysis.activations(layer, epoch)
    assert x.shape[1] > 100  # a layer PCA-50 reduces
    new_key = keys.projection(analysis, layer, epoch, "umap")
    old_key = replace(new_key, params=tuple(p for p in new_key.params if p[0] != "graph"))
    assert dict(new_key.params)["graph"] == GRAPH_PATH and old_key.digest() != new_key.digest()
    old_points = normalise(umap.UMAP(n_neighbors=15, random_state=analysis.config.seed, n_jobs=1)
                           .fit_transform(x).astype(np.float32))
    analysis.store.put(old_key, {"points": old_points,
                                 "nh": neighborhood_hit(old_points, analysis.labels).astype(np.float32)})
    assert not analysis.has_projection(layer, epoch, "umap")
    misses = analysis.store.misses
    found = analysis.projection(layer, epoch, "umap")
    assert analysis.store.misses > misses  # computed, not read
    assert not np.allclose(found["points"], old_points, atol=1e-3)
    np.testing.assert_array_equal(analysis.store.get(new_key)["points"], found["points"])
    np.testing.assert_array_equal(analysis.store.get(old_key)["points"], old_points)  # left as it was


def test_a_summary_kept_by_the_path_before_is_not_printed(tmp_path):
    """summary.json kept under the same manifest by the code before the shared graph, or by the
    graph's code before t-SNE's stop and UMAP's epochs (its NH were that path's): read from the
    store again; one kept by this path is printed."""
    import json

    from nnvis.cli.summary import CACHE, cached_summary, manifest_digest
    from nnvis.projection.knn import GRAPH_PATH
    from nnvis.projection.methods import PROJECTION_PATH

    (tmp_path / "workspace.json").write_text('{"epochs": [0]}')
    figures = {"nh": {"input": {"0": 0.8661}}, "missing": []}
    kept = {"manifest_sha256": manifest_digest(tmp_path), "figures": figures}
    (tmp_path / CACHE).write_text(json.dumps(kept))
    assert cached_summary(tmp_path) is None
    (tmp_path / CACHE).write_text(json.dumps({**kept, "graph_path": GRAPH_PATH}))
    assert cached_summary(tmp_path) is None
    (tmp_path / CACHE).write_text(json.dumps({**kept, "projection_path": PROJECTION_PATH}))
    assert cached_summary(tmp_path) == figures


def test_a_tsne_view_reduces_its_1000_wide_layer_to_pca_50_once(digits_workspace, monkeypatch, tmp_path):
    from sklearn.decomposition import PCA

    from tests.conftest import copy_workspace, counting, forget

    copy = copy_workspace(digits_workspace.path, tmp_path / "ws")
    forget(copy, "projection", "knn-graph", "faithfulness")
    analysis = Analysis(Workspace(copy))
    assert analysis.activations("hidden2", 2).shape[1] == 1000  # wider than 100: reduced to 50 first
    fits = counting(monkeypatch, PCA, "fit_transform")
    points = analysis.projection("hidden2", 2, "tsne")["points"]
    # one PCA-50 for the graph and the t-SNE (it was computed for each), then openTSNE's 2-D initialisation
    assert [fit[0].n_components for fit in fits] == [50, 2], fits
    assert keys.knn_graph(analysis, "hidden2", 2) in analysis.store
    assert neighborhood_hit(points, analysis.labels).mean() > 0.8
