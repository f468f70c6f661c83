"""Trails: Procrustes alignment, aligned sequences, bundling, on exact cases and real runs."""

import numpy as np
import pytest

from nnvis.compare.evolution import bundled_trails, sequence
from nnvis.projection.trails import bundle_trails, mean_displacement, procrustes_onto, resample
from nnvis.workspace.analysis import Analysis
from nnvis.workspace.workspace import Workspace


def test_procrustes_undoes_rotation_reflection_scale_and_shift():
    rng = np.random.default_rng(0)
    reference = rng.normal(size=(50, 2))
    angle = 1.1
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) @ np.diag([1, -1])
    moved = (reference - reference.mean(0)) @ rotation * 3.0 + [5.0, -2.0]
    np.testing.assert_allclose(procrustes_onto(moved, reference), reference, atol=1e-5)


def test_resample_is_even_along_the_polyline():
    path = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]])
    np.testing.assert_allclose(resample(path, 5), [[0, 0], [0.5, 0], [1, 0], [1, 0.5], [1, 1]])


def test_bundled_trails_start_and_end_at_the_frames():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, 60)
    frames = np.stack([rng.normal(0, 1, (3, 2))[labels] + rng.normal(0, 0.05, (60, 2)) for _ in range(4)])
    paths = bundle_trails(frames, points_per_segment=8)
    assert paths.shape == (60, 3, 8, 2)
    np.testing.assert_allclose(paths[:, :, 0], frames[:-1].transpose(1, 0, 2), atol=1e-5)
    np.testing.assert_allclose(paths[:, :, -1], frames[1:].transpose(1, 0, 2), atol=1e-5)
    # bundling pulls the middles of same-route segments together: they deviate from straight lines
    straight = (paths[:, :, 0] + paths[:, :, -1]) / 2
    assert np.abs(paths[:, :, 4] - straight).mean() > 1e-3


def test_sequence_is_cached_with_its_bundle(digits_workspace):
    analysis = Analysis(Workspace(digits_workspace.path))
    paths = bundled_trails(analysis, "epochs", "hidden4", "pca")["paths"]
    assert paths.shape == (300, 2, 12, 2)  # three epochs: two segments per trail
    again = Analysis(Workspace(digits_workspace.path))
    bundled_trails(again, "epochs", "hidden4", "pca")
    assert again.store.misses == 0


@pytest.mark.usefixtures("mnist_dir")
def test_mnist_nh_grows_with_depth_and_training(mnist_paper_workspace):
    analysis = Analysis(Workspace(mnist_paper_workspace))
    last = analysis.epochs[-1]
    by_layer = [analysis.neighborhood_hit(layer, last) for layer in analysis.layers]
    # deeper separates better: the last hidden layer clearly above the first, and no deeper layer below
    # its predecessor by more than t-SNE's own noise (measured [0.9395, 0.9620, 0.9650, 0.9660] on one
    # machine, [0.9427, 0.9668, 0.9646, 0.9665] on another with the same code and seed)
    assert by_layer[-1] >= by_layer[0] + 0.01, by_layer
    assert all(b >= a - 0.005 for a, b in zip(by_layer, by_layer[1:])), by_layer
    by_epoch = sequence(analysis, "epochs", analysis.layers[-1], "tsne")["nh"]
    assert by_epoch[-1] > by_epoch[0]


@pytest.mark.usefixtures("mnist_dir")
@pytest.mark.parametrize("kind", ["layers", "epochs"])
def test_mnist_aligned_frames_move_much_less_than_independent_ones(mnist_paper_workspace, kind):
    analysis = Analysis(Workspace(mnist_paper_workspace))
    if kind == "layers":
        anchor, independent = analysis.epochs[-1], [analysis.projection(layer, analysis.epochs[-1])["points"]
                                                    for layer in analysis.layers]
    else:
        anchor, independent = analysis.layers[-1], [analysis.projection(analysis.layers[-1], e)["points"]
                                                    for e in analysis.epochs]
    aligned = sequence(analysis, kind, anchor, "tsne")["frames"]
    ratio = mean_displacement(aligned) / mean_displacement(np.stack(independent))
    print(f"{kind}: mean displacement aligned / independent t-SNE = {ratio:.3f}")
    assert ratio < 0.5  # measured 0.21 across layers, 0.35 across epochs


def test_bundling_kernels_compile_once_per_machine_not_per_process(tmp_path):
    """datashader compiles its kernels at import; the first process stores them in the numba
    cache folder, a later fresh process loads them instead of compiling."""
    import json
    import os
    import subprocess
    import sys

    probe = ("import json, nnvis.projection.trails as t; t.cached_hammer_bundle(); import datashader.bundling as b; "
             "s = b.distance_between.stats; print(json.dumps([sum(s.cache_hits.values()), "
             "sum(s.cache_misses.values())]))")
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba")}

    def hits_and_misses() -> list[int]:
        result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
        return json.loads(result.stdout.strip().splitlines()[-1])

    assert hits_and_misses() == [0, 1]  # compiled and stored
    assert list((tmp_path / "numba").glob("datashader_*/bundling.distance_between*.nbi"))
    assert hits_and_misses() == [1, 0]  # loaded, not compiled


def test_coherence_settings_and_their_errors():
    from nnvis.errors import NNVisError
    from nnvis.projection.trails import DEFAULT_ATTRACTION, check_coherence

    assert check_coherence(None, "tsne") == DEFAULT_ATTRACTION and check_coherence(None, "umap") == "chain"
    assert check_coherence("independent", "pca") == "independent" and check_coherence("0.0300", "tsne") == "0.03"
    for method, bad in [("umap", "0.01"), ("tsne", "1.5"), ("tsne", "0"), ("tsne", "tight")]:
        with pytest.raises(NNVisError, match="allowed: independent, chain"):
            check_coherence(bad, method)


def test_attraction_keeps_tsne_frames_nearer_the_previous_one(digits_workspace):
    from nnvis.projection.trails import project_from

    analysis = Analysis(Workspace(digits_workspace.path))
    previous = analysis.projection("hidden4", 1, "pca")["points"]
    x = analysis.activations("hidden4", 2)
    moved = {strength: np.linalg.norm(project_from(x, "tsne", previous, attraction=strength) - previous, axis=1).mean()
             for strength in (0.0, 0.05)}
    print(f"mean displacement from the previous frame: {moved}")
    assert moved[0.05] < 0.7 * moved[0.0]  # measured: 0.21 against 0.43


def test_sequence_stability_per_setting(digits_workspace):
    analysis = Analysis(Workspace(digits_workspace.path))
    chained = sequence(analysis, "epochs", "hidden3", "pca")
    independent = sequence(analysis, "epochs", "hidden3", "pca", "independent")
    expected = [analysis.neighborhood_hit("hidden3", e, "pca") for e in analysis.epochs]
    for found in (chained, independent):
        np.testing.assert_allclose(found["nh_independent"], expected, rtol=1e-6)
        assert found["temporal"].shape == (len(analysis.epochs) - 1,) and np.isfinite(found["temporal"]).all()
        assert ((found["trustworthiness"] > 0.5) & (found["trustworthiness"] <= 1)).all()
    np.testing.assert_allclose(independent["nh"], expected, atol=1e-6)  # Procrustes keeps every neighbourhood
    from nnvis.compare.evolution import sequence_key

    assert sequence_key(analysis, "epochs", "hidden3", "pca", "independent") != \
        sequence_key(analysis, "epochs", "hidden3", "pca")
    again = Analysis(Workspace(digits_workspace.path))
    sequence(again, "epochs", "hidden3", "pca", "independent")
    assert again.store.misses == 0  # cached per setting


def test_sequence_stored_before_stability_gets_it_on_read(digits_workspace):
    from nnvis.compare.evolution import sequence_key

    analysis = Analysis(Workspace(digits_workspace.path))
    key = sequence_key(analysis, "layers", 1, "pca")
    full = sequence(analysis, "layers", 1, "pca")
    analysis.store.put(key, {"frames": full["frames"], "nh": full["nh"]})  # as stored before
    found = sequence(analysis, "layers", 1, "pca")
    np.testing.assert_allclose(found["temporal"], full["temporal"])
    assert "trustworthiness" in analysis.store.get(key)


def test_sequence_job_follows_the_coherence_setting(digits_workspace):
    from nnvis.compare.evolution import has_sequence
    from nnvis.jobs import run_job

    analysis = Analysis(Workspace(digits_workspace.path))
    assert not has_sequence(analysis, "epochs", "hidden2", "pca", bundled=True, coherence="independent")
    run_job({"job": "sequence", "workspace": str(digits_workspace.path), "kind": "epochs", "anchor": "hidden2",
             "method": "pca", "coherence": "independent"})
    assert has_sequence(analysis, "epochs", "hidden2", "pca", bundled=True, coherence="independent")
    paths = bundled_trails(analysis, "epochs", "hidden2", "pca", "independent")["paths"]
    frames = sequence(analysis, "epochs", "hidden2", "pca", "independent")["frames"]
    np.testing.assert_allclose(paths[:, -1, -1], frames[-1], atol=1e-5)  # the trails end where its frames do


def test_stability_view_plots_the_trade_off_of_computed_settings(digits_workspace, monkeypatch):
    from callbacks.evolution_views import stability_view
    from layouts.page_parts import coherence_options

    monkeypatch.setenv("NNVIS_WORKSPACES", str(digits_workspace.path))
    analysis = Analysis(Workspace(digits_workspace.path))
    for setting in ("independent", "chain"):
        sequence(analysis, "epochs", "hidden1", "pca", setting)
    stability, tradeoff = stability_view(0, "epochs", "hidden1", "pca", "chain")
    chained = sequence(analysis, "epochs", "hidden1", "pca")
    assert list(stability.data[3].y) == pytest.approx(chained["temporal"].tolist(), abs=1e-6)
    assert list(tradeoff.data[0].text) == ["independent", "chain"]
    assert tradeoff.data[0].x[1] == pytest.approx(float(chained["temporal"].mean()), abs=1e-6)
    assert [o["value"] for o in coherence_options("pca") if not o.get("disabled")] == ["independent", "chain"]


@pytest.mark.usefixtures("mnist_dir")
def test_mnist_default_coherence_moves_what_changed_and_keeps_nh(mnist_paper_workspace):
    analysis = Analysis(Workspace(mnist_paper_workspace))
    found = sequence(analysis, "epochs", analysis.layers[-1], "tsne")  # the default setting
    independent = sequence(analysis, "epochs", analysis.layers[-1], "tsne", "independent")
    print(f"temporal preservation {found['temporal']} (independent: {independent['temporal']}), "
          f"NH {found['nh']} vs independent {found['nh_independent']}")
    # measured: damped λ 0.5 (the default) 0.54, 0.62, 0.66; tied λ 0.9 (the default before) 0.30, 0.45, 0.47;
    # independent frames -0.18, -0.06, -0.03
    assert np.nanmean(found["temporal"]) >= 0.35 and found["temporal"].min() > independent["temporal"].max() + 0.2
    assert np.abs(found["nh"] - found["nh_independent"]).max() <= 0.02


def test_default_coherence_moves_what_changed_more_than_the_chain_and_keeps_nh(digits_workspace):
    """The default (damped attraction) on real data: its frames' movement follows the change of
    neighbourhoods more closely than chained frames do, and their NH stays that of independent
    projections within 0.02 (the issue's bound): no frame is more than 0.02 below, nor the mean
    off by more (with 300 observations a frame can also come out above: +0.038 measured)."""
    from nnvis.projection.trails import DEFAULT_ATTRACTION

    assert DEFAULT_ATTRACTION == "damped-0.5"
    analysis = Analysis(Workspace(digits_workspace.path))
    default = sequence(analysis, "epochs", "hidden4", "tsne")
    chained = sequence(analysis, "epochs", "hidden4", "tsne", "chain")
    print(f"temporal preservation: default {default['temporal']}, chained {chained['temporal']}; "
          f"NH {default['nh']} vs independent {default['nh_independent']}")
    # measured: default 0.60 / 0.50, chained 0.09 / -0.17
    assert np.nanmean(default["temporal"]) > np.nanmean(chained["temporal"]) + 0.2
    gap = default["nh"] - default["nh_independent"]
    assert gap.min() >= -0.02 and abs(gap.mean()) <= 0.02


def test_damped_attraction_settings_and_their_errors():
    from nnvis.errors import NNVisError
    from nnvis.projection.trails import attraction_of, check_coherence

    assert check_coherence("damped-0.50", "tsne") == "damped-0.5" and attraction_of("damped-0.5") == (0.5, True)
    assert attraction_of(check_coherence("0.30", "tsne")) == (0.3, False)
    for method, bad in [("tsne", "damped-1"), ("tsne", "damped-"), ("umap", "damped-0.5"), ("tsne", "damped0.5")]:
        with pytest.raises(NNVisError, match="after 'damped-'" if method == "tsne" else "allowed: independent, chain"):
            check_coherence(bad, method)
