"""pytest plugin of the GPU kit: the `mnist_dir` fixture from NNVIS_KIT_MNIST (the carried copy of
MNIST), for `pytest --noconftest -p pytest_gpu_data -m gpu` on a machine without ../shared/data."""

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    path = Path(os.environ.get("NNVIS_KIT_MNIST", ""))
    if not (path / "t10k-images-idx3-ubyte.gz").exists() and not (path / "t10k-images-idx3-ubyte").exists():
        pytest.skip(f"no MNIST in NNVIS_KIT_MNIST={path}")
    return path
