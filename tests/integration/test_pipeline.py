"""A real run on scikit-learn's digits: snapshots, cached artifacts, summary figures."""

import json

import numpy as np

from nnvis.cli.commands import full_summary
from nnvis.models.layers import INPUT_LAYER
from nnvis.workspace.analysis import Analysis
from nnvis.workspace.pipeline import run
from nnvis.workspace.workspace import RunConfig, Workspace


def test_run_writes_snapshots_and_figures(digits_workspace):
    figures = full_summary(digits_workspace)
    assert figures["missing"] == []
    assert figures["hidden_layers"] == ["hidden1", "hidden2", "hidden3", "hidden4"]
    assert figures["epochs"] == [0, 1, 2]
    assert set(figures["nh"]) == {INPUT_LAYER, "hidden1", "hidden2", "hidden3", "hidden4"}
    assert figures["accuracy"]["2"] > figures["accuracy"]["0"] + 0.3
    assert all(digits_workspace.snapshot_path(e).is_file() for e in (0, 1, 2))
    json.dumps(figures)


def test_second_identical_run_recomputes_nothing(digits_workspace):
    config = digits_workspace.config()
    before = set(digits_workspace.store.cache.iterkeys())
    again = run(config, digits_workspace.path)
    assert set(again.store.cache.iterkeys()) == before
    analysis = Analysis(Workspace(digits_workspace.path))
    analysis.projection("hidden4", 2)
    analysis.neuron_map("hidden4", 2)
    assert analysis.store.misses == 0 and analysis.store.hits == 2
    assert analysis._dataset is None  # answered from the store without loading the data


def test_artifacts_match_a_recomputation(digits_workspace):
    analysis = Analysis(Workspace(digits_workspace.path))
    stored = analysis.activations("hidden2", 1)
    model = analysis.model(1)
    from nnvis.models.activations import capture

    fresh, _ = capture(model, analysis.subset()["images"], ["hidden2"])
    np.testing.assert_array_equal(stored, fresh["hidden2"])
    points = analysis.projection("hidden2", 1)
    assert points["points"].shape == (300, 2) and points["nh"].shape == (300,)
    neurons = analysis.neuron_map("hidden2", 1)
    assert neurons["positions"].shape == (1000, 2) and neurons["scores"].shape == (10, 1000)


def test_changed_settings_retrain(tmp_path):
    config = RunConfig(dataset="digits", model="mlp", epochs=1, subset=50, projection="pca", device="cpu",
                       layers="hidden4")
    first = run(config, tmp_path / "w")
    w1 = first.manifest()["weights"]["1"]
    second = run(RunConfig(**{**config.__dict__, "learning_rate": 1e-2}), tmp_path / "w")
    assert second.manifest()["weights"]["1"] != w1
    assert second.manifest()["weights"]["0"] == first.manifest()["weights"]["0"]
