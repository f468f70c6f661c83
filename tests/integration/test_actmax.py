"""Activation maximization on tiny hand-built models: the optimum of a linear pattern detector,
beating every data set example, restarts, cancel, progress, each regularizer on a
hand-checkable case, bad input, and the store through a workspace."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from nnvis.data.datasets import load_dataset
from nnvis.errors import NNVisError
from nnvis.models.activations import capture
from nnvis.models.zoo import LoadedModel
from nnvis.unitlab.actmax import ActMaxParams, activation_maximization, actmax_for, ascent_point, regularize

# An 8x8 plus sign of width 2 (28 pixels) on a background of 36 pixels.
PLUS = np.full((8, 8), -1.0, np.float32)
PLUS[3:5, :] = PLUS[:, 3:5] = 1.0
NO_REGULARIZERS = ActMaxParams(l2_decay=0.0, blur_every=0)


def plus_detector() -> LoadedModel:
    """One linear unit with weights PLUS / 64: its activation over images in [0, 1] is largest,
    28 / 64, for the image that is 1 on the plus and 0 elsewhere."""
    linear = nn.Linear(64, 1)
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(PLUS.reshape(1, 64) / 64))
        linear.bias.zero_()
    return LoadedModel(nn.Sequential(nn.Flatten(), linear), "plus", 1)


def edge_detector() -> LoadedModel:
    """Conv channel 0: a vertical edge kernel (dark left, bright right), channel 1 its opposite; ReLU."""
    conv = nn.Conv2d(1, 2, 3, bias=False)
    with torch.no_grad():
        conv.weight[0, 0] = torch.tensor([[-1.0, 0.0, 1.0]] * 3)
        conv.weight[1, 0] = -conv.weight[0, 0]
    return LoadedModel(nn.Sequential(conv, nn.ReLU()), "edges", 1)


@pytest.fixture(scope="module")
def digits_images():
    return load_dataset("digits").test_images


def test_plain_ascent_reaches_the_hand_computed_optimum():
    result = activation_maximization(plus_detector(), "1", 0, (8, 8), NO_REGULARIZERS)
    target = np.where(PLUS > 0, 255, 0)
    for image in result.images:
        np.testing.assert_array_equal(image, target)
    np.testing.assert_allclose(result.activations, 28 / 64, rtol=1e-6)
    assert result.images.dtype == np.uint8 and result.images.shape == (4, 8, 8)
    assert result.steps_done == 200 and not result.cancelled


def test_regularized_image_beats_every_digit_and_looks_like_the_plus(digits_images):
    model = plus_detector()
    result = activation_maximization(model, "1", 0, (8, 8))
    data = capture(model, digits_images, ["1"])[0]["1"]
    assert result.activations.min() > data[:, 0].astype(np.float32).max()
    for image in result.images:
        assert np.corrcoef(image.ravel().astype(float), PLUS.ravel())[0, 1] > 0.8


def test_conv_channel_alpha_beats_every_digit(digits_images):
    model = edge_detector()
    result = activation_maximization(model, "1", 0, (8, 8))
    data = capture(model, digits_images, ["1"])[0]["1"][:, 0].astype(np.float32)
    # stripes make many local optima (the reason for restarts): the best restart wins, all beat most digits
    assert result.activations.max() > data.max()
    assert result.activations.min() > np.percentile(data, 90)
    # achieved activation is the channel's mean over its 6x6 map, recomputed here by hand
    x = torch.from_numpy(result.images.astype(np.float32) / 255)[:, None]
    with torch.no_grad():
        by_hand = torch.relu(nn.functional.conv2d(x, model.module[0].weight[:1])).mean(dim=(1, 2, 3))
    np.testing.assert_allclose(result.activations, by_hand.numpy(), rtol=1e-5)


def test_restarts_differ_and_one_seed_repeats():
    model = edge_detector()
    params = ActMaxParams(steps=60, restarts=3, seed=7)
    first = activation_maximization(model, "1", 0, (12, 12), params)
    for a in range(3):
        for b in range(a + 1, 3):
            assert np.abs(first.images[a].astype(int) - first.images[b].astype(int)).mean() > 5
    again = activation_maximization(model, "1", 0, (12, 12), params)
    np.testing.assert_array_equal(first.images, again.images)
    other_seed = activation_maximization(model, "1", 0, (12, 12), ActMaxParams(steps=60, restarts=3, seed=8))
    assert not np.array_equal(first.images, other_seed.images)


def test_cancel_stops_early_and_progress_is_reported():
    calls = []
    reports = []

    def should_stop():
        calls.append(1)
        return len(calls) > 5

    result = activation_maximization(plus_detector(), "1", 0, (8, 8), ActMaxParams(steps=50),
                                     progress=lambda *a: reports.append(a), should_stop=should_stop)
    assert result.steps_done == 5 and result.cancelled and len(calls) == 6
    assert reports == [("actmax", step, 50) for step in range(1, 6)]
    assert result.images.shape == (4, 8, 8)

    reports.clear()
    activation_maximization(plus_detector(), "1", 0, (8, 8), ActMaxParams(steps=300),
                            progress=lambda *a: reports.append(a))
    assert reports == [("actmax", step, 300) for step in range(3, 301, 3)]


def test_l2_decay_shrinks_towards_grey():
    x = torch.tensor([[[[1.0, 0.0], [0.7, 0.5]]]])
    out = regularize(x, torch.zeros_like(x), 1, ActMaxParams(l2_decay=0.1, blur_every=0))
    np.testing.assert_allclose(out[0, 0].numpy(), [[0.95, 0.05], [0.68, 0.5]], atol=1e-6)


def test_blur_is_a_gaussian_every_n_steps():
    x = torch.full((1, 1, 9, 9), 0.5)
    x[0, 0, 4, 4] = 1.0  # an impulse of 0.5 above grey
    params = ActMaxParams(l2_decay=0.0, blur_every=2, blur_sigma=1.0)
    unchanged = regularize(x, torch.zeros_like(x), 1, params)
    torch.testing.assert_close(unchanged, x)
    blurred = regularize(x, torch.zeros_like(x), 2, params)[0, 0].numpy() - 0.5
    weights = np.array([math.exp(-i * i / 2) for i in range(-3, 4)])  # kernel 7 = 2*ceil(3 sigma)+1
    weights /= weights.sum()
    expected = np.zeros((9, 9))
    expected[1:8, 1:8] = 0.5 * np.outer(weights, weights)
    np.testing.assert_allclose(blurred, expected, atol=1e-6)


def test_blur_smooths_the_optimised_image():
    def roughness(images):
        return np.abs(np.diff(images.astype(float), axis=2)).mean()

    sharp = activation_maximization(edge_detector(), "1", 0, (12, 12), ActMaxParams(steps=40, blur_every=0))
    smooth = activation_maximization(edge_detector(), "1", 0, (12, 12),
                                     ActMaxParams(steps=40, blur_every=1, blur_sigma=1.0))
    assert roughness(smooth.images) < 0.8 * roughness(sharp.images)


def test_small_norm_pixels_are_reset_to_grey():
    x = torch.tensor([[[[0.6, 0.3], [0.8, 0.1]]]])  # deviations 0.1, -0.2, 0.3, -0.4 from grey
    out = regularize(x, torch.zeros_like(x), 1, ActMaxParams(l2_decay=0.0, blur_every=0, norm_percentile=50))
    # median of the norms 0.1, 0.2, 0.3, 0.4 is 0.25: the two smaller ones go grey
    np.testing.assert_allclose(out[0, 0].numpy(), [[0.5, 0.5], [0.8, 0.1]], atol=1e-6)

    colour = torch.full((1, 3, 1, 2), 0.5)
    colour[0, :, 0, 0] = torch.tensor([0.8, 0.9, 0.5])  # norm 0.5
    colour[0, :, 0, 1] = torch.tensor([0.0, 0.5, 0.5])  # norm 0.5 too, then raise one a little
    colour[0, 2, 0, 1] = 0.6
    out = regularize(colour, torch.zeros_like(colour), 1, ActMaxParams(l2_decay=0, blur_every=0, norm_percentile=50))
    np.testing.assert_allclose(out[0, :, 0, 0].numpy(), [0.5, 0.5, 0.5], atol=1e-6)
    np.testing.assert_allclose(out[0, :, 0, 1].numpy(), [0.0, 0.5, 0.6], atol=1e-6)


def test_small_contribution_pixels_are_reset_to_grey():
    x = torch.tensor([[[[0.6, 0.7], [0.8, 0.9]]]])
    grad = torch.tensor([[[[4.0, -1.0], [0.1, 1.0]]]])
    out = regularize(x, grad, 1, ActMaxParams(l2_decay=0.0, blur_every=0, contribution_percentile=50))
    # |d * g| = 0.4, 0.2, 0.03, 0.4; median 0.3: the 0.2 and 0.03 pixels go grey
    np.testing.assert_allclose(out[0, 0].numpy(), [[0.6, 0.5], [0.5, 0.9]], atol=1e-6)


def test_dense_relu_unit_dead_on_noise_still_climbs():
    # the unit's pre-activation is negative on every noise image, so relu gives no gradient there
    linear = nn.Linear(64, 1)
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(PLUS.reshape(1, 64) / 64))
        linear.bias.fill_(-0.2)
    model = LoadedModel(nn.Sequential(nn.Flatten(), nn.Sequential(linear, nn.ReLU())), "dead", 1)
    assert ascent_point(model.module, "1", dense=True) == ("1.1", True)
    result = activation_maximization(model, "1", 0, (8, 8), NO_REGULARIZERS)
    np.testing.assert_allclose(result.activations, 28 / 64 - 0.2, rtol=1e-5)


def test_colour_model_images_have_the_colour_shape():
    model = LoadedModel(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()), "rgb", 3)
    result = activation_maximization(model, "1", 2, (10, 10, 3), ActMaxParams(steps=5, restarts=2))
    assert result.images.shape == (2, 10, 10, 3) and result.activations.shape == (2,)
    grey = activation_maximization(model, "1", 2, (10, 10), ActMaxParams(steps=5, restarts=2))
    assert grey.images.shape == (2, 10, 10)  # grey data is repeated into the colour model


def test_mode_and_hooks_restored():
    model = edge_detector()
    model.module.train()
    activation_maximization(model, "1", 0, (8, 8), ActMaxParams(steps=3))
    assert model.module.training
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.module.modules())
    assert all(p.grad is None for p in model.module.parameters())


@pytest.mark.parametrize("layer, unit, params, needle", [
    ("1", 1, ActMaxParams(), "unit 1 is out of range for layer '1' (1 units: 0..0)"),
    ("1", -1, ActMaxParams(), "out of range"),
    ("nope", 0, ActMaxParams(), "unknown layer 'nope'"),
    ("1", 0, ActMaxParams(steps=0), "steps must be >= 1, got 0"),
    ("1", 0, ActMaxParams(norm_percentile=100), "norm_percentile must be in [0, 100)"),
    ("1", 0, ActMaxParams(learning_rate=-1.0), "learning_rate must be > 0"),
    ("1", 0, ActMaxParams(restarts=1000), "restarts must be 1..64"),
])
def test_bad_input_says_what_is_allowed(layer, unit, params, needle):
    with pytest.raises(NNVisError) as error:
        activation_maximization(plus_detector(), layer, unit, (8, 8), params)
    assert needle in str(error.value)


def test_actmax_for_is_stored_and_a_cancelled_run_is_not(digits_workspace):
    from nnvis.workspace.analysis import Analysis

    analysis = Analysis(digits_workspace, device="cpu")
    params = ActMaxParams(restarts=2)
    stopped = actmax_for(analysis, "hidden2", 1, 3, params, should_stop=lambda: True)
    assert stopped.steps_done == 0 and stopped.cancelled
    key = analysis.key("actmax", layer="hidden2", epoch=1, method="yosinski2015", unit=3, **params.as_key())
    assert key not in analysis.store

    first = actmax_for(analysis, "hidden2", 1, 3, params)
    assert key in analysis.store and not first.cancelled
    data = analysis.activations("hidden2", 1)[:, 3].astype(np.float32)
    assert first.activations.min() > data.max()
    second = Analysis(digits_workspace, device="cpu")
    before = (second.store.hits, second.store.misses)
    again = actmax_for(second, "hidden2", 1, 3, params, should_stop=lambda: True)  # read, not computed
    assert (second.store.hits, second.store.misses) == (before[0] + 1, before[1])
    np.testing.assert_array_equal(again.images, first.images)
    np.testing.assert_array_equal(again.activations, first.activations)
    assert first.images.shape == (2, 8, 8) and again.steps_done == 200
    acts = analysis.activations("hidden2", 1)
    live = np.flatnonzero(acts.max(axis=0) > acts.min(axis=0))
    other = actmax_for(analysis, "hidden2", 1, int(live[live > 3][0]), params)  # unit 4 is dead: it would be refused
    assert not np.array_equal(other.images, first.images)
