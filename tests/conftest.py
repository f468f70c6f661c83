import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
MNIST_DIR = SHARED_DATA / "mnist"
CIFAR_NPZ = SHARED_DATA / "cifar10" / "cifar10_test.npz"

os.environ.setdefault("NNVIS_THREADS", "2")


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is not here (tests expect ../shared/data beside the project)")
    return path


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    return need(MNIST_DIR)


@pytest.fixture(scope="session")
def cifar_npz() -> Path:
    return need(CIFAR_NPZ)


@pytest.fixture(scope="session")
def blobs():
    """Seeded 3-class Gaussian blobs in 20-D, 150 points, well separated."""
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 10, size=(3, 20))
    labels = np.repeat(np.arange(3), 50)
    return (centres[labels] + rng.normal(0, 1, size=(150, 20))).astype(np.float32), labels


@pytest.fixture(scope="session")
def digits_workspace(tmp_path_factory):
    """A small real run on scikit-learn's digits: MLP, 2 epochs, PCA projections."""
    from nnvis.pipeline import run
    from nnvis.workspace import RunConfig

    path = tmp_path_factory.mktemp("ws") / "digits"
    config = RunConfig(dataset="digits", model="mlp", epochs=2, subset=300, projection="pca", device="cpu")
    return run(config, path)
