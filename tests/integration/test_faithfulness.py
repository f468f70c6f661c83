"""Trustworthiness and continuity (Venna and Kaski) with every projection, and the temporal
preservation of sequences (DVI/TimeVis), on real data against scikit-learn and exact cases."""

import csv
import io
import json
import subprocess
import sys

import numpy as np
import pytest

from nnvis.models.activations import input_activations
from nnvis.projection.methods import pca_2d
from nnvis.projection.metrics import (
    faithfulness,
    nearest_neighbours,
    neighbourhood_change,
    seeded_sample,
    temporal_preservation,
    trustworthiness_continuity,
)
from nnvis.workspace.analysis import Analysis, faithfulness_summary
from nnvis.workspace.workspace import Workspace
from tests.conftest import ROOT, paper_summary


@pytest.fixture(scope="module")
def mnist_pixels(mnist_dir):
    """2,000 MNIST test images (a seeded sample) as pixel vectors, and their PCA."""
    from nnvis.data.datasets import load_dataset

    dataset = load_dataset("mnist", str(mnist_dir))
    chosen = seeded_sample(len(dataset.test_labels), 2000, 0)
    x = input_activations(dataset.test_images[chosen]).astype(np.float32)
    return x, pca_2d(x).astype(np.float32)


def test_equal_to_scikit_learn_on_2000_mnist_images(mnist_pixels):
    from sklearn.manifold import trustworthiness

    x, points = mnist_pixels
    trust, cont = trustworthiness_continuity(x, points, (7, 15))
    for i, k in enumerate((7, 15)):
        assert trust[i] == pytest.approx(trustworthiness(x, points, n_neighbors=k), abs=1e-3)
        assert cont[i] == pytest.approx(trustworthiness(points, x, n_neighbors=k), abs=1e-3)  # spaces swapped
    assert 0.6 < trust[0] < 0.9 and trust[0] < cont[0]  # PCA of pixels: mostly continuous, far from trustworthy


def test_identity_is_perfect_and_shuffled_points_are_not():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(300, 2)).astype(np.float32)
    trust, cont = trustworthiness_continuity(points, points.copy())
    np.testing.assert_allclose([trust, cont], 1.0, atol=1e-12)
    trust, cont = trustworthiness_continuity(points, rng.permutation(points))
    assert (trust < 0.6).all() and (cont < 0.6).all()  # random neighbours: about 0.5


def test_small_blocks_give_the_same_values(mnist_pixels, monkeypatch):
    import nnvis.projection.metrics

    x, points = mnist_pixels[0][:400], mnist_pixels[1][:400]
    whole = trustworthiness_continuity(x, points)
    monkeypatch.setattr(nnvis.projection.metrics, "BLOCK_BYTES", 400 * 32 * 7)  # 7 rows per block
    # the same up to float32 summation order, which differs between CPUs (5.9e-7 relative seen)
    np.testing.assert_allclose(trustworthiness_continuity(x, points), whole, rtol=1e-5, atol=1e-9)


def test_large_sets_are_measured_on_a_seeded_sample(mnist_pixels):
    x, points = mnist_pixels
    found = faithfulness(x, points, seed=3, max_observations=500)
    sample = seeded_sample(len(x), 500, 3)
    trust, cont = trustworthiness_continuity(x[sample], points[sample])
    assert int(found["observations"]) == 500 and found["k"].tolist() == [7, 15]
    np.testing.assert_allclose(found["trustworthiness"], trust)
    np.testing.assert_allclose(found["continuity"], cont)
    assert int(faithfulness(x[:40], points[:40], max_observations=None)["observations"]) == 40


def test_k_is_capped_below_half_the_observations():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(20, 5))
    found = faithfulness(x, x[:, :2])
    assert found["k"].tolist() == [7, 9]
    with pytest.raises(ValueError, match="at least 5 observations"):
        trustworthiness_continuity(x[:4], x[:4, :2])


def test_stored_with_every_projection_and_measured_on_read_for_old_ones(digits_workspace):
    analysis = Analysis(Workspace(digits_workspace.path))
    key = analysis.faithfulness_key("hidden4", 2, "pca")
    assert key in analysis.store  # `nnvis run` stored it with the projection
    stored = analysis.faithfulness("hidden4", 2, "pca")
    x, points = analysis.activations("hidden4", 2), analysis.projection("hidden4", 2, "pca")["points"]
    trust, cont = trustworthiness_continuity(x, points)
    np.testing.assert_allclose(stored["trustworthiness"], trust)
    np.testing.assert_allclose(stored["continuity"], cont)
    analysis.store.cache.delete(key.digest())  # as in a store written before the measures existed
    assert not analysis.has_faithfulness("hidden4", 2, "pca")
    np.testing.assert_allclose(analysis.faithfulness("hidden4", 2, "pca")["trustworthiness"], trust)
    assert key in analysis.store


def test_summary_json_shapes_them_like_nh(digits_workspace):
    run = subprocess.run([sys.executable, "-m", "nnvis.cli", "summary", "--workspace", str(digits_workspace.path),
                          "--json"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert run.returncode == 0, run.stderr
    figures = json.loads(run.stdout)
    for name in ("trustworthiness", "continuity", "trustworthiness_k15", "continuity_k15"):
        assert {layer: set(by_epoch) for layer, by_epoch in figures[name].items()} == \
               {layer: set(by_epoch) for layer, by_epoch in figures["nh"].items()}
    analysis = Analysis(Workspace(digits_workspace.path))
    expected = analysis.faithfulness("hidden2", 1)
    assert figures["trustworthiness"]["hidden2"]["1"] == pytest.approx(expected["trustworthiness"][0])
    assert figures["continuity_k15"]["hidden2"]["1"] == pytest.approx(expected["continuity"][1])
    assert figures["faithfulness_observations"] == 300


def test_csv_export_and_header_carry_them(digits_workspace, monkeypatch):
    from callbacks.views import drawn_projection, export_table

    monkeypatch.setenv("NNVIS_WORKSPACES", str(digits_workspace.path))
    analysis = Analysis(Workspace(digits_workspace.path))
    found = analysis.faithfulness("hidden3", 2, "pca")
    lines = export_table(0, "hidden3", 2, "pca")["content"].splitlines()
    rows = list(csv.DictReader(io.StringIO("\n".join(lines[1:]))))
    assert len(rows) == 300
    assert float(rows[0]["trustworthiness_k7"]) == pytest.approx(found["trustworthiness"][0], abs=1e-6)
    assert float(rows[-1]["continuity_k15"]) == pytest.approx(found["continuity"][1], abs=1e-6)
    assert rows[0]["faithfulness_observations"] == "300"
    _, text = drawn_projection(analysis, 0, "hidden3", 2, "pca", "true", [], None)
    assert f"trustworthiness {found['trustworthiness'][0]:.3f} · continuity {found['continuity'][0]:.3f}" in text
    assert "on a sample" not in text  # all 300 observations were used


def test_header_says_when_a_sample_was_used():
    from layouts.figures import faithfulness_text

    found = {"k": np.array([7, 15]), "trustworthiness": np.array([0.91, 0.9]), "continuity": np.array([0.95, 0.94]),
             "observations": np.int64(10_000)}
    assert faithfulness_text(found, 70_000) == ("trustworthiness 0.910 · continuity 0.950 "
                                                "(k = 7; k = 15: 0.900 / 0.940, on a sample of 10,000)")


def test_neighbourhood_change_counts_lost_neighbours():
    before = np.array([[1, 2, 3], [0, 2, 3]])
    after = np.array([[3, 2, 1], [4, 5, 0]])
    assert neighbourhood_change(before, after).tolist() == [0, 2]


def test_temporal_preservation_rewards_moving_what_changed():
    rng = np.random.default_rng(2)
    x_before = rng.normal(size=(400, 10))
    x_after = x_before.copy()
    changed = np.arange(100)
    x_after[changed] = rng.normal(size=(100, 10)) * 3  # these observations get new neighbourhoods
    y_before = rng.normal(size=(400, 2))
    change = neighbourhood_change(nearest_neighbours(x_before, 15), nearest_neighbours(x_after, 15))
    assert change[changed].mean() > 10 and change[100:].mean() < 5
    faithful = y_before + np.outer(change, [0.1, 0.0])  # moves as far as its neighbourhood changed
    assert temporal_preservation(x_before, x_after, y_before, faithful) > 0.99
    shuffled = y_before + np.outer(rng.permutation(change), [0.1, 0.0])
    assert abs(temporal_preservation(x_before, x_after, y_before, shuffled)) < 0.2
    assert np.isnan(temporal_preservation(x_before, x_after, y_before, y_before))  # nothing moved


@pytest.mark.usefixtures("mnist_dir")
def test_paper_summary_has_trustworthiness_and_continuity(mnist_paper_workspace):
    figures = paper_summary(mnist_paper_workspace)
    last = figures["hidden_layers"][-1]
    trust, cont = figures["trustworthiness"], figures["continuity"]
    assert set(trust) == set(figures["nh"]) and set(trust[last]) == {"0", "1", "2", "3"}
    assert figures["faithfulness_observations"] == 2000
    for layer in trust:
        for epoch, value in trust[layer].items():
            assert 0.8 < value <= 1.0 and 0.8 < cont[layer][epoch] <= 1.0, (layer, epoch)  # t-SNE is faithful
    assert faithfulness_summary(Analysis(Workspace(mnist_paper_workspace)))["trustworthiness"] == trust
