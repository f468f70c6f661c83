"""Model building and weight loading: state_dicts with weights_only=True, TorchScript, bad files."""

import pickle

import numpy as np
import pytest
import torch

from nnvis.errors import NNVisError
from nnvis.models.zoo import build_model, read_state_dict, weights_hash


def test_paper_mlp_matches_the_paper():
    module = build_model("mlp", image_shape=(28, 28), n_classes=10).module
    widths = [getattr(module, f"hidden{i}")[0].out_features for i in range(1, 5)]
    assert widths == [1000] * 4 and module.hidden1[0].in_features == 784 and module.output.out_features == 10


def test_state_dict_round_trip_and_hash(tmp_path):
    torch.manual_seed(1)
    model = build_model("mlp", image_shape=(8, 8), n_classes=10)
    path = tmp_path / "w.pt"
    torch.save(model.module.state_dict(), path)
    torch.manual_seed(2)
    other = build_model("mlp", image_shape=(8, 8), n_classes=10)
    assert weights_hash(other.module) != weights_hash(model.module)
    loaded = build_model("mlp", image_shape=(8, 8), n_classes=10, weights=path)
    assert weights_hash(loaded.module) == weights_hash(model.module)


def test_wrapped_state_dict_is_unwrapped(tmp_path):
    model = build_model("mlp", image_shape=(8, 8), n_classes=10).module
    torch.save({"state_dict": model.state_dict(), "epoch": 3}, tmp_path / "ckpt.pt")
    assert set(read_state_dict(tmp_path / "ckpt.pt")) == set(model.state_dict())


def test_checkpoint_that_does_not_fit(tmp_path):
    torch.save(build_model("mlp", image_shape=(8, 8), n_classes=10).module.state_dict(), tmp_path / "w.pt")
    with pytest.raises(NNVisError, match="does not fit model 'mlp'"):
        build_model("mlp", image_shape=(28, 28), n_classes=10, weights=tmp_path / "w.pt")


class Exploit:
    def __reduce__(self):
        return (print, ("pwned",))


def test_pickled_objects_are_never_unpickled(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"w": torch.zeros(1), "x": Exploit()}, path)
    with pytest.raises(NNVisError, match="not a readable PyTorch checkpoint"):
        read_state_dict(path)
    (tmp_path / "plain.pkl").write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(NNVisError, match="not a readable PyTorch checkpoint"):
        read_state_dict(tmp_path / "plain.pkl")


def test_corrupt_and_missing_files(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"this is not a checkpoint")
    with pytest.raises(NNVisError, match="not a readable PyTorch checkpoint"):
        read_state_dict(tmp_path / "junk.pt")
    with pytest.raises(NNVisError, match="does not exist"):
        read_state_dict(tmp_path / "missing.pt")


def test_torchscript_file_as_model(tmp_path):
    module = build_model("mlp", image_shape=(8, 8), n_classes=10).module.eval()
    path = tmp_path / "scripted.pt"
    torch.jit.trace(module, torch.zeros(1, 1, 8, 8)).save(str(path))
    loaded = build_model(str(path), image_shape=(8, 8), n_classes=10)
    x = torch.rand(3, 1, 8, 8)
    torch.testing.assert_close(loaded.module(x), module(x))


def test_state_dict_file_as_model_is_explained(tmp_path):
    torch.save(build_model("mlp", image_shape=(8, 8), n_classes=10).module.state_dict(), tmp_path / "w.pt")
    with pytest.raises(NNVisError, match="--model ARCH --weights FILE"):
        build_model(str(tmp_path / "w.pt"), image_shape=(8, 8), n_classes=10)


def test_unknown_model_suggests_close_names():
    with pytest.raises(NNVisError, match="resnet18"):
        build_model("resnet81", image_shape=(32, 32, 3), n_classes=10)


def test_a_torchscript_model_is_refused_with_what_to_do_before_any_training(tmp_path):
    """PyTorch runs no forward hooks on a ScriptModule: its layers cannot be captured, so nnvis
    says so (and how to give the Python model) instead of a RuntimeError traceback."""
    from nnvis.models.activations import capture
    from nnvis.workspace.pipeline import prepare
    from nnvis.workspace.workspace import RunConfig, Workspace

    module = build_model("mlp", image_shape=(8, 8), n_classes=10).module.eval()
    path = tmp_path / "traced.pt"
    torch.jit.trace(module, torch.zeros(1, 1, 8, 8)).save(str(path))
    loaded = build_model(str(path), image_shape=(8, 8), n_classes=10)
    with pytest.raises(NNVisError, match="cannot see inside a TorchScript model.*--weights FILE"):
        capture(loaded, np.zeros((2, 8, 8), np.uint8), ["hidden1"])
    workspace = Workspace(tmp_path / "ws")
    with pytest.raises(NNVisError, match="TorchScript"):
        prepare(RunConfig(dataset="digits", model=str(path), epochs=3, subset=20, device="cpu"), workspace)
    assert not (tmp_path / "ws" / "snapshots").exists()  # refused before training
