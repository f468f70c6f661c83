"""Preprocessing: parsing, the round trip between pixels and the model's input space, and the
deep-visualization views of a normalised model, which give the model normalised input and
show pixel-space pictures (activation maximization, saliency, the layer grid)."""

import numpy as np
import pytest
import torch
from torch import nn

from nnvis.data.preprocess import Preprocess, parse_normalize
from nnvis.deepvis.grid import layer_grid, model_input
from nnvis.deepvis.saliency import Explainer
from nnvis.errors import NNVisError
from nnvis.models.zoo import LoadedModel
from nnvis.unitlab.actmax import ActMaxParams, activation_maximization

MEAN, STD = (0.2, 0.5, 0.7), (0.25, 0.5, 0.125)
NORMALISED = Preprocess(MEAN, STD)
IMAGE = np.arange(12, dtype=np.uint8).reshape(2, 2, 3) * 20  # (H,W,3) pixels 0..220


def normalised(image: np.ndarray) -> torch.Tensor:
    pixels = torch.from_numpy(image).float().div(255).permute(2, 0, 1)[None]
    return (pixels - torch.tensor(MEAN)[:, None, None]) / torch.tensor(STD)[:, None, None]


class Recording(nn.Sequential):
    """A Sequential that keeps the input of its last forward pass."""

    def forward(self, x):
        self.seen = x.detach().clone()
        return super().forward(x)


def linear_model() -> LoadedModel:
    """flatten -> Linear(12, 2) with weights 1..24 / 10, no bias, behind the normalisation."""
    module = Recording(nn.Flatten(), nn.Linear(12, 2, bias=False))
    with torch.no_grad():
        module[1].weight.copy_(torch.arange(1, 25, dtype=torch.float32).reshape(2, 12) / 10)
    return LoadedModel(module, "linear", 3, NORMALISED)


def test_parse_normalize_and_round_trip():
    assert parse_normalize("none") is None and parse_normalize(None) is None
    assert parse_normalize("imagenet") == ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    assert parse_normalize("0.5/0.25") == ((0.5,), (0.25,))
    for bad, needle in (("0.5", "invalid"), ("a,b/c,d", "invalid"), ("0.5,0.5/0.1", "2 mean and 1 std"),
                        ("0.5/0", "std of channel 0 is 0"), ("0.5/-1", "std > 0"), ("nan/1", "finite")):
        with pytest.raises(NNVisError, match=needle):
            parse_normalize(bad)
    x = torch.rand(2, 3, 4, 4)
    assert torch.allclose(NORMALISED.to_pixels(NORMALISED.to_model(x)), x, atol=1e-6)
    assert torch.allclose(NORMALISED.to_model(x)[:, 2], (x[:, 2] - 0.7) / 0.125)
    assert Preprocess().key() == {} and Preprocess().to_model(x) is x
    assert NORMALISED.key() != Preprocess(MEAN, STD, image_size=8).key()


def test_resize_and_crop_of_uint8_images():
    images = np.zeros((2, 4, 8, 3), np.uint8)
    images[:, :, 2:6] = 200  # the centre 4x4 is bright
    assert Preprocess(crop=4).resize_images(images).min() == 200
    assert Preprocess(image_size=2).resize_images(images).shape == (2, 2, 4, 3)  # shorter side to 2
    assert Preprocess(image_size=2, crop=2).resize_images(images).shape == (2, 2, 2, 3)
    with pytest.raises(NNVisError, match="--crop 5 is larger"):
        Preprocess(crop=5).resize_images(images)


def test_layer_grid_of_a_normalised_model_gets_normalised_input():
    model = linear_model()
    x = model_input(model, IMAGE)
    assert torch.allclose(x, normalised(IMAGE), atol=1e-6)
    grid = layer_grid(model, x, "1")
    assert torch.allclose(model.module.seen, normalised(IMAGE), atol=1e-6)
    expected = normalised(IMAGE).flatten() @ model.module[1].weight.detach().T
    assert np.allclose(grid.maps[:, 0, 0], expected.numpy(), atol=1e-5)


def test_saliency_of_a_normalised_model_is_taken_in_pixel_space():
    """d unit / d pixel = W / std for a linear model behind the normalisation; integrated
    gradients start from a black image (pixels 0), so they are pixel * W / std."""
    model = linear_model()
    explainer = Explainer(model)
    weight = model.module[1].weight.detach().reshape(2, 3, 2, 2)  # (unit, C, H, W), as Flatten orders them
    per_pixel = weight / torch.tensor(STD)[None, :, None, None]
    found = explainer.unit(model_input(model, IMAGE), "1", 1, "gradient")
    assert np.allclose(found.attribution, per_pixel[1].numpy(), atol=1e-5)
    unit_value = float(normalised(IMAGE).flatten() @ model.module[1].weight[1].detach())
    assert found.value == pytest.approx(unit_value, abs=1e-4)
    integrated = explainer.predicted_class(model_input(model, IMAGE), "integrated", target=0)
    pixels = torch.from_numpy(IMAGE).float().div(255).permute(2, 0, 1)
    assert np.allclose(integrated.attribution, (pixels * per_pixel[0]).numpy(), atol=1e-4)


class Peak(nn.Module):
    """-|x|: highest where its input is 0."""

    def forward(self, x):
        return -x.abs()


def test_actmax_of_a_normalised_model_optimises_its_input_and_shows_pixels():
    """The unit peaks where the model's input channel 0 is 0, i.e. at the pixel value MEAN[0]
    (51 of 255): found only if the model is fed normalised input, and shown as pixels."""
    conv = nn.Conv2d(3, 1, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([1.0, 0.0, 0.0])[None, :, None, None])
    module = Recording(conv, Peak(), nn.Flatten(), nn.Linear(16, 2))
    model = LoadedModel(module, "peak", 3, NORMALISED)
    params = ActMaxParams(steps=150, learning_rate=0.02, l2_decay=0.0, blur_every=0, restarts=2)
    result = activation_maximization(model, "1", 0, (4, 4, 3), params)
    red = result.images[..., 0].astype(np.float64)
    assert result.images.dtype == np.uint8 and np.abs(red - 255 * MEAN[0]).max() <= 5  # steps of 0.06 / std
    # the achieved value is the unit on the shown pixels, normalised
    shown = torch.from_numpy(result.images).float().div(255).permute(0, 3, 1, 2)
    expected = -((shown[:, 0] - MEAN[0]) / STD[0]).abs().flatten(1).mean(1)
    assert np.allclose(result.activations, expected.numpy(), atol=1e-5)
    assert torch.allclose(module.seen, NORMALISED.to_model(shown), atol=1e-6)


def test_an_upload_goes_through_the_workspaces_resize_and_crop(tmp_path):
    """A 40x20 picture, green in its centre, red at the sides: the workspace's resize
    (shorter side to 10) and centre crop keep only green; plain resizing squashes the red in."""
    from PIL import Image

    from nnvis.deepvis.strip import read_image_file

    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[:, :, 0] = 255
    pixels[:, 6:34] = (0, 255, 0)  # wider than the crop, so that the filter brings no red into it
    Image.fromarray(pixels).save(tmp_path / "wide.png")
    cropped = read_image_file(tmp_path / "wide.png", (10, 10, 3), Preprocess(MEAN, STD, image_size=10, crop=10))
    assert cropped.shape == (10, 10, 3) and cropped[..., 0].max() == 0 and cropped[..., 1].min() == 255
    squashed = read_image_file(tmp_path / "wide.png", (10, 10, 3))
    assert squashed[:, 0, 0].min() == 255


class Normalise(nn.Module):
    """The normalisation as the model's own first layer (to compare with the workspace's)."""

    def __init__(self, preprocess: Preprocess):
        super().__init__()
        self.preprocess = preprocess

    def forward(self, x):
        return self.preprocess.to_model(x)


def small_conv() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))


def test_training_and_perturbation_see_what_a_model_with_its_own_normalisation_layer_sees():
    """Training and perturbation (noise in pixels) of a model behind the workspace's
    normalisation equal those of the same model with the normalisation as its first layer."""
    import copy

    from nnvis.models.training import TrainSettings, train
    from nnvis.unitlab.perturbation import perturbation

    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, (40, 8, 8, 3)).astype(np.uint8), rng.integers(0, 3, 40)
    inner = small_conv()
    behind = LoadedModel(copy.deepcopy(inner), "behind", 3, NORMALISED)
    folded = LoadedModel(nn.Sequential(Normalise(NORMALISED), copy.deepcopy(inner)), "folded", 3)
    snapshots = {}
    for model in (behind, folded):
        def keep(epoch, module, name=model.spec):
            snapshots[(name, epoch)] = copy.deepcopy(module.state_dict())
        train(model, images, labels, TrainSettings(epochs=2, batch_size=8, seed=3), on_snapshot=keep)
    for key, value in snapshots[("behind", 2)].items():
        assert torch.allclose(value, snapshots[("folded", 2)][f"1.{key}"], atol=1e-5), key
    assert not torch.allclose(snapshots[("behind", 2)]["0.weight"], inner[0].weight)  # it did train
    noisy = perturbation(behind, images, labels, ["1"], variance=0.05, seed=4)
    same = perturbation(folded, images, labels, ["1.1"], variance=0.05, seed=4)
    assert np.allclose(noisy["cosine"], same["cosine"], atol=1e-6) and noisy["top1_noisy"] == same["top1_noisy"]
    assert noisy["cosine"][0] < 0.999  # the noise changed the activations
