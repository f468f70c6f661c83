"""The neuron map's scores (AUC class vs rest; the paper's ExtraTrees S(c, j) as an option),
dead units (flagged on the map and in the unit lab, refused by activation maximization), and
`nnvis neurons`: exact values on hand-built activations, then the digits and MNIST runs."""

import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from nnvis.cli.commands import main
from nnvis.errors import NNVisError
from nnvis.projection import neurons as neuron_scores
from nnvis.projection.neurons import best_classes, class_auc, class_means, live_units
from nnvis.projection.neurons import neuron_scores as scores_of
from nnvis.unitlab.actmax import ActMaxParams, actmax_for
from nnvis.unitlab.stats import dead_unit_note
from nnvis.workspace.analysis import Analysis
from nnvis.workspace.workspace import Workspace

LABELS = np.repeat(np.arange(5), 4)  # 5 classes, 4 observations each


def hand_built() -> np.ndarray:
    """20 observations x 3 neurons: neuron 0 fires for class 4 only, neuron 1 never fires,
    neuron 2 fires 1 for class 1 and 2 for class 2."""
    x = np.zeros((20, 3), np.float32)
    x[LABELS == 4, 0] = [1, 2, 3, 0.5]
    x[LABELS == 1, 2] = 1
    x[LABELS == 2, 2] = 2
    return x


def test_auc_of_hand_built_neurons():
    auc = class_auc(hand_built(), LABELS, 5)
    # neuron 0: every class-4 observation beats the 16 others (AUC 1); a class without it has 4 zeros
    # against 12 zeros (ties, half each) and 4 positives: (4 * 12 / 2) / (4 * 16) = 0.375
    np.testing.assert_allclose(auc[:, 0], [0.375, 0.375, 0.375, 0.375, 1.0])
    np.testing.assert_allclose(auc[:, 1], 0.5)  # the dead neuron: all ties
    # neuron 2: class 2 (2s) beats all; class 1 (1s) beats 12 zeros, loses to 4 twos: 48 / 64
    np.testing.assert_allclose(auc[:, 2], [0.25, 0.75, 1.0, 0.25, 0.25])
    live = live_units(hand_built())
    assert live.tolist() == [True, False, True]
    best, score = best_classes(auc, live)
    assert best.tolist() == [4, -1, 2] and score[0] == 1.0 and np.isnan(score[1])
    np.testing.assert_allclose(class_means(hand_built(), LABELS, 5)[:, 0], [0, 0, 0, 0, 1.625])


def test_auc_in_unit_chunks_equals_scikit_learn(monkeypatch):
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 4, 200)
    x = np.maximum(rng.normal(size=(200, 7)) + (labels[:, None] == np.arange(7) % 4), 0).astype(np.float16)
    monkeypatch.setattr(neuron_scores, "UNIT_CHUNK", 3)  # 7 units: chunks of 3, 3 and 1
    auc = class_auc(x, labels, 5)  # class 4 has no observations
    expected = [[roc_auc_score(labels == c, x[:, j].astype(np.float64)) for j in range(7)] for c in range(4)]
    np.testing.assert_allclose(auc[:4], expected, atol=1e-6)
    np.testing.assert_allclose(auc[4], 0.5)
    assert np.isnan(class_means(x, labels, 5)[4]).all()


def test_scorings_and_their_checks():
    auc = scores_of(hand_built(), LABELS, 5)
    np.testing.assert_array_equal(auc, scores_of(hand_built(), LABELS, 5, seed=7))  # no seed in AUC
    forest = scores_of(hand_built(), LABELS, 5, "extratrees", seed=0)
    np.testing.assert_array_equal(forest, scores_of(hand_built(), LABELS, 5, "extratrees", seed=0))
    assert forest[4].argmax() == 0 and forest[:, 1].max() == 0  # a dead neuron is never split on
    with pytest.raises(NNVisError, match="unknown neuron scoring 'forest'; allowed: auc, extratrees"):
        scores_of(hand_built(), LABELS, 5, "forest")


def test_dead_unit_notes():
    assert dead_unit_note(np.zeros(300)) == "never fires on the 300 observations of the subset"
    assert dead_unit_note(np.full(5, 0.25)) == "never varies (its activation is 0.25 on every one) on the 5 " \
                                               "observations of the subset"
    assert dead_unit_note(np.array([0, 0, 0.1])) is None


def test_map_figure_legend_opacity_and_dead_band():
    from layouts.figures import neuron_map_figure

    positions = np.array([[0, 0], [np.nan, np.nan], [1, 1], [2, 0]], np.float32)
    scores = np.array([[0.5, 0.5, 0.25, 1.0], [0.75, 0.5, 1.0, 0.5]], np.float32)  # AUCs
    figure = neuron_map_figure(positions, scores, ["a", "b"], observations=300)
    neurons = figure.data[0]
    assert list(neurons.customdata) == [0, 2, 3]
    # best classes b, b, a with AUC 0.75, 1, 1: opacity 0.12 + 0.88 * (AUC - 0.5) / 0.5
    assert neurons.marker.color == ("rgba(245,133,24,0.560)", "rgba(245,133,24,1.000)", "rgba(76,120,168,1.000)")
    assert [t.name for t in figure.data[1:]] == ["a", "b", "dead: 1"] and figure.layout.showlegend
    dead = figure.data[3]
    assert dead.marker.symbol == "x" and dead.y[0] < 0  # one cross beneath the map, standing for the dead neuron
    assert dead.hovertext == ("1 dead neurons: never active on the 300 observations",)
    assert figure.layout.legend.title.text == "colour: best class<br>opacity: AUC vs rest:<br>faint 0.5 to solid 1"
    assert figure.layout.annotations[0].text == ("1 neurons never active on the 300 observations (grey ×): "
                                                 "no position, no class")
    one_class = neuron_map_figure(positions, scores, ["a", "b"], target_class=1)
    assert one_class.data[0].marker.colorbar.title.text == "AUC(b vs rest)"
    assert [t.name for t in one_class.data] == ["neurons", "dead: 1"] and not one_class.layout.showlegend
    assert (one_class.data[0].marker.cmin, one_class.data[0].marker.cmax) == (0, 1)  # the colour bar, no legend
    forest = neuron_map_figure(positions, scores / 2, ["a", "b"], scoring="extratrees")
    assert forest.data[0].marker.color[1] == "rgba(245,133,24,1.000)"  # S(c, j) relative to the largest
    assert "S(b, j) 0.5000" in forest.data[0].text[1]


def test_neuron_map_is_stored_per_scoring_and_seed(digits_workspace):
    analysis = Analysis(Workspace(digits_workspace.path))
    epoch = analysis.epochs[-1]
    first = analysis.neuron_map("hidden4", epoch)
    x = analysis.activations("hidden4", epoch)
    np.testing.assert_array_equal(first["live"], live_units(x))
    np.testing.assert_array_equal(first["scores"], class_auc(x, analysis.labels, 10))
    assert np.isnan(first["positions"][~first["live"]]).all() and not np.isnan(first["positions"][first["live"]]).any()
    other_seed = analysis.neuron_map("hidden4", epoch, seed=1)
    np.testing.assert_array_equal(other_seed["scores"], first["scores"])  # AUC: the same colours whatever the seed
    stored = [analysis.neuron_map_key("hidden4", epoch), analysis.neuron_map_key("hidden4", epoch, seed=1)]
    forest = analysis.neuron_map_key("hidden4", epoch, "extratrees")
    assert len({*stored, forest}) == 3 and all(key in analysis.store for key in stored) and forest not in analysis.store


def auc_by_pairs(values: np.ndarray, labels: np.ndarray, n_classes: int) -> list[float]:
    """AUC by its definition: over all (class-c, other) pairs of observations, the fraction in
    which the class-c one activates the neuron more, ties counting half."""
    wins = (values[:, None] > values[None, :]) + 0.5 * (values[:, None] == values[None, :])
    return [float(wins[labels == c][:, labels != c].mean()) for c in range(n_classes)]


def run_cli(capsys, *argv):
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_neurons_cli_json_on_the_digits_run(digits_workspace, capsys):
    analysis = Analysis(Workspace(digits_workspace.path))
    epoch = analysis.epochs[-1]
    code, out, _ = run_cli(capsys, "neurons", "--workspace", str(digits_workspace.path), "--layer", "hidden4",
                           "--json")
    assert code == 0
    table = json.loads(out)
    x = analysis.activations("hidden4", epoch).astype(np.float64)
    labels = analysis.labels
    live = x.max(axis=0) > x.min(axis=0)
    assert (table["units"], table["live"], table["dead"]) == (1000, int(live.sum()), int((~live).sum()))
    assert table["epoch"] == epoch and table["seed"] == 0 and table["scoring"] == "auc" and table["observations"] == 300
    positions = analysis.neuron_map("hidden4", epoch)["positions"]
    for neuron in table["neurons"]:
        j = neuron["unit"]
        assert neuron["live"] == bool(live[j])
        means = [x[labels == c, j].mean() for c in range(10)]
        np.testing.assert_allclose(neuron["class_means"], means, atol=2e-6)
        if neuron["live"]:
            auc = auc_by_pairs(x[:, j], labels, 10)
            assert neuron["best_class"] == int(np.argmax(auc)) and neuron["score"] == pytest.approx(max(auc), abs=1e-6)
            assert neuron["best_class_name"] == analysis.classes[neuron["best_class"]]
            assert [neuron["x"], neuron["y"]] == pytest.approx(positions[j].tolist())
        else:
            assert neuron["x"] is neuron["best_class"] is neuron["score"] is None and not any(neuron["class_means"])
    code, other, _ = run_cli(capsys, "neurons", "--workspace", str(digits_workspace.path), "--layer", "hidden4",
                             "--seed", "1", "--json")
    again = json.loads(other)
    assert again["seed"] == 1 and [n["best_class"] for n in again["neurons"]] == \
        [n["best_class"] for n in table["neurons"]]  # the colours do not depend on the seed
    code, text, _ = run_cli(capsys, "neurons", "--workspace", str(digits_workspace.path), "--layer", "hidden4")
    lines = text.splitlines()
    assert lines[0] == f"hidden4, epoch {epoch}, seed 0: 1000 neurons, {live.sum()} live, {(~live).sum()} dead " \
                       "(never active on the 300 observations)"
    assert len(lines) == 4 + 1000 and lines[4 + int(np.flatnonzero(~live)[0])].split()[1:5] == ["-"] * 4


@pytest.mark.parametrize("args, message", [
    (["--layer", "input"], "layer 'input' has pixels, not neurons; allowed: hidden1, hidden2, hidden3, hidden4"),
    (["--layer", "hidden9"], "layer 'hidden9' was not captured"),
    (["--layer", "hidden4", "--epoch", "9"], "epoch 9 was not recorded; allowed: 0, 1, 2"),
    (["--layer", "hidden4", "--scoring", "forest"], "unknown neuron scoring 'forest'; allowed: auc, extratrees"),
])
def test_neurons_cli_bad_input_is_one_line_and_exit_2(digits_workspace, capsys, args, message):
    code, out, err = run_cli(capsys, "neurons", "--workspace", str(digits_workspace.path), *args)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and message in err


def first_dead_unit(analysis: Analysis, layer: str, epoch: int) -> int:
    return int(np.flatnonzero(~live_units(analysis.activations(layer, epoch)))[0])


def test_actmax_refuses_a_dead_unit(digits_workspace, tmp_path, capsys):
    analysis = Analysis(Workspace(digits_workspace.path), device="cpu")
    epoch = analysis.epochs[-1]
    dead = first_dead_unit(analysis, "hidden4", epoch)
    params = ActMaxParams(restarts=1, steps=5)
    with pytest.raises(NNVisError) as error:
        actmax_for(analysis, "hidden4", epoch, dead, params)
    assert str(error.value) == (f"unit {dead} of hidden4 never fires on the 300 observations of the subset: a dead "
                                "unit; activation maximization would only give blank images, so it is not run")
    key = analysis.key("actmax", layer="hidden4", epoch=epoch, method="yosinski2015", unit=dead, **params.as_key())
    assert key not in analysis.store
    code, out, err = run_cli(capsys, "actmax", "--workspace", str(digits_workspace.path), "--layer", "hidden4",
                             "--unit", str(dead), "--steps", "5", "--out", str(tmp_path), "--json")
    assert code == 2 and out == "" and err.strip().endswith("so it is not run") and list(tmp_path.iterdir()) == []


def test_paper_mnist_best_classes_are_reproducible_and_match_the_mean(mnist_paper_workspace):
    """The paper's MNIST MLP (hidden4, last epoch): the map's best class agrees between the
    seeds 0 and 1, between the two halves of the 2,000 digits, and with the class of highest
    mean activation, for at least 90%, 90% and 70% of the live neurons."""
    analysis = Analysis(Workspace(mnist_paper_workspace))
    epoch = analysis.epochs[-1]
    maps = [analysis.neuron_map("hidden4", epoch, seed=seed) for seed in (0, 1)]
    live = maps[0]["live"]
    assert 600 < live.sum() < 1000
    best = [best_classes(m["scores"], live)[0][live] for m in maps]
    assert (best[0] == best[1]).mean() >= 0.9
    assert (best[0] == np.nanargmax(maps[0]["class_means"][:, live], axis=0)).mean() >= 0.7
    x, labels = analysis.activations("hidden4", epoch), analysis.labels
    halves = np.array_split(np.random.default_rng(0).permutation(len(labels)), 2)
    split = [class_auc(x[h][:, live], labels[h], 10).argmax(axis=0) for h in halves]
    assert (split[0] == split[1]).mean() >= 0.9
