"""Validation of the concept atlas and of the saliency faithfulness on real data (issue 27's
"done means"): a small CNN trained in this test's own loop on CIFAR-10 (3,000 images of the
test file, normalised, 3 epochs, CPU), loaded with `nnvis run --checkpoints`, at its last
convolutional layer (features.6, the ReLU after the second convolution, 32 maps of 8x8), on
500 of the 2,000 other images (a seeded sample). The figures are written to $NNVIS_FIGURES (JSON) when set, for
docs/concepts.md."""

import json
import os

import pytest
from torch import nn

from nnvis.cli.commands import main
from tests.tiny_models import CIFAR_NORMALIZE as NORMALIZE
from tests.tiny_models import train_on_cifar

pytestmark = pytest.mark.slow

EPOCHS = 3
IMAGES = 500  # of the 2,000 test images: the atlas of every epoch (for the matching) stays a few minutes
MODEL = "tests.integration.test_concepts_cifar:build"
LAYER = "features.6"


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(2048, 128), nn.ReLU(), nn.Linear(128, 10))

    def forward(self, x):
        return self.head(self.features(x))


def build() -> nn.Module:
    return SmallCNN()


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def workspace(cifar_npz, tmp_path_factory):
    """The loop: 3,000 training images, 2,000 to test (disjoint), Adam, a state_dict per epoch."""
    folder = tmp_path_factory.mktemp("concepts-cifar")
    data, _ = train_on_cifar(cifar_npz, folder, SmallCNN(), seed=7, train=3000, test=2000, epochs=EPOCHS)
    path = folder / "ws"
    from nnvis.workspace.pipeline import run
    from nnvis.workspace.workspace import RunConfig

    run(RunConfig(dataset="npz", data_dir=str(data), model=MODEL, checkpoints=str(folder / "ckpt" / "epoch_*.pt"),
                  normalize=NORMALIZE, projection="pca", device="cpu", subset=2000, layers="features.6,head.2"),
        path, neuron_maps="last")
    return path


@pytest.fixture(scope="module")
def figures():
    found: dict = {}
    yield found
    if os.environ.get("NNVIS_FIGURES"):
        with open(os.environ["NNVIS_FIGURES"], "w") as handle:
            json.dump(found, handle, indent=1)


def test_concept_atlas_of_the_last_conv_layer(workspace, figures, capsys):
    code, out, err = run_cli(capsys, "concepts", "--workspace", workspace, "--layer", LAYER, "--k", 10,
                             "--images", IMAGES, "--match", "--json")
    assert code == 0, err
    atlas = json.loads(out)
    beaten = sorted(name for name, drop in atlas["deletion"].items() if drop["top"] > drop["random"])
    figures["concepts"] = {
        "r2": atlas["r2"], "accuracy": atlas["accuracy"], "accuracy_reconstructed": atlas["accuracy_reconstructed"],
        "shares": [c["share"] for c in atlas["concepts"]], "deletion": atlas["deletion"],
        "classes_where_top_beats_random": beaten,
        "matching": [{k: pair[k] for k in ("from", "to", "mean_score", "score")} for pair in atlas["matching"]]}
    print(json.dumps(figures["concepts"], indent=1))
    assert atlas["accuracy"] > 0.4  # the loop learnt something
    assert atlas["r2"] >= 0.5
    assert abs(atlas["accuracy_reconstructed"] - atlas["accuracy"]) <= 0.05
    assert len(beaten) >= 8, atlas["deletion"]
    assert [(pair["from"], pair["to"]) for pair in atlas["matching"]] == [(e, e + 1) for e in range(EPOCHS)]
    # the trained epochs' concepts follow each other more closely than the untrained net's do to epoch 1
    assert atlas["matching"][-1]["mean_score"] > 0.5


def faithfulness(capsys, workspace, method: str) -> dict:
    code, out, err = run_cli(capsys, "faithfulness", "--workspace", workspace, "--method", method,
                             "--observations", "0-63", "--steps", 16, "--json")
    assert code == 0, err
    return json.loads(out)


def test_integrated_gradients_beat_a_random_ranking(workspace, figures, capsys):
    found = faithfulness(capsys, workspace, "integrated")
    figures["integrated"] = found
    print(found)
    assert found["deletion_auc"] < found["random_deletion_auc"]
    assert found["insertion_auc"] > found["random_insertion_auc"]


def test_guided_backprop_survives_randomisation_more_than_the_gradient(workspace, figures, capsys):
    guided, gradient = faithfulness(capsys, workspace, "guided"), faithfulness(capsys, workspace, "gradient")
    figures["guided"], figures["gradient"] = guided, gradient
    print(guided, gradient)
    assert guided["randomisation_similarity"] > gradient["randomisation_similarity"]
