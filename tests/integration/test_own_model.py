"""A model of one's own, trained elsewhere: a small CNN (conv/BatchNorm/ReLU `features`, a
`head` of Flatten, Linear, ReLU, Dropout, Linear) trained in a plain PyTorch loop on CIFAR-10
with per-channel normalisation, one state_dict per epoch; then `nnvis run --checkpoints
--normalize` must give the loop's own accuracies and capture the penultimate layer."""

import json

import numpy as np
import pytest
import torch
from torch import nn

from nnvis.cli.commands import main
from tests.tiny_models import CIFAR_MEAN, CIFAR_STD, cifar_normalised, train_on_cifar
from tests.tiny_models import CIFAR_NORMALIZE as NORMALIZE

EPOCHS = 3
MODEL = "tests.integration.test_own_model:build"


class UserNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(2048, 128), nn.ReLU(), nn.Dropout(0.3), nn.Linear(128, 10))

    def forward(self, x):
        return self.head(self.features(x))


def build() -> nn.Module:
    """The `--model tests.integration.test_own_model:build` factory."""
    return UserNet()


@pytest.fixture(scope="module")
def trained(cifar_npz, tmp_path_factory):
    """The user's own loop: 2,000 training images split off the CIFAR-10 test file, 1,000 to
    test, Adam, a state_dict per epoch (epoch 0 the initial weights); returns the folder, the
    data file and the loop's own test accuracy per epoch."""
    folder = tmp_path_factory.mktemp("own")
    data, accuracies = train_on_cifar(cifar_npz, folder, UserNet(), seed=1, train=2000, test=1000, epochs=EPOCHS)
    return folder, data, accuracies


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_checkpoints_with_normalisation_match_the_users_own_loop(trained, capsys):
    folder, data, accuracies = trained
    assert accuracies[EPOCHS] > accuracies[0] + 0.1  # the loop learnt something
    workspace = folder / "ws"
    code, _, err = run_cli(capsys, "run", "--dataset", "npz", "--data-dir", str(data),
                           "--model", MODEL, "--checkpoints", str(folder / "ckpt" / "epoch_*.pt"),
                           "--normalize", NORMALIZE, "--projection", "pca", "--device", "cpu", "--subset", "500",
                           "--neuron-maps", "last",
                           "--workspace", str(workspace))
    assert code == 0, err
    code, out, err = run_cli(capsys, "summary", "--workspace", str(workspace), "--json")
    figures = json.loads(out)
    assert figures["epochs"] == list(range(EPOCHS + 1))
    for epoch, expected in accuracies.items():
        assert abs(figures["accuracy"][str(epoch)] - expected) <= 0.005, (epoch, figures["accuracy"], accuracies)
    assert "head.2" in figures["hidden_layers"] and "head.4" not in figures["hidden_layers"]
    assert figures["nh"]["head.2"][str(EPOCHS)] > figures["nh"]["head.2"]["0"]
    manifest = json.loads((workspace / "workspace.json").read_text())
    assert manifest["config"]["normalize"] == NORMALIZE


def test_without_normalize_the_same_checkpoint_scores_differently(trained, capsys):
    """The same checkpoint fed raw pixels: the workspace records it, and its accuracy is not the loop's."""
    folder, data, accuracies = trained
    code, _, err = run_cli(capsys, "run", "--dataset", "npz", "--data-dir", str(data),
                           "--model", MODEL, "--checkpoints", str(folder / "ckpt" / "epoch_3.pt"),
                           "--layers", "head.2", "--projection", "pca", "--device", "cpu",
                           "--workspace", str(folder / "raw"))
    assert code == 0, err
    code, out, _ = run_cli(capsys, "summary", "--workspace", str(folder / "raw"), "--json")
    assert abs(json.loads(out)["accuracy"]["3"] - accuracies[3]) > 0.005


def test_layers_marks_the_penultimate_layer(capsys):
    code, out, err = run_cli(capsys, "layers", "--model", MODEL, "--dataset", "digits")
    assert code == 0, err
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert "[default]" in lines["head.2"] and "input of the last Linear" in lines["head.2"]
    assert "[default]" in lines["features.2"] and "[default]" not in lines["head.4"]
    assert "[default]" not in lines["features"] and "[default]" not in lines["head"]


def one_line_error(capsys, argv, *needles):
    code, _, err = run_cli(capsys, *argv)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("normalize, needles", [
    ("0.5/0.25", ["1 mean/std value(s)", "3 input channel(s)", "allowed: 3 value(s)"]),
    ("0.5,0.5,0.5/0.2,0,0.2", ["std of channel 1 is 0", "allowed: std > 0"]),
    ("0.5,0.5/0.2,0.2,0.2", ["2 mean and 3 std values"]),
    ("bright", ["--normalize 'bright' is invalid", "imagenet"]),
])
def test_bad_normalize_is_one_line(trained, capsys, normalize, needles):
    folder, data, _ = trained
    one_line_error(capsys, ["run", "--dataset", "npz", "--data-dir", str(data), "--model", MODEL,
                            "--checkpoints", str(folder / "ckpt"), "--normalize", normalize,
                            "--workspace", str(folder / "bad")], *needles)


def test_bad_checkpoint_series_is_one_line(trained, capsys, tmp_path):
    folder, data, _ = trained
    base = ["run", "--dataset", "npz", "--data-dir", str(data), "--model", "tests.integration.test_own_model:build",
            "--normalize", NORMALIZE, "--workspace", str(tmp_path / "ws"), "--checkpoints"]
    one_line_error(capsys, base + [str(tmp_path / "nothing_*.pt")], "matches no file", "allowed:")
    twice = tmp_path / "twice"
    twice.mkdir()
    state = torch.load(folder / "ckpt" / "epoch_1.pt", weights_only=True)
    torch.save(state, twice / "epoch_1.pt")
    torch.save(state, twice / "model_01.pt")
    one_line_error(capsys, base + [str(twice)], "two files for epoch 1", "epoch_1.pt", "model_01.pt")
    misfit = tmp_path / "misfit"
    misfit.mkdir()
    torch.save(state, misfit / "epoch_1.pt")
    torch.save({**state, "head.1.weight": torch.zeros(128, 99)}, misfit / "epoch_2.pt")
    one_line_error(capsys, base + [str(misfit / "epoch_*.pt")], "epoch_2.pt", "does not fit")


def test_wrapped_checkpoints_load(trained, tmp_path):
    """`state_dict`, `model_state_dict`, `model` and Lightning's prefixed `state_dict` all load."""
    from nnvis.models.zoo import load_weights_into

    folder, _, _ = trained
    state = torch.load(folder / "ckpt" / "epoch_2.pt", weights_only=True)
    wrapped = {"state_dict": state, "model_state_dict": state, "model": state,
               "lightning": {"state_dict": {f"model.{k}": v for k, v in state.items()}, "epoch": 2}}
    for name, content in wrapped.items():
        path = tmp_path / f"{name}.ckpt"
        torch.save(content if name == "lightning" else {name: content, "epoch": 2}, path)
        model = UserNet()
        load_weights_into(model, path, "usernet")
        assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items()), name


def test_recorder_makes_the_workspace_nnvis_run_makes(trained, capsys):
    """A 3-epoch loop with `Recorder`: its workspace's summary equals `nnvis run --checkpoints`
    on the snapshots it saved (accuracies and NH to 1e-6)."""
    from nnvis import Recorder

    folder, full, _ = trained
    data = folder / "small.npz"  # 500 to train on, 300 to test: a quick pair of runs
    with np.load(full) as npz:
        np.savez(data, x_train=npz["x_train"][:500], y_train=npz["y_train"][:500], x_test=npz["x_test"][:300],
                 y_test=npz["y_test"][:300])
        x, y = cifar_normalised(npz["x_train"][:500]), torch.from_numpy(npz["y_train"][:500])
    torch.manual_seed(1)
    model = UserNet()
    optimiser = torch.optim.Adam(model.parameters(), lr=2e-3)
    options = {"data_dir": str(data), "subset": 300, "layers": "head.2", "projection": "pca", "device": "cpu",
               "neuron_maps": "last"}
    with Recorder(folder / "recorded", model, dataset="npz", normalize=(CIFAR_MEAN, CIFAR_STD), **options) as rec:
        for epoch in range(EPOCHS + 1):
            if epoch:
                model.train()
                for index in torch.randperm(len(y)).split(64):
                    optimiser.zero_grad()
                    nn.functional.cross_entropy(model(x[index]), y[index]).backward()
                    optimiser.step()
            rec.snapshot(epoch)
    # one copy of each state_dict (issue 26: checkpoints/ and snapshots/ held two)
    assert not (folder / "recorded" / "checkpoints").exists()
    assert sorted(p.name for p in (folder / "recorded" / "snapshots").iterdir()) == [
        f"epoch_{e:04d}.pt" for e in range(EPOCHS + 1)]
    code, out, err = run_cli(capsys, "summary", "--workspace", str(folder / "recorded"), "--json")
    recorded = json.loads(out)
    code, _, err = run_cli(capsys, "run", "--dataset", "npz", "--data-dir", str(data), "--model", MODEL,
                           "--checkpoints", str(folder / "recorded" / "snapshots"), "--normalize", NORMALIZE,
                           "--subset", "300", "--layers", "head.2", "--projection", "pca", "--device", "cpu",
                           "--neuron-maps", "last",
                           "--workspace", str(folder / "by-cli"))
    assert code == 0, err
    code, out, err = run_cli(capsys, "summary", "--workspace", str(folder / "by-cli"), "--json")
    by_cli = json.loads(out)
    assert recorded["epochs"] == by_cli["epochs"] == [0, 1, 2, 3]
    assert recorded["model"] == "tests.integration.test_own_model:UserNet"
    for epoch in map(str, recorded["epochs"]):
        assert recorded["accuracy"][epoch] == pytest.approx(by_cli["accuracy"][epoch], abs=1e-6)
        assert recorded["nh"]["head.2"][epoch] == pytest.approx(by_cli["nh"]["head.2"][epoch], abs=1e-6)
    assert recorded["accuracy"]["3"] > recorded["accuracy"]["0"] + 0.05


def test_recorder_refuses_what_it_cannot_rebuild(tmp_path):
    from nnvis import Recorder
    from nnvis.errors import NNVisError

    class Local(nn.Module):
        def __init__(self, width):
            super().__init__()
            self.fc = nn.Linear(width, 2)

    with pytest.raises(NNVisError, match="model_spec='module:function'"):
        Recorder(tmp_path / "w", Local(3), dataset="digits")
    with pytest.raises(NNVisError, match="unknown Recorder option"):
        Recorder(tmp_path / "w", UserNet(), dataset="digits", epochz=3)
    with pytest.raises(NNVisError, match="no snapshot was recorded"):
        with Recorder(tmp_path / "w", UserNet(), dataset="digits"):
            pass


def test_data_that_cannot_fit_the_model_is_one_line(trained, capsys, tmp_path):
    """8x8 grey digits for a network built for 32x32 colour: the error names the data and the model."""
    folder, _, _ = trained
    one_line_error(capsys, ["run", "--dataset", "digits", "--model", MODEL, "--checkpoints", str(folder / "ckpt"),
                            "--workspace", str(tmp_path / "ws")],
                   "cannot take the data's 8x8 images", MODEL, "--image-size")
    one_line_error(capsys, ["run", "--dataset", "digits", "--model", MODEL, "--checkpoints", str(folder / "ckpt"),
                            "--image-size", "32", "--normalize", "0.5,0.5/0.2,0.2",
                            "--workspace", str(tmp_path / "ws")],
                   "2 mean/std value(s)", "the model takes 3 input channel(s) (the data has 1)")
