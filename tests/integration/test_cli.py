"""The command line: figures as JSON, layers listing, and one-line errors with exit status 2."""

import json
import subprocess
import sys

import pytest
import torch

from tests.conftest import ROOT


def nnvis(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "nnvis.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=600)


def test_summary_json(digits_workspace):
    result = nnvis("summary", "--workspace", str(digits_workspace.path), "--json")
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["dataset"] == "digits" and figures["subset"] == 300
    assert 0.0 < figures["nh"]["input"]["0"] <= 1.0


def test_layers_lists_module_paths():
    result = nnvis("layers", "--model", "cnn", "--dataset", "digits")
    assert result.returncode == 0, result.stderr
    assert "fc1  Sequential  [default]" in result.stdout and "conv1.0  Conv2d" in result.stdout


def one_line_error(result, *needles):
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.mark.parametrize("args, needles", [
    (["--dataset", "mnsit", "--model", "mlp"], ["unknown dataset 'mnsit'", "mnist"]),
    (["--dataset", "digits", "--model", "resnet81"], ["unknown model 'resnet81'", "resnet18"]),
    (["--dataset", "mnist", "--data-dir", "/nonexistent/x", "--model", "mlp"], ["/nonexistent/x"]),
    (["--dataset", "digits", "--model", "mlp", "--layers", "hiden2"], ["unknown layer 'hiden2'", "hidden2"]),
    (["--dataset", "digits", "--model", "mlp", "--subset", "5000"], ["--subset 5000", "540"]),
    (["--dataset", "digits", "--model", "mlp", "--projection", "lle"], ["allowed: tsne, umap, pca"]),
    (["--dataset", "digits", "--model", "mlp", "--device", "tpu"], ["allowed: auto, cpu, cuda"]),
])
def test_bad_run_input_is_one_line_exit_2(tmp_path, args, needles):
    one_line_error(nnvis("run", *args, "--epochs", "0", "--workspace", str(tmp_path / "w")), *needles)


def test_checkpoint_that_does_not_fit_and_corrupt_file(tmp_path):
    from nnvis.models.zoo import build_model

    torch.save(build_model("mlp", image_shape=(28, 28), n_classes=10).module.state_dict(), tmp_path / "big.pt")
    (tmp_path / "junk.pt").write_bytes(b"\x00garbage")
    base = ["run", "--dataset", "digits", "--model", "mlp", "--epochs", "0", "--workspace", str(tmp_path / "w")]
    one_line_error(nnvis(*base, "--weights", str(tmp_path / "big.pt")), "does not fit model 'mlp'")
    one_line_error(nnvis(*base, "--weights", str(tmp_path / "junk.pt")), "not a readable PyTorch checkpoint")


def test_summary_of_a_folder_that_is_not_a_workspace(tmp_path):
    one_line_error(nnvis("summary", "--workspace", str(tmp_path), "--json"), "not an nnvis workspace")
