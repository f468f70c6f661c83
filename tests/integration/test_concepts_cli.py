"""`nnvis concepts` and `nnvis faithfulness` on a small real run (scikit-learn's digits, a
small CNN trained 2 epochs): the JSON the issue names, the atlas stored and reused, and one line
for each bad input."""

import json

import numpy as np
import pytest
from torch import nn

from nnvis.cli.commands import main

MODEL = "tests.integration.test_concepts_cli:small_cnn"


class SmallCNN(nn.Module):
    """8x8 grey digits: conv1 (8 maps 8x8), conv2 (16 maps 4x4, after a pool), fc1 (32), output."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.conv2 = nn.Sequential(nn.Conv2d(8, 16, 3, padding=1), nn.ReLU())
        self.fc1 = nn.Sequential(nn.Flatten(), nn.Linear(16 * 4 * 4, 32), nn.ReLU())
        self.output = nn.Linear(32, 10)

    def forward(self, x):
        return self.output(self.fc1(self.conv2(self.conv1(x))))


def small_cnn() -> nn.Module:
    return SmallCNN()


def digits_cnn_workspace(tmp_path_factory):
    """A digits run of the small CNN (2 epochs, 120 observations, conv2 and fc1): its folder."""
    from nnvis.workspace.pipeline import run
    from nnvis.workspace.workspace import RunConfig

    path = tmp_path_factory.mktemp("ws") / "digits-cnn"
    config = RunConfig(dataset="digits", model=MODEL, epochs=2, subset=120, projection="pca", device="cpu",
                       layers="conv2,fc1", seed=0)
    return run(config, path).path


@pytest.fixture(scope="module")
def cnn_workspace(tmp_path_factory):
    return digits_cnn_workspace(tmp_path_factory)


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(capsys, *argv) -> str:
    code, out, err = run_cli(capsys, *argv)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "Traceback" not in err and out == "", err
    return lines[0]


def test_concepts_json_is_the_issues_and_the_atlas_is_stored(cnn_workspace, capsys):
    argv = ("concepts", "--workspace", cnn_workspace, "--layer", "conv2", "--k", "4", "--images", "100", "--json")
    code, out, err = run_cli(capsys, *argv)
    assert code == 0, err
    figures = json.loads(out)
    assert list(figures) == ["layer", "epoch", "k", "r2", "accuracy", "accuracy_reconstructed", "concepts",
                             "deletion"]
    assert figures["layer"] == "conv2" and figures["epoch"] == 2 and figures["k"] == 4
    assert 0 < figures["r2"] <= 1 and 0 <= figures["accuracy_reconstructed"] <= 1
    assert len(figures["concepts"]) == 4
    assert sum(c["share"] for c in figures["concepts"]) == pytest.approx(1.0, abs=1e-5)
    concept = figures["concepts"][0]
    assert list(concept) == ["id", "share", "exemplars", "importance"]
    assert list(concept["importance"]) == [str(d) for d in range(10)]
    exemplar = concept["exemplars"][0]
    assert list(exemplar) == ["observation", "y", "x"] and 0 <= exemplar["y"] < 4 and 0 <= exemplar["x"] < 4
    assert all(set(drop) == {"top", "random"} for drop in figures["deletion"].values())

    from nnvis.concepts import atlas as concepts
    from nnvis.workspace.analysis import Analysis
    from nnvis.workspace.workspace import Workspace

    analysis = Analysis(Workspace(cnn_workspace))
    request = concepts.Request(analysis, "conv2", None, 4, 0, 100)
    assert concepts.has_atlas(request)
    stored = concepts.atlas(request)  # read back, not recomputed
    assert analysis.store.misses == 0 and analysis.store.hits >= 1
    assert stored["components"].shape == (4, 16) and stored["strength"].shape == (100, 4)
    assert figures["accuracy"] == pytest.approx(float(stored["accuracy"]))
    # an exemplar is its concept's strongest position in that image
    heat = concepts.heat_maps(request, analysis.subset()["images"][[exemplar["observation"]]])
    assert heat.shape == (1, 4, 4, 4)
    assert np.unravel_index(heat[0, 0].argmax(), (4, 4)) == (exemplar["y"], exemplar["x"])
    # the accuracy is the model's own on those images
    rows = stored["observations"]
    predicted = analysis.probabilities(2)[rows].argmax(axis=1)
    assert float(stored["accuracy"]) == pytest.approx(float((predicted == analysis.labels[rows]).mean()))


def test_concepts_matched_across_epochs(cnn_workspace, capsys):
    code, out, err = run_cli(capsys, "concepts", "--workspace", cnn_workspace, "--layer", "conv2", "--k", "3",
                             "--images", "60", "--match", "--json")
    assert code == 0, err
    matching = json.loads(out)["matching"]
    assert [(m["from"], m["to"]) for m in matching] == [(0, 1), (1, 2)]
    for pair in matching:
        assert sorted(pair["partner"]) == [0, 1, 2]
        assert -1 <= pair["mean_score"] <= 1 and len(pair["score"]) == 3


def test_faithfulness_json(cnn_workspace, capsys):
    code, out, err = run_cli(capsys, "faithfulness", "--workspace", cnn_workspace, "--method", "gradient",
                             "--observations", "0-3", "--json")
    assert code == 0, err
    figures = json.loads(out)
    assert list(figures) == ["method", "deletion_auc", "insertion_auc", "random_deletion_auc",
                             "random_insertion_auc", "randomisation_similarity"]
    assert figures["method"] == "gradient"
    assert all(0 <= figures[name] <= 1 for name in ("deletion_auc", "insertion_auc", "random_deletion_auc",
                                                     "random_insertion_auc"))
    assert -1 <= figures["randomisation_similarity"] <= 1


def test_bad_input_is_one_line(cnn_workspace, capsys):
    line = one_line_error(capsys, "concepts", "--workspace", cnn_workspace, "--layer", "fc1", "--json")
    assert "needs a layer with spatial positions" in line and "conv2" in line and "fc1" in line
    line = one_line_error(capsys, "concepts", "--workspace", cnn_workspace, "--layer", "conv2", "--k", "0")
    assert "--k 0 is out of range; allowed: 1..16" in line
    line = one_line_error(capsys, "concepts", "--workspace", cnn_workspace, "--layer", "conv2", "--epoch", "7")
    assert "epoch 7" in line and "allowed: 0, 1, 2" in line
    line = one_line_error(capsys, "concepts", "--workspace", cnn_workspace, "--layer", "conv9")
    assert "unknown layer 'conv9'" in line
    line = one_line_error(capsys, "faithfulness", "--workspace", cnn_workspace, "--method", "occlusion")
    assert "has no faithfulness or randomisation check" in line and "gradient, guided, integrated" in line
    line = one_line_error(capsys, "faithfulness", "--workspace", cnn_workspace, "--method", "gradient",
                          "--observations", "0-500")
    assert "500 is out of range" in line
    line = one_line_error(capsys, "faithfulness", "--workspace", cnn_workspace, "--method", "gradient",
                          "--layer", "conv2")
    assert "--layer and --unit together" in line
