"""Pretrained torchvision weights by name, read from a temporary TORCH_HOME (nothing goes to
the network): the weights load, bring their transforms unless overridden, and their absence
is one line naming the file and the folder."""

import json

import numpy as np
import pytest
import torch
import torchvision

from nnvis.cli.commands import main

WEIGHTS_FILE = "resnet18-f37072fd.pth"  # the file name of torchvision's ResNet18_Weights.IMAGENET1K_V1 URL


@pytest.fixture(scope="module")
def few_images(cifar_npz, tmp_path_factory):
    with np.load(cifar_npz) as npz:
        x, y = npz["x"][::1000], npz["y"][::1000]  # one image per class
    path = tmp_path_factory.mktemp("few") / "few.npz"
    np.savez(path, x_train=x[:4], y_train=y[:4], x_test=x[4:], y_test=y[4:])
    return path


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    return tmp_path / "torch-home"


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_weights_by_name_load_from_torch_home_with_their_transforms(few_images, torch_home, tmp_path):
    torch.manual_seed(5)
    state = torchvision.models.resnet18(num_classes=1000).state_dict()
    (torch_home / "hub" / "checkpoints").mkdir(parents=True)
    torch.save(state, torch_home / "hub" / "checkpoints" / WEIGHTS_FILE)
    from nnvis.workspace.analysis import Analysis
    from nnvis.workspace.pipeline import prepare
    from nnvis.workspace.workspace import RunConfig, Workspace

    workspace = tmp_path / "ws"  # prepared (snapshot and manifest), as `nnvis run` starts; no projections
    prepare(RunConfig(dataset="npz", data_dir=str(few_images), model="resnet18", weights="IMAGENET1K_V1", epochs=0,
                      layers="avgpool", device="cpu"), Workspace(workspace))
    manifest = json.loads((workspace / "workspace.json").read_text())
    config = manifest["config"]
    assert (config["normalize"], config["image_size"], config["crop"]) == (
        "0.485,0.456,0.406/0.229,0.224,0.225", 256, 224)
    assert manifest["image_shape"] == [224, 224, 3] and manifest["n_outputs"] == 1000
    snapshot = torch.load(workspace / "snapshots" / "epoch_0000.pt", weights_only=True)
    assert all(torch.equal(snapshot[k], v) for k, v in state.items())
    analysis = Analysis(Workspace(workspace))  # the model is rebuilt with the weights' 1000 classes
    assert analysis.probabilities(0).shape == (6, 1000)
    # a preprocessing value the user gives wins over the weights' own
    prepare(RunConfig(dataset="npz", data_dir=str(few_images), model="resnet18", weights="DEFAULT", crop=200,
                      epochs=0, layers="avgpool", device="cpu"), Workspace(tmp_path / "ws2"))
    manifest = json.loads((tmp_path / "ws2" / "workspace.json").read_text())
    assert (manifest["config"]["image_size"], manifest["config"]["crop"]) == (256, 200)
    assert manifest["image_shape"] == [200, 200, 3]


def test_absent_weights_are_one_line_naming_file_and_folder(few_images, torch_home, tmp_path, capsys):
    code, _, err = run(capsys, "run", "--dataset", "npz", "--data-dir", str(few_images), "--model", "resnet18",
                       "--weights", "IMAGENET1K_V1", "--epochs", "0", "--workspace", str(tmp_path / "ws"))
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert WEIGHTS_FILE in lines[0] and str(torch_home / "hub" / "checkpoints") in lines[0]
    code, _, err = run(capsys, "run", "--dataset", "npz", "--data-dir", str(few_images), "--model", "resnet18",
                       "--weights", "IMAGENET1K_V9", "--epochs", "0", "--workspace", str(tmp_path / "ws"))
    assert code == 2 and "allowed: IMAGENET1K_V1, DEFAULT" in err, err
