"""A tiny ViT workspace for the unit analyses on token layers (tests/integration/test_vit_unitlab.py
and the unit-lab browser test): torchvision's VisionTransformer on 32x32 CIFAR-10 images (4x4
patches: an 8x8 grid and the class token, hidden size 64), random weights with a random head
(torchvision starts the head at zero, which would put every image in class 0)."""

from pathlib import Path

import numpy as np
from torch import nn

from tests.tiny_models import small_vit

BLOCK = "encoder.layers.encoder_layer_1"
LAYERS = f"{BLOCK},encoder.layers.encoder_layer_3"


def vit_with_a_head() -> nn.Module:
    model = small_vit()
    nn.init.normal_(model.heads.head.weight, std=0.5)
    return model


def vit_workspace(cifar_npz: Path, folder: Path):
    """A prepared and captured workspace (epoch 0): 64 CIFAR-10 test images split 24 "train" /
    40 "test", the 40 as its subset."""
    from nnvis.data.datasets import load_dataset
    from nnvis.workspace.analysis import Analysis
    from nnvis.workspace.pipeline import prepare
    from nnvis.workspace.workspace import RunConfig, Workspace

    cifar = load_dataset("cifar10", cifar_npz.parent)
    pick = np.random.default_rng(0).permutation(len(cifar.test_labels))[:64]  # the file is sorted by class
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "few-cifar.npz"
    np.savez(data, x_train=cifar.test_images[pick[:24]], y_train=cifar.test_labels[pick[:24]],
             x_test=cifar.test_images[pick[24:]], y_test=cifar.test_labels[pick[24:]], classes=np.array(cifar.classes))
    workspace = Workspace(folder / "ws")
    config = RunConfig(dataset="npz", data_dir=str(data), model="tests.vit_models:vit_with_a_head", epochs=0,
                       subset=40, layers=LAYERS, projection="pca", device="cpu")
    prepare(config, workspace)
    Analysis(workspace).capture_epoch(0)
    return workspace
