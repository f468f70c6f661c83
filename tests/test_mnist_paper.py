"""Rauber et al.'s MNIST figures (SPEC section 1), reproduced by the CLI on the real data."""

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.fixture(scope="module")
def mnist_figures(mnist_dir, tmp_path_factory):
    workspace = tmp_path_factory.mktemp("mnist") / "ws"
    run = subprocess.run([sys.executable, "-m", "nnvis.cli", "run", "--dataset", "mnist", "--data-dir", str(mnist_dir),
                          "--model", "mlp", "--epochs", "3", "--subset", "2000", "--device", "cpu",
                          "--workspace", str(workspace)], capture_output=True, text=True, cwd=ROOT, timeout=1500)
    assert run.returncode == 0, run.stderr[-2000:]
    summary = subprocess.run([sys.executable, "-m", "nnvis.cli", "summary", "--workspace", str(workspace), "--json"],
                             capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert summary.returncode == 0, summary.stderr
    return json.loads(summary.stdout)


def test_paper_figures(mnist_figures):
    last = mnist_figures["hidden_layers"][-1]
    nh = mnist_figures["nh"]
    assert mnist_figures["epochs"] == [0, 1, 2, 3]
    assert 0.85 <= nh["input"]["0"] <= 0.92          # paper: 0.8912
    assert 0.70 <= nh[last]["0"] <= 0.92              # paper: 0.8378 (untrained network)
    assert nh[last]["3"] >= 0.95                      # paper: 0.9836
    assert mnist_figures["accuracy"]["3"] >= 0.97     # paper: 0.9915
    assert nh[last]["3"] > nh[last]["0"]              # training improves separation
