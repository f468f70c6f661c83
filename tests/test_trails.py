"""Trails: Procrustes alignment, aligned sequences, bundling, on exact cases and real runs."""

import numpy as np
import pytest

from nnvis.analysis import Analysis
from nnvis.evolution import bundled_trails, sequence
from nnvis.trails import bundle_trails, mean_displacement, procrustes_onto, resample
from nnvis.workspace import Workspace


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
    assert all(b >= a for a, b in zip(by_layer, by_layer[1:])), by_layer  # deeper separates better
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

    probe = ("import json, nnvis.trails as t; t.cached_hammer_bundle(); import datashader.bundling as b; "
             "s = b.distance_between.stats; print(json.dumps([sum(s.cache_hits.values()), "
             "sum(s.cache_misses.values())]))")
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba")}

    def hits_and_misses() -> list[int]:
        result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
        return json.loads(result.stdout.strip().splitlines()[-1])

    assert hits_and_misses() == [0, 1]  # compiled and stored
    assert list((tmp_path / "numba").glob("datashader_*/bundling.distance_between*.nbi"))
    assert hits_and_misses() == [1, 0]  # loaded, not compiled
