"""The shared neighbour graph (nnvis.projection.knn): exact where it says so, and t-SNE and UMAP
built on it agree with the libraries' own neighbour searches on scikit-learn's digits."""

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.neighbors import NearestNeighbors

from nnvis.projection.knn import GRAPH_K, PCA_DIMS, first, graph_space, knn_graph, with_self
from nnvis.projection.methods import normalise, project
from nnvis.projection.metrics import neighborhood_hit


@pytest.fixture(scope="module")
def digits():
    data = load_digits()
    return data.data.astype(np.float32), data.target


def test_graph_is_the_exact_knn():
    x = np.random.default_rng(0).normal(size=(500, 20)).astype(np.float32)
    graph = knn_graph(x, 30)
    distances, indices = NearestNeighbors(n_neighbors=31).fit(x).kneighbors(x)
    np.testing.assert_array_equal(graph["indices"], indices[:, 1:])
    np.testing.assert_allclose(graph["distances"], distances[:, 1:], rtol=1e-5, atol=1e-5)
    assert graph["indices"].dtype == np.int64 and graph["distances"].dtype == np.float32


def test_graph_caps_k_and_never_lists_a_point_as_its_own_neighbour():
    x = np.random.default_rng(1).normal(size=(40, 3)).astype(np.float32)
    x[1] = x[0]  # a duplicate: distance 0, but still another observation
    graph = knn_graph(x)
    assert graph["indices"].shape == (40, 39)  # GRAPH_K capped at n - 1
    assert not (graph["indices"] == np.arange(40)[:, None]).any()
    assert graph["indices"][0, 0] == 1 and graph["distances"][0, 0] == 0.0


def test_umap_rows_start_with_the_point_itself():
    x = np.random.default_rng(2).normal(size=(50, 4)).astype(np.float32)
    graph = knn_graph(x)
    indices, distances = with_self(graph, 15)
    assert indices.shape == distances.shape == (50, 15)
    np.testing.assert_array_equal(indices[:, 0], np.arange(50))
    np.testing.assert_array_equal(indices[:, 1:], first(graph, 14)[0])
    assert (distances[:, 0] == 0).all()


def test_wide_layers_are_reduced_to_50_principal_components_narrow_ones_are_not():
    rng = np.random.default_rng(3)
    wide = rng.normal(size=(200, 101)).astype(np.float32)
    assert graph_space(wide).shape == (200, PCA_DIMS)
    narrow = rng.normal(size=(200, 100)).astype(np.float32)
    np.testing.assert_array_equal(graph_space(narrow), narrow)


def old_tsne(x, seed=0):
    """The path before the shared graph: openTSNE finds its own neighbours (Annoy above 1,000)."""
    from openTSNE import TSNE

    return normalise(np.asarray(TSNE(perplexity=30, negative_gradient_method="bh", n_jobs=1,
                                     random_state=seed).fit(x)).astype(np.float32))


def old_umap(x, seed=0):
    import umap

    return normalise(umap.UMAP(n_neighbors=15, random_state=seed, n_jobs=1).fit_transform(x).astype(np.float32))


def test_tsne_on_the_shared_graph_keeps_the_neighborhood_hit(digits):
    x, labels = digits
    graph = knn_graph(x)
    assert graph["indices"].shape == (len(x), GRAPH_K)
    new = neighborhood_hit(project(x, "tsne", graph=graph, n_jobs=1), labels).mean()
    old = neighborhood_hit(old_tsne(x), labels).mean()
    assert new > 0.95 and abs(new - old) < 0.01


def test_umap_on_the_shared_graph_keeps_the_neighborhood_hit(digits):
    x, labels = digits
    new = neighborhood_hit(project(x, "umap", graph=knn_graph(x)), labels).mean()
    old = neighborhood_hit(old_umap(x), labels).mean()
    assert new > 0.95 and abs(new - old) < 0.01


def test_umap_above_umap_large_runs_its_fewer_epochs_and_keeps_the_neighborhood_hit(digits, monkeypatch):
    """Above UMAP_LARGE observations umap-learn runs UMAP_LARGE_EPOCHS epochs; at or below it
    its own number (500 up to 10,000 observations). The threshold is lowered here to the digits."""
    from nnvis.projection import methods

    x, labels = digits
    graph = knn_graph(x)
    heard = {"own": [], "fewer": []}
    own = project(x, "umap", graph=graph, steps=lambda done, total: heard["own"].append((done, total)))
    monkeypatch.setattr(methods, "UMAP_LARGE", len(x) - 1)
    fewer = project(x, "umap", graph=graph, steps=lambda done, total: heard["fewer"].append((done, total)))
    assert heard["own"][-1] == (500, 500)
    assert heard["fewer"][-1] == (methods.UMAP_LARGE_EPOCHS, methods.UMAP_LARGE_EPOCHS)
    nh_own, nh_fewer = (neighborhood_hit(p, labels).mean() for p in (own, fewer))
    assert nh_fewer > 0.95 and abs(nh_own - nh_fewer) < 0.01


def test_tsne_with_labels_stops_once_its_neighborhood_hit_has_settled(digits):
    from nnvis.projection.methods import NH_FIRST, NH_SETTLED, TSNE_ITERATIONS
    from nnvis.projection.metrics import faithfulness

    x, labels = digits
    graph = knn_graph(x)
    heard = {"full": [], "stopped": []}
    full = project(x, "tsne", graph=graph, n_jobs=1, steps=lambda done, total: heard["full"].append(done))
    stopped = project(x, "tsne", graph=graph, n_jobs=1, labels=labels,
                      steps=lambda done, total: heard["stopped"].append(done))
    total = sum(TSNE_ITERATIONS)
    assert heard["full"][-1] == total and total - 25 in heard["full"]  # every iteration ran
    ran = heard["stopped"][-2]  # the last report before the stop's (total, total)
    assert TSNE_ITERATIONS[0] + NH_FIRST + 50 <= ran < total and heard["stopped"][-1] == total
    nh_full, nh_stopped = (neighborhood_hit(p, labels).mean() for p in (full, stopped))
    assert nh_stopped > 0.95 and abs(nh_stopped - nh_full) < 10 * NH_SETTLED  # settled: within 0.01 of the full run
    f_full, f_stopped = faithfulness(x, full), faithfulness(x, stopped)
    for measure in ("trustworthiness", "continuity"):
        np.testing.assert_allclose(f_stopped[measure], f_full[measure], atol=0.01)


def test_the_projection_note_names_the_graph_and_each_methods_schedule():
    """What `nnvis summary` says of how its NH were made: t-SNE's stop and UMAP's epochs too."""
    from nnvis.projection.methods import projection_note

    tsne, umap = projection_note("tsne"), projection_note("umap")
    assert "(PCA-50)" in tsne and "(k = 90)" in tsne and "stops once NH has settled" in tsne
    assert "(PCA-50)" in umap and "above 50,000 observations 120 epochs (umap-learn: 200)" in umap
    assert projection_note("pca") == "" and projection_note("tsne", gpu=True) == ""
