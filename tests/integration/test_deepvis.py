"""Deep visualization on tiny hand-weighted models with exact expected values: the live layer
grid, Captum saliency of linear units, conv channels and classes, first-layer filters and the
weighted-sum view; then grid, saliency and filters on torchvision's resnet18 (random weights)
over real CIFAR-10 test images, and the `grid`, `saliency` and `filters` commands."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from nnvis.cli.commands import main
from nnvis.deepvis.grid import first_layer_filters, grid_mosaic, layer_grid, model_input, weighted_sum_view
from nnvis.deepvis.saliency import Explainer
from nnvis.errors import NNVisError
from nnvis.models.zoo import MLP, LoadedModel
from tests.tiny_models import W1, W2, W3, HandConv, OneHidden, TwoByTwo, three_layer_mlp

# /255: .0 .2 .4 / .6 .8 1 / 0 1 0
IMAGE = np.array([[0, 51, 102], [153, 204, 255], [0, 255, 0]], np.uint8)
X = IMAGE.astype(np.float32) / 255
# HandConv's maps for IMAGE: x[i,j] - x[i+1,j+1]; x[i,j+1] + x[i+1,j]; 0.5
CONV_MAPS = np.array([[[-0.8, -0.8], [-0.4, 0.8]], [[0.8, 1.2], [0.8, 2.0]], [[0.5, 0.5], [0.5, 0.5]]], np.float32)


def hand_conv() -> LoadedModel:
    return LoadedModel(HandConv(), "hand", 1)


# ---- the live layer grid

def test_grid_of_a_hand_set_conv_shows_the_known_maps_and_probabilities():
    model = hand_conv()
    model.module.train()
    grid = layer_grid(model, model_input(model, IMAGE), "conv")
    np.testing.assert_allclose(grid.maps, CONV_MAPS, atol=1e-6)
    np.testing.assert_allclose(grid.alphas, [-0.3, 1.2, 0.5], atol=1e-6)
    np.testing.assert_array_equal(grid.order, [0, 1, 2])
    # fc row 0 sums the ReLU maps: 0.8 + 4.8 + 2.0 = 7.6; row 1 is 0
    p = 1 / (1 + np.exp(-7.6))
    np.testing.assert_allclose(grid.probabilities, [p, 1 - p], rtol=1e-6)
    assert not grid.dense and model.module.training and not model.module.conv._forward_hooks
    by_mean = layer_grid(model, model_input(model, IMAGE), "conv", sort="mean")
    np.testing.assert_array_equal(by_mean.order, [1, 2, 0])
    summary = by_mean.summary()
    assert summary["order"] == [1, 2, 0] and summary["predicted"] == 0 and summary["kind"] == "maps"
    np.testing.assert_allclose(summary["alphas"], [1.2, 0.5, -0.3], atol=1e-6)
    # the mosaic: 2 columns of 2x2 maps with one NaN pixel between, in display order
    mosaic, channel = grid_mosaic(by_mean)
    assert mosaic.shape == (5, 5)
    np.testing.assert_allclose(mosaic[:2, :2], CONV_MAPS[1], atol=1e-6)
    np.testing.assert_allclose(mosaic[:2, 3:], CONV_MAPS[2], atol=1e-6)
    np.testing.assert_allclose(mosaic[3:, :2], CONV_MAPS[0], atol=1e-6)
    assert np.isnan(mosaic[2]).all() and np.isnan(mosaic[3:, 3:]).all()
    assert channel[0, 0] == 1 and channel[0, 4] == 2 and channel[4, 1] == 0 and channel[2, 2] == -1


def test_grid_of_a_dense_layer_has_one_cell_per_unit():
    model = hand_conv()
    grid = layer_grid(model, model_input(model, IMAGE), "fc", sort="mean")
    assert grid.dense and grid.maps.shape == (2, 1, 1)
    np.testing.assert_allclose(grid.maps[:, 0, 0], [7.6, 0.0], atol=1e-5)
    mosaic, channel = grid_mosaic(grid)
    np.testing.assert_allclose(mosaic, [[7.6, 0.0]], atol=1e-5)  # dense units touch: no gaps
    np.testing.assert_array_equal(channel, [[0, 1]])


@pytest.mark.parametrize("layer, sort, needle", [
    ("nope", "index", "unknown layer 'nope'"),
    ("conv", "size", "sort 'size' is unknown; allowed: index, mean"),
])
def test_grid_bad_input_says_what_is_allowed(layer, sort, needle):
    model = hand_conv()
    with pytest.raises(NNVisError, match=needle):
        layer_grid(model, model_input(model, IMAGE), layer, sort=sort)
    with pytest.raises(NNVisError, match=r"expected one input image as a float tensor \(1,C,H,W\)"):
        layer_grid(model, torch.zeros(3, 3), "conv")


def test_tile_lays_out_rows_with_gaps():
    from nnvis.deepvis.grid import tile

    tiles = np.arange(3 * 2 * 2).reshape(3, 2, 2).astype(np.uint8)
    mosaic, index = tile(tiles, columns=3, gap=1, fill=255)
    assert mosaic.dtype == np.uint8 and mosaic.shape == (2, 8)
    np.testing.assert_array_equal(mosaic[:, 6:], tiles[2])
    np.testing.assert_array_equal(index[0], [0, 0, -1, 1, 1, -1, 2, 2])


# ---- saliency (Captum)

ONE_HIDDEN_W = [[1.0, -2.0, 0.5, 0.0], [-1.0, -1.0, -1.0, -1.0]]


def one_hidden() -> LoadedModel:
    """hidden = ReLU(W x) on a 2x2 image: unit 0 active on IMAGE_2x2, unit 1 always off."""
    return LoadedModel(OneHidden(ONE_HIDDEN_W, [0.0, 0.0]), "one-hidden", 1)


IMAGE_2x2 = np.array([[255, 0], [102, 51]], np.uint8)  # 1, 0, .4, .2: unit 0 = 1 + .2 = 1.2


@pytest.mark.parametrize("method", ["gradient", "guided"])
def test_gradient_saliency_of_a_linear_unit_equals_its_weights(method):
    explainer = Explainer(one_hidden())
    x = model_input(one_hidden(), IMAGE_2x2)
    found = explainer.unit(x, "hidden.0", 0, method)
    np.testing.assert_allclose(found.attribution, np.reshape(ONE_HIDDEN_W[0], (1, 2, 2)), atol=1e-6)
    np.testing.assert_allclose(found.saliency, [[0.5, 1.0], [0.25, 0.0]], atol=1e-6)
    assert found.value == pytest.approx(1.2, abs=1e-6) and found.peak == pytest.approx(2.0)
    assert found.captum == {"gradient": "NeuronGradient", "guided": "NeuronGuidedBackprop"}[method]
    # after the ReLU: the active unit has the same gradient, the dead one none at all
    np.testing.assert_allclose(explainer.unit(x, "hidden", 0, method).attribution[0], [[1, -2], [0.5, 0]], atol=1e-6)
    dead = explainer.unit(x, "hidden", 1, method)
    assert dead.peak == 0 and not dead.saliency.any() and dead.value == 0


def test_integrated_gradients_of_a_linear_unit_are_input_times_weights():
    found = Explainer(one_hidden()).unit(model_input(one_hidden(), IMAGE_2x2), "hidden.0", 0, "integrated")
    expected = (IMAGE_2x2 / 255) * np.reshape(ONE_HIDDEN_W[0], (2, 2))  # exact for a linear unit from a black image
    np.testing.assert_allclose(found.attribution[0], expected, atol=1e-5)
    assert found.captum == "NeuronIntegratedGradients"
    assert found.attribution.sum() == pytest.approx(1.2, abs=1e-5)  # completeness: f(x) - f(0)


def test_conv_channel_saliency_is_the_gradient_of_the_channel_mean():
    found = Explainer(hand_conv()).unit(model_input(hand_conv(), IMAGE), "conv", 1, "gradient")
    # kernel [[0, 1], [1, 0]] at the 4 positions of a 2x2 map, averaged: how often each pixel is a tap, / 4
    np.testing.assert_allclose(found.attribution[0], [[0, .25, .25], [.25, .5, .25], [.25, .25, 0]], atol=1e-6)
    assert found.value == pytest.approx(1.2, abs=1e-6)


def test_class_saliency_of_the_predicted_class():
    model = LoadedModel(TwoByTwo(), "two", 1)
    image = np.array([[51, 153]], np.uint8)  # .2, .6: hidden relu(-.4, 1.4) = (0, 1.4) -> class 1
    explainer = Explainer(model)
    x = model_input(model, image)
    gradient = explainer.predicted_class(x, "gradient")
    assert gradient.class_index == 1 and gradient.captum == "Saliency"
    assert gradient.value == pytest.approx(np.exp(1.4) / (1 + np.exp(1.4)), rel=1e-6)
    np.testing.assert_allclose(gradient.attribution, [[[2.0, 0.0]]], atol=1e-6)
    np.testing.assert_allclose(gradient.saliency, [[1.0, 0.0]])
    np.testing.assert_allclose(explainer.predicted_class(x, "guided").attribution, [[[2.0, 0.0]]], atol=1e-6)
    np.testing.assert_allclose(explainer.predicted_class(x, "integrated").attribution, [[[0.4, 0.0]]], atol=1e-5)
    other = explainer.predicted_class(x, "gradient", target=0)  # class 0's unit is off: no gradient
    assert other.class_index == 0 and other.peak == 0


def test_saliency_bad_input():
    explainer = Explainer(one_hidden())
    x = model_input(one_hidden(), IMAGE_2x2)
    with pytest.raises(NNVisError, match="saliency method 'sobel' is unknown; allowed: gradient, guided, integrated"):
        explainer.unit(x, "hidden", 0, "sobel")
    with pytest.raises(NNVisError, match=r"unit 2 is out of range for layer 'hidden' \(2 units: 0..1\)"):
        explainer.unit(x, "hidden", 2, "gradient")
    with pytest.raises(NNVisError, match=r"class 5 is out of range \(2 classes: 0..1\)"):
        explainer.predicted_class(x, "gradient", target=5)
    with pytest.raises(NNVisError, match="steps must be an integer in 1..1000"):
        Explainer(one_hidden(), steps=0)


# ---- filters and the weighted-sum view

def test_filters_of_an_mlp_are_its_weight_rows_reshaped_to_the_image():
    filters = first_layer_filters(one_hidden(), (2, 2))
    assert filters.layer == "hidden.0"
    np.testing.assert_array_equal(filters.kernels, np.reshape(ONE_HIDDEN_W, (2, 2, 2)))
    np.testing.assert_allclose(filters.images[0], [[0.75, 0.0], [0.625, 0.5]])  # 0.5 + w / (2 max|w|)
    colour = LoadedModel(MLP(2 * 3 * 3, 2, widths=(4,)), "mlp", 3)  # 2x3 colour images
    rows = colour.module.hidden1[0].weight.detach().numpy()
    kernels = first_layer_filters(colour, (2, 3, 3)).kernels
    assert kernels.shape == (4, 2, 3, 3)
    for unit in range(4):  # the Linear sees the flattened (C,H,W) input: channel c, row y, column x
        np.testing.assert_array_equal(kernels[unit], rows[unit].reshape(3, 2, 3).transpose(1, 2, 0))
    with pytest.raises(NNVisError, match="takes 4 features, not the 9 pixels"):
        first_layer_filters(one_hidden(), (3, 3))


def test_filters_of_a_conv_are_its_kernels():
    filters = first_layer_filters(hand_conv(), (3, 3))
    assert filters.layer == "conv"
    np.testing.assert_array_equal(filters.kernels, HandConv.KERNELS)
    np.testing.assert_allclose(filters.images[2], np.full((2, 2), 0.5))  # an all-zero filter is grey


def test_weighted_sum_view_of_deeper_units_is_the_hand_computed_combination():
    model = LoadedModel(three_layer_mlp(), "mlp", 1)
    w1 = np.reshape(W1, (4, 2, 2))
    first = weighted_sum_view(model, (2, 2), "hidden1", 2)
    assert first.chain == ["hidden1.0"] and len(first.contributors) == 0
    np.testing.assert_array_equal(first.view, w1[2])
    # hidden2 unit 1: W2[1] = (1, .2, -.5, 4); the two largest |w| are units 3 (4) and 0 (1)
    second = weighted_sum_view(model, (2, 2), "hidden2", 1, top_k=2)
    assert second.weight_layer == "hidden2.0" and second.chain == ["hidden1.0", "hidden2.0"]
    np.testing.assert_array_equal(second.contributors, [3, 0])
    np.testing.assert_allclose(second.weights, [4.0, 1.0])
    np.testing.assert_allclose(second.contributor_views, w1[[3, 0]])
    np.testing.assert_allclose(second.view, 4 * w1[3] + 1 * w1[0])  # [[3, 2], [2, 2]]
    # output unit 0: W3[0] = (1, -2, .5) -> units 1 (-2) and 0 (1) of hidden2, each its own top-2 sum:
    # hidden2 unit 0 = -3 W1[1] + 2 W1[2]; unit 1 as above
    view0 = -3 * w1[1] + 2 * w1[2]
    view1 = 4 * w1[3] + w1[0]
    output = weighted_sum_view(model, (2, 2), "output", 0, top_k=2)
    np.testing.assert_array_equal(output.contributors, [1, 0])
    np.testing.assert_allclose(output.view, -2 * view1 + view0)
    np.testing.assert_allclose(output.view, [[-6, -10], [-6, -2]])
    assert output.summary()["view"] == [[-6.0, -10.0], [-6.0, -2.0]]
    assert W2[0][1:3] == [-3.0, 2.0] and W3[0] == [1.0, -2.0, 0.5]  # the weights read above


def test_weighted_sum_through_flattened_maps_sums_each_maps_weights():
    # fc row 0 is all ones over 3 maps of 4 pixels: strength 4 to every conv channel
    found = weighted_sum_view(hand_conv(), (3, 3), "fc", 0, top_k=3)
    np.testing.assert_array_equal(found.contributors, [0, 1, 2])
    np.testing.assert_allclose(found.weights, [4, 4, 4])
    np.testing.assert_allclose(found.view, 4 * np.sum(HandConv.KERNELS, axis=0))


@pytest.mark.parametrize("layer, unit, top_k, needle", [
    ("hidden2", 3, 9, r"unit 3 is out of range for layer 'hidden2' \(3 units: 0..2\)"),
    ("hidden2", 0, 0, "top-k must be a positive integer"),
    ("hidden1.1", 0, 9, r"layer 'hidden1.1' \(ReLU\) holds no Linear or Conv2d weights; the weighted-sum view "
                        "needs one of: hidden1.0, hidden2.0, output"),
    ("flatten", 0, 9, "holds no Linear or Conv2d weights"),
])
def test_weighted_sum_bad_input(layer, unit, top_k, needle):
    with pytest.raises(NNVisError, match=needle):
        weighted_sum_view(LoadedModel(three_layer_mlp(), "mlp", 1), (2, 2), layer, unit, top_k)


def test_signed_unit_and_strokes():
    from nnvis.deepvis.grid import rasterize_strokes, signed_unit

    np.testing.assert_allclose(signed_unit(np.array([[-2.0, 1.0], [0.0, 0.0]])), [[0.0, 0.75], [0.5, 0.5]])
    assert signed_unit(np.zeros((0, 2, 2))).shape == (0, 2, 2)  # a first-layer unit has no contributors
    drawn = rasterize_strokes([[(1, 3), (6, 3)]], (8, 8))  # a one-pixel pen along row 3
    assert drawn.dtype == np.uint8 and (drawn[3, 1:7] >= 200).all()
    assert not drawn[[0, 1, 2, 5, 6, 7]].any() and drawn[4].max() < 50 and drawn[3, 0] == 0
    wild = rasterize_strokes([[(-1e300, 3), (float("inf"), 3)]], (8, 8))  # far off the image: its edges
    assert (wild[3] >= 200).all() and not wild[:2].any()


# ---- end to end: resnet18 (random weights) on CIFAR-10 test images

def test_grid_saliency_and_filters_on_resnet18(resnet_workspace):
    from nnvis.models.activations import capture
    from nnvis.models.feature_maps import feature_maps, layer_outputs
    from nnvis.workspace.analysis import Analysis

    analysis = Analysis(resnet_workspace)
    model = analysis.model(0)
    images = analysis.subset()["images"]
    x = model_input(model, images[3])
    grid = layer_grid(model, x, "layer1.0.conv1", sort="mean")  # (about 0.03 s on an idle 2-core CPU)
    np.testing.assert_allclose(grid.maps, feature_maps(model, images[3:4], "layer1.0.conv1")[0], atol=1e-5)
    assert grid.maps.shape == (64, 8, 8) and list(grid.order) == sorted(range(64), key=lambda c: -grid.alphas[c])
    _, probabilities = capture(model, images[3:4], [])
    np.testing.assert_allclose(grid.probabilities, probabilities[0], atol=1e-5)
    assert layer_grid(model, x, "fc").maps.shape == (10, 1, 1)

    explainer = Explainer(model)
    for method in ("gradient", "guided", "integrated"):
        for found in (explainer.unit(x, "layer2.0.conv1", 5, method), explainer.predicted_class(x, method)):
            assert found.saliency.shape == (32, 32) and found.attribution.shape == (3, 32, 32)
            assert found.saliency.min() >= 0 and found.saliency.max() == pytest.approx(1.0) and found.peak > 0
    assert all(p.grad is None for p in model.module.parameters())  # the explainer worked on its own copy
    # the plain gradient is autograd's gradient of the channel's mean
    leaf = x.clone().requires_grad_(True)
    model.module.eval()
    layer_outputs(model.module, leaf, ["layer2.0.conv1"])["layer2.0.conv1"][0, 5].mean().backward()
    reference = explainer.unit(x, "layer2.0.conv1", 5, "gradient").attribution
    np.testing.assert_allclose(reference, leaf.grad[0].numpy(), rtol=1e-4, atol=1e-7)
    with pytest.raises(NNVisError, match="layer 'layer1.0.relu' is called 2 times in one forward pass"):
        explainer.unit(x, "layer1.0.relu", 0, "guided")
    assert model.module.layer1[0].relu.inplace

    filters = first_layer_filters(model, (32, 32, 3))
    np.testing.assert_array_equal(filters.kernels, model.module.conv1.weight.detach().numpy().transpose(0, 2, 3, 1))
    view = weighted_sum_view(model, (32, 32, 3), "fc", 3, top_k=4)
    assert view.view.shape == (7, 7, 3) and len(view.chain) == 18 and len(view.contributors) == 4
    assert np.abs(view.weights).tolist() == sorted(np.abs(view.weights).tolist(), reverse=True)


def run_cli(capsys, *argv) -> tuple[int, dict | str]:
    capsys.readouterr()
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, (json.loads(captured.out) if code == 0 else captured.err)


def test_grid_saliency_filters_commands_on_resnet18(resnet_workspace, tmp_path, capsys):
    common = ["--workspace", str(resnet_workspace.path), "--out", str(tmp_path), "--json"]
    code, grid = run_cli(capsys, "grid", *common, "--layer", "layer2", "--observation", "3", "--sort", "mean")
    assert code == 0 and grid["n_units"] == 128 and grid["map_size"] == [4, 4]
    assert grid["alphas"] == sorted(grid["alphas"], reverse=True) and sum(grid["probabilities"]) == pytest.approx(1)
    assert Image.open(grid["file"]).format == "PNG"

    code, saliency = run_cli(capsys, "saliency", *common, "--method", "integrated", "--unit", "7", "--layer",
                             "layer2", "--observation", "3", "--steps", "8")
    assert code == 0 and saliency["captum"] == "NeuronIntegratedGradients" and saliency["map_size"] == [32, 32]
    assert max(map(max, saliency["map"])) == pytest.approx(1.0)
    code, predicted = run_cli(capsys, "saliency", *common, "--method", "guided", "--class-of-prediction",
                              "--observation", "3")
    assert code == 0 and predicted["class"] == grid["predicted"] and predicted["captum"] == "GuidedBackprop"
    assert Image.open(predicted["file"]).size[0] >= 224

    code, filters = run_cli(capsys, "filters", *common)
    assert code == 0 and filters["layer"] == "conv1" and filters["n_filters"] == 64
    assert filters["filter_shape"] == [7, 7, 3]
    code, wsum = run_cli(capsys, "filters", *common, "--layer", "layer1.0.conv1", "--unit", "2", "--top-k", "3")
    assert code == 0 and wsum["chain"] == ["conv1", "layer1.0.conv1"] and len(wsum["files"]) == 2


@pytest.mark.parametrize("argv, message", [
    (["grid", "--layer", "layer2", "--observation", "10"], "--observation 10 is outside the subset; allowed: 0..9"),
    (["grid", "--layer", "layer2", "--observation", "0", "--sort", "max"],
     "sort 'max' is unknown; allowed: index, mean"),
    (["saliency", "--method", "sobel", "--class-of-prediction", "--observation", "0"],
     "saliency method 'sobel' is unknown; allowed: gradient, guided, integrated"),
    (["saliency", "--method", "gradient", "--unit", "1", "--observation", "0"], "--unit needs --layer"),
    (["saliency", "--method", "gradient", "--unit", "128", "--layer", "layer2", "--observation", "0"],
     "unit 128 is out of range for layer 'layer2' (128 units: 0..127)"),
    (["filters", "--layer", "layer2.0.downsample", "--unit", "0"], "'layer2.0.downsample.0' is off the main chain"),
    (["filters", "--layer", "layer2"], "filters as images exist for the first weight layer 'conv1' only"),
    (["grid", "--layer", "layer2", "--observation", "0", "--epoch", "4"], "no snapshot for epoch 4"),
])
def test_deepvis_commands_reject_bad_input_in_one_line(resnet_workspace, tmp_path, capsys, argv, message):
    code, err = run_cli(capsys, *argv, "--workspace", str(resnet_workspace.path), "--out", str(tmp_path))
    assert code == 2 and message in err and err.count("\n") == 1 and err.startswith(f"nnvis {argv[0]}: error: ")


def test_deepvis_commands_reject_a_file_that_is_not_an_image(resnet_workspace, tmp_path, capsys):
    (tmp_path / "notes.png").write_text("not an image")
    code, err = run_cli(capsys, "grid", "--workspace", str(resnet_workspace.path), "--out", str(tmp_path),
                        "--layer", "layer2", "--image", str(tmp_path / "notes.png"))
    assert code == 2 and "is not an image PIL can read; allowed: PNG, JPEG" in err


# ---- the page's input handling, as plain functions

def test_page_inputs_reject_bad_uploads_and_forged_pixels(monkeypatch, tmp_path):
    import base64
    import io
    from types import SimpleNamespace

    from callbacks.deepvis import drawn_strokes, input_image, unit_number, uploaded_image
    from web.uploads import image_record

    monkeypatch.setenv("NNVIS_JOB_CACHE", str(tmp_path))  # where the drawing is stored by digest

    def data_url(raw: bytes, kind: str = "image/png") -> str:
        return f"data:{kind};base64," + base64.b64encode(raw).decode()

    buffer = io.BytesIO()
    Image.new("RGB", (12, 6), (255, 255, 255)).save(buffer, format="PNG")
    white = uploaded_image(data_url(buffer.getvalue()), "white.png", (3, 3))
    np.testing.assert_array_equal(white, np.full((3, 3), 255))
    for contents, needle in [(data_url(b"hello"), "notes.png is not an image PIL can read; allowed: PNG, JPEG"),
                             ("not a data url", "notes.png did not arrive as a file"),
                             ("data:image/png;base64,@@@@", "notes.png did not arrive as a file"),
                             (data_url(bytes(11 * 2**20)), "notes.png is larger than 10 MB")]:
        with pytest.raises(NNVisError, match=needle):
            uploaded_image(contents, "notes.png", (3, 3))

    analysis = SimpleNamespace(manifest={"image_shape": [3, 3]}, config=SimpleNamespace(subset=2),
                               subset=lambda: {"images": np.stack([IMAGE, 255 - IMAGE])})
    image, caption = input_image(analysis, {"observation": 1})
    np.testing.assert_array_equal(image, 255 - IMAGE)
    assert caption == "observation 1"
    drawn, caption = input_image(analysis, image_record(IMAGE, "drawing"))
    np.testing.assert_array_equal(drawn, IMAGE)
    assert caption == "drawing"
    for data in (image_record(np.array([[1, 2], [3, 4]], np.uint8), "x"),
                 image_record(np.zeros((3, 3, 3), np.uint8), "x")):  # an image stored for another workspace
        with pytest.raises(NNVisError, match=r"the input image must be \(3, 3\) pixels of 0..255"):
            input_image(analysis, data)
    for digest in ("0" * 64, "../" * 20 + "etc/passwd", "junk", 5, ["a"]):  # forged or evicted
        with pytest.raises(NNVisError, match="upload the image again"):
            input_image(analysis, {"digest": digest, "source": "x"})
    for data in ({"observation": 2}, {"observation": -1}, {"observation": "1"}, {"observation": 0.5}):
        with pytest.raises(NNVisError, match="is not in the subset; allowed: 0..1"):
            input_image(analysis, data)

    shapes = {"shapes": [{"type": "path", "path": "M1.5,2L3,4.25L5e-1,1"}, {"type": "rect"}, "junk"]}
    assert [stroke.tolist() for stroke in drawn_strokes(shapes)] == [[[1.5, 2.0], [3.0, 4.25], [0.5, 1.0]]]
    assert drawn_strokes(None) == [] and drawn_strokes({"dragmode": "pan"}) == []
    assert unit_number(None) is None and unit_number(3) == 3 and unit_number(4.0) == 4
    for unit in ("3", 2.5, True, [1]):
        with pytest.raises(NNVisError, match="is not a whole number"):
            unit_number(unit)
