"""Comparing two snapshots: the change score on hand-checkable neighbours, movers that are a
known set on real data (a model fine-tuned to confuse two classes), the CLI and bad input."""

import json

import numpy as np
import pytest
import torch

from nnvis.cli import commands as cli
from nnvis.compare.snapshots import (
    class_nh,
    class_verdict,
    comparison,
    has_aligned_projections,
    mover_order,
    nearest_neighbours,
    neighbourhood_change,
    open_pair,
    shared_share,
)
from nnvis.errors import NNVisError

SWAPPED = (3, 5)
LAYER = "hidden4"


def test_nearest_neighbours_on_a_line():
    x = np.array([[0.0], [1.0], [3.0], [7.0], [15.0]], np.float32)
    assert nearest_neighbours(x, 2).tolist() == [[1, 2], [0, 2], [1, 0], [2, 1], [3, 2]]


def test_shared_share_counts_kept_neighbours():
    before = np.array([[1, 2, 3, 4], [0, 2, 3, 4]])
    after = np.array([[4, 3, 2, 1], [5, 6, 7, 2]])
    assert shared_share(before, after).tolist() == [1.0, 0.25]


def test_mover_order_breaks_ties_by_the_wider_neighbourhood():
    change = {"kept": np.array([0.5, 0.1, 0.1, 0.9], np.float32),
              "kept_wide": np.array([0.5, 0.4, 0.2, 0.9], np.float32)}
    assert mover_order(change).tolist() == [2, 1, 0, 3]


def test_class_nh_and_verdicts():
    nh = np.array([1.0, 0.5, 0.0, 0.25])
    assert class_nh(nh, np.array([0, 0, 2, 2]), 3)[[0, 2]].tolist() == [0.75, 0.125]
    assert np.isnan(class_nh(nh, np.array([0, 0, 2, 2]), 3)[1])
    assert [class_verdict(0.5, 0.9), class_verdict(0.9, 0.5), class_verdict(0.5, 0.51)] == \
        ["separated", "mixed", "same"]


def fine_tune_confusing(module: torch.nn.Module, images, labels, *, epochs: int = 4, seed: int = 0):
    """Adam fine-tuning with the labels of half of the two SWAPPED classes' images exchanged: the
    network must stop telling them apart, so their hidden neighbourhoods mix."""
    from nnvis.models.zoo import images_to_tensor

    rng = np.random.default_rng(seed)
    swap = rng.random(len(labels)) < 0.5
    target = labels.copy()
    target[(labels == SWAPPED[0]) & swap], target[(labels == SWAPPED[1]) & swap] = SWAPPED[1], SWAPPED[0]
    x, y = images_to_tensor(images, 1), torch.as_tensor(target)
    optimiser = torch.optim.Adam(module.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(seed + 1)
    module.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), 128):
            batch = order[start:start + 128]
            optimiser.zero_grad()
            torch.nn.functional.cross_entropy(module(x[batch]), y[batch]).backward()
            optimiser.step()
    module.eval()
    return module


@pytest.fixture(scope="module")
def confused_pair(tmp_path_factory):
    """Two workspaces over all 540 digits test observations: A, the paper's MLP trained 10
    epochs; B, A fine-tuned 4 epochs to confuse 3 and 5 (weights loaded, no training)."""
    from nnvis.workspace.analysis import Analysis
    from nnvis.workspace.pipeline import prepare
    from nnvis.workspace.workspace import RunConfig, Workspace

    root = tmp_path_factory.mktemp("compare")
    first = Workspace(root / "trained")
    dataset = prepare(RunConfig(dataset="digits", model="mlp", epochs=10, snapshot_every=10, layers=LAYER,
                                projection="pca", device="cpu"), first)
    model = Analysis(first, dataset=dataset).model(10)
    fine_tune_confusing(model.module, dataset.train_images, dataset.train_labels)
    weights = root / "confused.pt"
    torch.save(model.module.state_dict(), weights)
    second = Workspace(root / "confused")
    prepare(RunConfig(dataset="digits", model="mlp", weights=str(weights), epochs=0, layers=LAYER,
                      projection="pca", device="cpu"), second)
    return first.path, second.path


def test_top_movers_are_the_confused_classes(confused_pair, capsys):
    a, b = open_pair(list(confused_pair), [LAYER], [10, 0])
    assert not has_aligned_projections(a, b, "pca")
    labels = a.analysis.labels
    known = np.isin(labels, SWAPPED)
    assert known.sum() == 123 and len(labels) == 540
    result = comparison(a, b, "pca")
    movers = [m["index"] for m in result["movers"]]
    precision = known[movers].mean()
    assert len(movers) == 50 and precision >= 0.8, precision
    kept = neighbourhood_change(a, b)["kept"]
    assert kept[known].mean() < kept[~known].mean() - 0.1
    assert has_aligned_projections(a, b, "pca")
    # the command line says the same, from the store
    assert cli.main(["compare", "--workspace", str(confused_pair[0]), "--workspace", str(confused_pair[1]),
                     "--layer", LAYER, "--epoch", "10", "--epoch", "0", "--json", "--top", "20"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [m["index"] for m in printed["movers"]] == movers[:20]
    first = printed["movers"][0]
    assert first["kept"] == pytest.approx(float(kept[first["index"]])) and first["change"] == \
        pytest.approx(1 - first["kept"])
    assert first["class"] == str(labels[first["index"]])
    predicted_b, _ = b.analysis.predictions(0)
    assert first["prediction_b"] == str(predicted_b[first["index"]])
    assert set(printed["nh_per_class"]["a"]) == {str(c) for c in range(10)}
    assert printed["nh_per_class"]["b"] == result["nh_per_class"]["b"]


def test_two_epochs_of_one_workspace(digits_workspace, capsys):
    path = str(digits_workspace.path)
    assert cli.main(["compare", "--workspace", path, "--layer", LAYER, "--epoch", "0", "--epoch", "2"]) == 0
    text = capsys.readouterr().out
    assert "top 50 movers" in text and "NH A" in text
    a, b = open_pair([path], [LAYER], [0, 2])
    hits = a.analysis.store.hits
    result = comparison(a, b, "pca", top=5)
    assert a.analysis.store.hits > hits  # read back, not computed again
    kept = neighbourhood_change(a, b)["kept"]
    assert [m["kept"] for m in result["movers"]] == pytest.approx(np.sort(kept)[:5].tolist())
    # the first side is the explore page's projection; the second is rotated onto it
    projection = a.analysis.projection(LAYER, 0, "pca")["points"]
    from nnvis.compare.snapshots import aligned_projections
    pair = aligned_projections(a, b, "pca")
    assert np.array_equal(pair["a"], projection)
    own = b.analysis.projection(LAYER, 2, "pca")["points"]
    assert np.linalg.norm(pair["b"] - pair["a"]) <= np.linalg.norm(own - pair["a"]) + 1e-6


def one_line_error(capsys, argv, *needles):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    for needle in needles:
        assert needle in err[0], err[0]


def test_bad_input(digits_workspace, confused_pair, tmp_path, capsys):
    path = str(digits_workspace.path)
    base = ["compare", "--workspace", path, "--layer", LAYER]
    one_line_error(capsys, base + ["--epoch", "2"], "nothing to compare", "--epoch")
    one_line_error(capsys, base + ["--epoch", "0", "--epoch", "7"], "no snapshot for epoch 7", "[0, 1, 2]")
    one_line_error(capsys, base + ["--epoch", "0", "--epoch", "1", "--epoch", "2"], "--epoch was given 3 times")
    one_line_error(capsys, ["compare", "--workspace", path, "--layer", "nope", "--epoch", "0", "--epoch", "2"],
                   "layer 'nope' was not captured", "hidden4")
    one_line_error(capsys, base + ["--epoch", "0", "--epoch", "2", "--top", "0"], "--top must be at least 1")
    one_line_error(capsys, base + ["--epoch", "0", "--epoch", "2", "--projection", "lda"], "unknown projection",
                   "tsne")
    # same data set, another subset (300 vs 540 observations)
    one_line_error(capsys, ["compare", "--workspace", path, "--workspace", str(confused_pair[0]), "--layer", LAYER,
                            "--epoch", "2", "--epoch", "10"], "different observations", "300 observations",
                   "540 observations")
    one_line_error(capsys, ["compare", "--workspace", path, "--workspace", str(tmp_path), "--layer", LAYER,
                            "--epoch", "2"], "not an nnvis workspace")


def test_different_data_sets_are_refused(confused_pair, tmp_path):
    from nnvis.workspace.pipeline import prepare
    from nnvis.workspace.workspace import RunConfig, Workspace

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "blobs.npz", x=rng.integers(0, 255, (40, 8, 8), dtype=np.uint8), y=np.arange(40) % 10)
    other = Workspace(tmp_path / "other")
    prepare(RunConfig(dataset="npz", data_dir=str(tmp_path / "blobs.npz"), model="mlp", epochs=0, layers=LAYER,
                      projection="pca", device="cpu"), other)
    with pytest.raises(NNVisError, match="different data sets .*digits-.* vs npz-"):
        open_pair([confused_pair[0], other.path], [LAYER], [10, 0])
