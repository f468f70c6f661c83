"""An image folder at its real size: resnet18 with a state_dict written here over 64x64 PNGs,
`--image-size 64 --normalize imagenet`; nnvis's captured activations and probabilities equal
a hand-written forward pass with the same transforms, and the decoded images live in a
memory-mapped file in the workspace."""

import json

import numpy as np
import torch
import torchvision
from PIL import Image

from nnvis.cli.commands import main

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def write_folder(root, rng) -> list:
    """train/ and test/ with three classes of 64x64 RGB noise PNGs, each class its own tint;
    returns the test files in ImageFolder order (classes sorted, then file names)."""
    tests = []
    for split, count in (("train", 2), ("test", 3)):
        for c, name in enumerate(("amber", "blue", "green")):
            (root / split / name).mkdir(parents=True)
            for i in range(count):
                pixels = rng.integers(0, 256, (64, 64, 3)).astype(np.int64)
                pixels[..., c] = np.clip(pixels[..., c] + 80, 0, 255)
                path = root / split / name / f"{i}.png"
                Image.fromarray(pixels.astype(np.uint8)).save(path)
                if split == "test":
                    tests.append(path)
    return tests


def test_resnet18_over_an_image_folder_at_64_pixels_equals_a_hand_written_forward(tmp_path, capsys):
    tests = write_folder(tmp_path / "folder", np.random.default_rng(0))
    torch.manual_seed(3)
    network = torchvision.models.resnet18(num_classes=3)
    with torch.no_grad():  # BatchNorm statistics that are not the identity
        for module in network.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 2.0)
    torch.save(network.state_dict(), tmp_path / "mine.pt")
    workspace = tmp_path / "ws"
    code = main(["run", "--dataset", "imagefolder", "--data-dir", str(tmp_path / "folder"), "--model", "resnet18",
                 "--weights", str(tmp_path / "mine.pt"), "--epochs", "0", "--image-size", "64", "--normalize",
                 "imagenet", "--layers", "layer2,avgpool", "--projection", "pca", "--device", "cpu",
                 "--workspace", str(workspace)])
    assert code == 0, capsys.readouterr().err
    manifest = json.loads((workspace / "workspace.json").read_text())
    assert manifest["image_shape"] == [64, 64, 3]

    pixels = torch.stack([torch.from_numpy(np.array(Image.open(p).convert("RGB"))) for p in tests])
    mean, std = torch.tensor(MEAN)[:, None, None], torch.tensor(STD)[:, None, None]
    x = (pixels.permute(0, 3, 1, 2).float() / 255 - mean) / std
    seen = {}
    network.eval()
    hooks = [getattr(network, name).register_forward_hook(lambda _m, _i, out, name=name: seen.__setitem__(name, out))
             for name in ("layer2", "avgpool")]
    with torch.no_grad():
        probabilities = torch.softmax(network(x), dim=1).numpy()
    for hook in hooks:
        hook.remove()

    from nnvis.workspace.analysis import Analysis
    from nnvis.workspace.workspace import Workspace

    analysis = Analysis(Workspace(workspace))
    assert np.abs(analysis.probabilities(0) - probabilities).max() < 1e-5
    for layer in ("layer2", "avgpool"):
        expected = seen[layer].flatten(2).mean(dim=2).numpy()  # channel means, as capture keeps them
        stored = analysis.activations(layer, 0).astype(np.float32)
        # stored as float16: equal to the forward pass to 1e-5 plus float16's rounding of it
        rounding = np.abs(expected.astype(np.float16).astype(np.float32) - expected)
        assert np.all(np.abs(stored - expected) <= 1e-5 + rounding), layer
    # the decoded images are a memory-mapped uint8 file in the workspace, equal to the PNGs
    cached = sorted((workspace / "data").glob("images-*.npy"))
    assert len(cached) == 2
    images = analysis.dataset.test_images
    assert isinstance(images, np.memmap) or isinstance(images.base, np.memmap)
    assert np.array_equal(np.asarray(images), pixels.numpy())
