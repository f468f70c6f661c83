"""Aligned t-SNE frames start from the previous frame's layout, so they run a shorter schedule
(nnvis.projection.trails.ALIGNED_TSNE_ITERATIONS) where their measured NH allows: within
NH_ALLOWANCE of their own projection's, else the rest of the full main phase runs."""

import numpy as np
import pytest

from nnvis.projection import trails
from nnvis.projection.methods import TSNE_ITERATIONS
from nnvis.projection.metrics import neighborhood_hit
from nnvis.workspace.analysis import Analysis
from nnvis.workspace.workspace import Workspace


@pytest.fixture(scope="module")
def layers_at_epoch_2(digits_workspace):
    analysis = Analysis(Workspace(digits_workspace.path))
    views = [(layer, 2) for layer in analysis.layers]
    return (analysis, [analysis.activations(layer, epoch) for layer, epoch in views],
            [analysis.projection(layer, epoch, "tsne")["points"] for layer, epoch in views],
            [analysis.knn_graph(layer, epoch) for layer, epoch in views])


def counted_iterations(monkeypatch) -> list[int]:
    """The n_iter of every openTSNE optimisation phase run from now on."""
    from openTSNE import TSNEEmbedding

    phases, real = [], TSNEEmbedding.optimize

    def optimize(self, n_iter, *args, **kwargs):
        phases.append(n_iter)
        return real(self, n_iter, *args, **kwargs)
    monkeypatch.setattr(TSNEEmbedding, "optimize", optimize)
    return phases


def test_short_schedule_keeps_each_frames_nh_within_001_of_the_full_one(layers_at_epoch_2, monkeypatch):
    analysis, xs, independent, graphs = layers_at_epoch_2
    labels, seed = analysis.labels, analysis.config.seed
    nh = lambda frame: float(neighborhood_hit(frame, labels).mean())  # noqa: E731
    phases = counted_iterations(monkeypatch)
    full = trails.aligned_frames(xs, "tsne", seed=seed, coherence="damped-0.5", independent=independent,
                                 graphs=graphs)  # no labels: the full schedule, as before
    assert phases == list(TSNE_ITERATIONS) * (len(xs) - 1)
    phases.clear()
    short = trails.aligned_frames(xs, "tsne", seed=seed, coherence="damped-0.5", independent=independent,
                                  graphs=graphs, labels=labels)
    assert sum(phases) < sum(TSNE_ITERATIONS) * (len(xs) - 1)  # fewer iterations in all
    assert phases[:2] == list(trails.ALIGNED_TSNE_ITERATIONS)
    for i in range(1, len(xs)):
        print(f"frame {i}: NH full {nh(full[i]):.4f}, short {nh(short[i]):.4f}, own {nh(independent[i]):.4f}")
        assert abs(nh(short[i]) - nh(full[i])) <= 0.01, i
        assert nh(short[i]) >= nh(independent[i]) - trails.NH_ALLOWANCE, i


def test_a_frame_short_of_its_nh_runs_the_rest_of_the_main_phase(layers_at_epoch_2, monkeypatch):
    """An unreachable target (NH 1.01): every initialised frame runs the short schedule, then
    the rest of the full main phase."""
    analysis, xs, independent, graphs = layers_at_epoch_2
    phases = counted_iterations(monkeypatch)
    frame = trails.project_from(xs[1], "tsne", independent[0], seed=analysis.config.seed, graph=graphs[1],
                                labels=analysis.labels, target_nh=1.01)
    early, main = trails.ALIGNED_TSNE_ITERATIONS
    assert phases == [early, main, TSNE_ITERATIONS[1] - main]
    assert frame.shape == (len(xs[1]), 2) and np.isfinite(frame).all()
