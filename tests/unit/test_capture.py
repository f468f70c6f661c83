"""Activation capture on tiny models with hand-checked values, torchvision and factories."""

from pathlib import Path

import numpy as np
import pytest
import torch

from nnvis.errors import NNVisError
from nnvis.models.activations import capture, input_activations
from nnvis.models.layers import default_layers, get_module, list_layers, resolve_layers
from nnvis.models.zoo import LoadedModel, build_model
from tests.tiny_models import OnesConv, TwoByTwo


def test_linear_relu_activations_are_exact():
    # pixels 255 -> 1.0, 0 -> 0.0; x = (1, 0): W x + b = (1, 2+1) ; x = (0, 1): (-1 -> relu 0, 0+1)
    images = np.array([[[255, 0]], [[0, 255]]], dtype=np.uint8)
    acts, probs = capture(LoadedModel(TwoByTwo(), "tiny", 1), images, ["hidden"])
    np.testing.assert_array_equal(acts["hidden"], np.array([[1, 3], [0, 1]], np.float16))
    assert acts["hidden"].dtype == np.float16
    np.testing.assert_allclose(probs[0], torch.softmax(torch.tensor([1.0, 3.0]), 0).numpy(), rtol=1e-6)


def test_conv_channels_reduce_to_spatial_mean():
    images = np.full((3, 5, 5), 255, np.uint8)  # all ones: every 3x3 window sums to 9
    images[1] = 0
    model = OnesConv()
    model(torch.zeros(1, 1, 5, 5))  # materialise the lazy layer
    acts, _ = capture(LoadedModel(model, "ones", 1), images, ["conv"])
    np.testing.assert_array_equal(acts["conv"], np.array([[9, -9], [0, 0], [9, -9]], np.float16))


def test_hooks_removed_and_mode_restored_even_on_error():
    model = TwoByTwo().train()
    bad = np.zeros((2, 1, 3), np.uint8)  # 3 features into a 2-input layer
    with pytest.raises(RuntimeError):
        capture(LoadedModel(model, "tiny", 1), bad, ["hidden"])
    assert model.training
    assert not model.hidden._forward_hooks
    capture(LoadedModel(model, "tiny", 1), np.zeros((2, 1, 2), np.uint8), ["hidden"])
    assert model.training and not model.hidden._forward_hooks


def test_input_pseudo_layer_is_scaled_pixels():
    images = np.array([[[0, 51], [255, 102]]], np.uint8)
    np.testing.assert_allclose(input_activations(images), [[0.0, 0.2, 1.0, 0.4]], atol=1e-3)


def test_resnet18_random_weights_capture_on_cifar_size_input():
    torch.manual_seed(0)
    model = build_model("resnet18", image_shape=(32, 32, 3), n_classes=10)
    images = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    acts, probs = capture(model, images, ["layer1", "layer4.1.conv2", "avgpool"])
    assert acts["layer1"].shape == (4, 64)
    assert acts["layer4.1.conv2"].shape == (4, 512)
    assert acts["avgpool"].shape == (4, 512)
    assert probs.shape == (4, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_grey_images_repeat_into_a_colour_model():
    model = build_model("resnet18", image_shape=(28, 28), n_classes=10)
    acts, _ = capture(model, np.zeros((2, 28, 28), np.uint8), ["layer1"])
    assert acts["layer1"].shape == (2, 64)


def test_module_function_factory_model():
    model = build_model("tests.tiny_models:two_by_two", image_shape=(1, 2), n_classes=2)
    acts, _ = capture(model, np.array([[[255, 0]]], np.uint8), ["hidden"])
    np.testing.assert_array_equal(acts["hidden"], [[1, 3]])


def test_factory_returning_non_module_is_rejected():
    with pytest.raises(NNVisError, match="not a torch.nn.Module"):
        build_model("tests.tiny_models:not_a_module", image_shape=(1, 2), n_classes=2)


def test_layers_by_module_path_and_closest_names():
    model = build_model("mlp", image_shape=(8, 8), n_classes=10).module
    assert default_layers(model) == ["hidden1", "hidden2", "hidden3", "hidden4"]
    assert "hidden1.0" in list_layers(model)
    assert resolve_layers(model, "hidden2,output") == ["hidden2", "output"]
    with pytest.raises(NNVisError, match="closest: hidden1"):
        resolve_layers(model, "hiden1")
    with pytest.raises(NNVisError, match="unknown layer"):
        get_module(model, "nope")


def test_paper_cnn_shapes_and_default_layers():
    model = build_model("cnn", image_shape=(28, 28), n_classes=10)
    assert default_layers(model.module) == ["conv1", "conv2", "fc1", "fc2"]  # conv units too (issue 14)
    acts, _ = capture(model, np.zeros((2, 28, 28), np.uint8), ["conv2", "fc1", "fc2"])
    assert acts["conv2"].shape == (2, 64) and acts["fc1"].shape == (2, 4096) and acts["fc2"].shape == (2, 512)


def test_mixed_precision_capture_is_close_to_float32_on_the_cpu():
    """The autocast path (bf16 on GPUs) runs on the CPU too: same shapes, close values."""
    import torchvision

    torch.manual_seed(0)
    model = LoadedModel(torchvision.models.resnet18(num_classes=10), "resnet18", in_channels=3)
    images = np.random.default_rng(0).integers(0, 256, (20, 32, 32, 3), dtype=np.uint8)
    exact, p_exact = capture(model, images, ["layer2", "layer4"], batch_size=8)
    mixed, p_mixed = capture(model, images, ["layer2", "layer4"], batch_size=8, precision="bfloat16")
    for layer in ("layer2", "layer4"):
        assert mixed[layer].shape == exact[layer].shape and mixed[layer].dtype == np.float16
        scale = np.abs(exact[layer].astype(np.float32)).max()
        assert np.abs(mixed[layer].astype(np.float32) - exact[layer]).max() < 0.05 * scale
        assert not np.array_equal(mixed[layer], exact[layer])  # it did run in bf16
    np.testing.assert_allclose(p_mixed.sum(axis=1), 1, atol=1e-5)
    assert np.abs(p_mixed - p_exact).max() < 0.05


def test_unknown_precision_is_refused_with_the_allowed_ones():
    from nnvis.workspace.workspace import RunConfig

    with pytest.raises(NNVisError, match="unknown precision 'int8'; allowed: float32, bfloat16, float16"):
        RunConfig(dataset="digits", model="mlp", precision="int8").validate()
    with pytest.raises(NNVisError, match="allowed: float32, bfloat16, float16"):
        capture(None, np.zeros((1, 8, 8), np.uint8), [], precision="fp8")


def test_a_spilled_layer_is_written_to_a_file_with_the_same_values(tmp_path):
    images = np.array([[[255, 0]], [[0, 255]], [[255, 255]]], dtype=np.uint8)
    model = LoadedModel(TwoByTwo(), "tiny", 1)
    kept, probs = capture(model, images, ["hidden"], batch_size=2)
    spilled, spilled_probs = capture(model, images, ["hidden"], batch_size=2, spill_to=tmp_path, spill_bytes=0)
    assert isinstance(spilled["hidden"], np.memmap) and not isinstance(kept["hidden"], np.memmap)
    assert Path(spilled["hidden"].filename).parent == tmp_path  # rows written batch by batch into a .npy file
    # W = [[1, -1], [2, 0]], b = [0, 1]: (1,0) -> (1, 3); (0,1) -> (relu(-1), 1); (1,1) -> (1 - 1, 2 + 1)
    np.testing.assert_array_equal(spilled["hidden"], np.array([[1, 3], [0, 1], [0, 3]], np.float16))
    np.testing.assert_array_equal(spilled["hidden"], kept["hidden"])
    np.testing.assert_array_equal(spilled_probs, probs)


def test_a_layer_under_the_spill_size_stays_in_memory(tmp_path):
    images = np.array([[[255, 0]], [[0, 255]]], dtype=np.uint8)
    acts, _ = capture(LoadedModel(TwoByTwo(), "tiny", 1), images, ["hidden"], spill_to=tmp_path, spill_bytes=8)
    assert not isinstance(acts["hidden"], np.memmap) and not list(tmp_path.iterdir())  # 2 x 2 float16: 8 bytes
