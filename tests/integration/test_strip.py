"""Feature maps, top channels, overlays and Shang's structure strip on tiny hand-built models;
reading users' image files; the `strip` and `actmax` commands end to end on a torchvision
resnet18 (random weights) over real CIFAR-10 test images."""

import argparse
import json
from collections import OrderedDict

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from nnvis.deepvis.strip import read_image_file, select_layers, strip_grid, structure_strip
from nnvis.errors import NNVisError
from nnvis.models.feature_maps import feature_maps, map_layers, overlay, top_channels, upsample
from nnvis.models.zoo import LoadedModel
from tests.tiny_models import OnesConv

# Channel weights of the strip model's first 1x1 conv: on an image of mean m, alpha_i = W_A[i] * m.
W_A = [0.5, 3.0, -1.0, 2.0, 0.0, 1.5, 4.0, -2.0, 2.5, 1.0, 0.25, 3.5]


def strip_model() -> LoadedModel:
    """a: 1x1 conv to 12 channels (weights W_A) -> r: ReLU -> p: 2x2 max pool -> b: 1x1 conv
    copying channels 0..9 of p -> flat -> fc (dense)."""
    a = nn.Conv2d(1, 12, 1, bias=False)
    b = nn.Conv2d(12, 10, 1, bias=False)
    with torch.no_grad():
        a.weight.copy_(torch.tensor(W_A).reshape(12, 1, 1, 1))
        b.weight.zero_()
        for j in range(10):
            b.weight[j, j] = 1.0
    module = nn.Sequential(OrderedDict(a=a, r=nn.ReLU(), p=nn.MaxPool2d(2), b=b, flat=nn.Flatten(),
                                       fc=nn.Linear(10 * 2 * 2, 3)))
    return LoadedModel(module, "strip", 1)


def ramp_image() -> np.ndarray:
    """4x4 grey image with pixels 0, 17, ..., 255 (row-major)."""
    return (np.arange(16) * 17).reshape(4, 4).astype(np.uint8)


def test_feature_maps_equal_a_hand_computed_convolution():
    conv = nn.Conv2d(1, 2, 2)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[[[1.0, 0.0], [0.0, -1.0]]], [[[0.0, 2.0], [1.0, 0.0]]]]))
        conv.bias.copy_(torch.tensor([0.5, 0.0]))
    model = LoadedModel(nn.Sequential(conv, nn.Flatten(), nn.Linear(8, 2)), "hand", 1)
    image = np.array([[[0, 51, 102], [153, 204, 255], [0, 255, 0]]], np.uint8)  # /255: .0 .2 .4 / .6 .8 1 / 0 1 0
    maps = feature_maps(model, image, "0")
    # channel 0: x[i,j] - x[i+1,j+1] + 0.5; channel 1: 2 x[i,j+1] + x[i+1,j]
    expected = np.array([[[[-0.3, -0.3], [0.1, 1.3]], [[1.0, 1.6], [1.6, 3.0]]]], np.float32)
    np.testing.assert_allclose(maps, expected, atol=1e-6)
    assert maps.dtype == np.float32 and maps.shape == (1, 2, 2, 2)


def test_feature_maps_batches_and_restores_mode():
    model = OnesConv()
    model(torch.zeros(1, 1, 5, 5))  # materialise the lazy head
    model.train()
    images = np.zeros((5, 5, 5), np.uint8)
    images[[1, 3]] = 255
    maps = feature_maps(LoadedModel(model, "ones", 1), images, "conv", batch_size=2)
    assert maps.shape == (5, 2, 3, 3)
    np.testing.assert_array_equal(maps[:, 0, 1, 1], [0, 9, 0, 9, 0])
    np.testing.assert_array_equal(maps[:, 1], -maps[:, 0])
    assert model.training and not model.conv._forward_hooks


def test_feature_maps_of_a_dense_layer_name_the_layers_with_maps():
    with pytest.raises(NNVisError) as error:
        feature_maps(strip_model(), ramp_image()[None], "fc")
    message = str(error.value)
    assert "layer 'fc' outputs shape (3,)" in message and "not feature maps" in message
    assert "layers with maps: a, r, p, b" in message


def test_top_channels_by_alpha_with_ties_in_index_order():
    maps = np.zeros((5, 2, 2), np.float32)
    maps[1] = 2.0
    maps[3, 0, 0] = 8.0  # alpha 2, tied with channel 1
    maps[4] = -1.0
    channels, alphas = top_channels(maps, k=3)
    np.testing.assert_array_equal(channels, [1, 3, 0])
    np.testing.assert_array_equal(alphas, [2.0, 2.0, 0.0])
    batch_channels, batch_alphas = top_channels(np.stack([maps, -maps]), k=9)  # k larger than C: all
    np.testing.assert_array_equal(batch_channels, [[1, 3, 0, 2, 4], [4, 0, 2, 1, 3]])
    np.testing.assert_array_equal(batch_alphas[1], [1.0, 0.0, 0.0, -2.0, -2.0])
    with pytest.raises(NNVisError, match="k must be a positive integer"):
        top_channels(maps, k=0)


def test_overlay_blends_a_heat_map_over_the_image():
    image = np.full((4, 4), 100, np.uint8)
    flat = overlay(image, np.ones((2, 2)), opacity=0.5)  # a constant map is all "cold" (black)
    np.testing.assert_array_equal(flat, np.full((4, 4, 3), 50, np.uint8))
    peak = overlay(image, np.array([[0.0, 0.0], [0.0, 3.0]]), opacity=1.0)
    np.testing.assert_array_equal(peak[3, 3], [255, 255, 255])
    np.testing.assert_array_equal(peak[0, 0], [0, 0, 0])
    np.testing.assert_allclose(upsample(np.full((2, 3), 7.0), (5, 9)), np.full((5, 9), 7.0))
    colour = overlay(np.zeros((6, 6, 3), np.uint8), np.eye(3), opacity=0.25)
    assert colour.shape == (6, 6, 3) and colour.dtype == np.uint8
    with pytest.raises(NNVisError, match="opacity"):
        overlay(image, np.eye(2), opacity=2.0)


def test_map_layers_are_those_with_spatial_outputs():
    assert map_layers(strip_model(), (4, 4)) == ["a", "r", "p", "b"]
    assert select_layers(["a", "r", "p", "b"], 0, 3, 3) == ["a", "b"]
    assert select_layers(["a", "r", "p", "b"], 1, None, 2) == ["r", "b"]


def test_strip_picks_the_hand_known_top_channels():
    image = ramp_image()
    x = image.astype(np.float32) / 255
    rows = structure_strip(strip_model(), image, start=0, stop=3, step=3)
    assert [row.layer for row in rows] == ["a", "b"]
    a, b = rows
    # a: alpha_i = W_A[i] * mean(x); the 9 largest weights are channels 6, 11, 1, 8, 3, 5, 9, 0, 10
    np.testing.assert_array_equal(a.channels, [6, 11, 1, 8, 3, 5, 9, 0, 10])
    np.testing.assert_allclose(a.alphas, np.array(W_A)[a.channels] * x.mean(), rtol=1e-6)
    np.testing.assert_allclose(a.maps[0], 4.0 * x, rtol=1e-6)
    assert a.n_channels == 12 and a.maps.shape == (9, 4, 4)
    # b copies channels 0..9 of the pooled ReLU: each 2x2 block's largest pixel times relu(W_A[j])
    pooled = x.reshape(2, 2, 2, 2).max(axis=(1, 3))
    relu_w = np.maximum(np.array(W_A[:10]), 0)
    np.testing.assert_array_equal(b.channels, [6, 1, 8, 3, 5, 9, 0, 2, 4])  # zeros tie: 2, 4 before 7
    np.testing.assert_allclose(b.alphas, relu_w[b.channels] * pooled.mean(), rtol=1e-6)
    np.testing.assert_allclose(b.maps[1], 3.0 * pooled, rtol=1e-6)
    assert b.n_channels == 10 and b.maps.shape == (9, 2, 2)
    by_name = structure_strip(strip_model(), image, ["b", "a"], k=2)
    assert [row.layer for row in by_name] == ["b", "a"]
    np.testing.assert_array_equal(by_name[1].channels, [6, 11])


def test_strip_grid_draws_one_row_per_layer_under_the_input():
    rows = structure_strip(strip_model(), ramp_image(), start=0, stop=3, step=1)
    grid = strip_grid(rows, ramp_image(), cell=16, gap=2, label_width=40)
    assert grid.dtype == np.uint8 and grid.shape == (5 * 18 + 2, 40 + 9 * 18 + 2, 3)


@pytest.mark.parametrize("layers, kwargs, needle", [
    (["fc"], {}, "layer 'fc' outputs shape (3,) per image, not feature maps"),
    (["nope"], {}, "unknown layer 'nope'"),
    (None, {"start": 4}, "--start 4 is out of range; allowed: 0..3"),
    (None, {"start": 2, "stop": 1}, "--stop 1 is before --start 2"),
    (None, {"step": 0}, "--step must be a positive integer"),
    (None, {"k": 0}, "k must be a positive integer"),
])
def test_strip_bad_input_says_what_is_allowed(layers, kwargs, needle):
    with pytest.raises(NNVisError) as error:
        structure_strip(strip_model(), ramp_image(), layers, **kwargs)
    assert needle in str(error.value)


def test_read_image_file_converts_to_the_models_channels_and_size(tmp_path):
    path = tmp_path / "orange.png"
    Image.new("RGB", (40, 20), (200, 100, 0)).save(path)
    grey = read_image_file(path, (8, 8))
    np.testing.assert_array_equal(grey, np.full((8, 8), round(0.299 * 200 + 0.587 * 100), np.uint8))
    colour = read_image_file(path, (5, 6, 3))
    assert colour.shape == (5, 6, 3) and colour.dtype == np.uint8
    np.testing.assert_array_equal(colour[2, 3], [200, 100, 0])
    jpeg = tmp_path / "grey.jpg"
    Image.new("L", (10, 10), 128).save(jpeg)
    assert abs(int(read_image_file(jpeg, (4, 4, 3))[0, 0, 0]) - 128) <= 2


def test_read_image_file_rejects_what_is_not_a_small_png_or_jpeg(tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("not an image at all")
    with pytest.raises(NNVisError, match="is not an image PIL can read; allowed: PNG, JPEG"):
        read_image_file(text, (8, 8))
    gif = tmp_path / "dot.gif"
    Image.new("L", (4, 4)).save(gif)
    with pytest.raises(NNVisError, match="is a GIF image; allowed: PNG, JPEG"):
        read_image_file(gif, (8, 8))
    wide = tmp_path / "wide.png"
    Image.new("L", (4097, 1)).save(wide)
    with pytest.raises(NNVisError, match="is 4097x1 pixels; allowed: at most 4096 a side"):
        read_image_file(wide, (8, 8))
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(10 * 2**20))
    with pytest.raises(NNVisError, match=r"is 10.0 MB; allowed: at most 10 MB"):
        read_image_file(big, (8, 8))
    with pytest.raises(NNVisError, match="does not exist"):
        read_image_file(tmp_path / "missing.png", (8, 8))


# ---- end to end: the commands on resnet18 (random weights) over real CIFAR-10 images

def run_command(argv: list[str], capsys) -> dict:
    from nnvis.cli.images import IMAGE_COMMANDS, add_image_commands

    parser = argparse.ArgumentParser(prog="nnvis")
    add_image_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    capsys.readouterr()
    IMAGE_COMMANDS[args.command](args)
    return json.loads(capsys.readouterr().out)


def test_strip_and_actmax_commands_on_resnet18(resnet_workspace, tmp_path, capsys):
    from nnvis.models.activations import capture
    from nnvis.workspace.analysis import Analysis

    analysis = Analysis(resnet_workspace)
    images = analysis.subset()["images"]
    model = analysis.model(0)
    out = tmp_path / "out"
    common = ["--workspace", str(resnet_workspace.path), "--out", str(out), "--json"]

    strip = run_command(["strip", *common, "--image", "3", "--layers", "layer1.0.conv1,layer2,layer4.1.conv2"], capsys)
    assert [row["layer"] for row in strip["layers"]] == ["layer1.0.conv1", "layer2", "layer4.1.conv2"]
    assert [row["map_size"] for row in strip["layers"]] == [[8, 8], [4, 4], [1, 1]]
    # alphas are the channel means that capture (its own hooks) records for the same image
    means, _ = capture(model, images[3:4], ["layer1.0.conv1", "layer2", "layer4.1.conv2"])
    for row in strip["layers"]:
        assert len(row["channels"]) == 9 and row["alphas"] == sorted(row["alphas"], reverse=True)
        layer_means = means[row["layer"]][0].astype(np.float32)
        np.testing.assert_allclose(row["alphas"], layer_means[row["channels"]], rtol=2e-3, atol=2e-3)
        assert row["alphas"][0] == pytest.approx(float(layer_means.max()), rel=2e-3, abs=2e-3)
    grid = Image.open(strip["file"])
    assert grid.format == "PNG" and grid.size == (120 + 9 * 68 + 4, 4 * 68 + 4)

    # the same image given as a file gives the same strip; start/stop/step count layers with maps
    Image.fromarray(images[3]).save(tmp_path / "three.png")
    ranged = run_command(["strip", *common, "--image-file", str(tmp_path / "three.png"),
                          "--start", "0", "--stop", "20", "--step", "10"], capsys)
    available = map_layers(model, (32, 32, 3))
    assert [row["layer"] for row in ranged["layers"]] == [available[0], available[10], available[20]]
    direct = structure_strip(model, images[3], [available[10]])[0]
    assert ranged["layers"][1]["channels"] == direct.channels.tolist()

    actmax = run_command(["actmax", *common, "--layer", "layer3", "--unit", "5", "--steps", "40", "--restarts", "2",
                          "--jitter", "2", "--size", "32"], capsys)
    assert actmax["steps"] == 40 and len(actmax["files"]) == 2
    pictures = np.stack([np.asarray(Image.open(path)) for path in actmax["files"]])
    assert pictures.shape == (2, 32, 32, 3) and not np.array_equal(pictures[0], pictures[1])
    # the reported activations are those of the written images; they beat every subset image
    achieved = capture(model, pictures, ["layer3"])[0]["layer3"]
    np.testing.assert_allclose(actmax["activations"], achieved[:, 5].astype(np.float32), rtol=5e-3, atol=5e-3)
    data = capture(model, images, ["layer3"])[0]["layer3"]
    assert min(actmax["activations"]) > data[:, 5].astype(np.float32).max()


def test_commands_report_bad_input(resnet_workspace, tmp_path, capsys):
    common = ["--workspace", str(resnet_workspace.path), "--out", str(tmp_path)]
    with pytest.raises(NNVisError, match="unit 512 is out of range for layer 'layer4' \\(512 units: 0..511\\)"):
        run_command(["actmax", *common, "--layer", "layer4", "--unit", "512", "--steps", "1"], capsys)
    with pytest.raises(NNVisError, match="--image 10 is outside the subset; allowed: 0..9"):
        run_command(["strip", *common, "--image", "10"], capsys)
    with pytest.raises(NNVisError, match="layer 'fc' outputs shape \\(10,\\) per image, not feature maps"):
        run_command(["strip", *common, "--image", "0", "--layers", "fc"], capsys)
    with pytest.raises(NNVisError, match="no snapshot for epoch 3"):
        run_command(["strip", *common, "--image", "0", "--epoch", "3"], capsys)
    (tmp_path / "doc.png").write_text("hello")
    with pytest.raises(NNVisError, match="not an image"):
        run_command(["strip", *common, "--image-file", str(tmp_path / "doc.png")], capsys)
