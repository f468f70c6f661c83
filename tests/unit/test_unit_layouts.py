"""The unit analyses on token and channels-last layers (nnvis.unitlab.layouts): ablation zeroes a
hidden unit in every token (prefix tokens included) or a channel on the last axis, the per-image
alpha, noise perturbation, activation maximization and saliency read a unit as the workspace's
observations do; each checked against a hand-written forward pass through the same modules.
(These layers were refused in one line before, or read along the wrong axis.)"""

import numpy as np
import pytest
import torch
from torch import nn
from torchvision.ops.misc import Permute

from nnvis.deepvis.saliency import Explainer
from nnvis.errors import NNVisError
from nnvis.models.layout import CHANNELS_LAST, SEQUENCE_FIRST, TOKENS, Layout
from nnvis.models.zoo import LoadedModel
from nnvis.unitlab import ablation as ab
from nnvis.unitlab.actmax import ActMaxParams, activation_maximization
from nnvis.unitlab.layouts import what_a_unit_is
from nnvis.unitlab.perturbation import perturbation
from tests.tiny_models import small_vit

IMAGES = np.random.default_rng(0).integers(0, 256, (12, 32, 32, 3), dtype=np.uint8)
BLOCK = "encoder.layers.encoder_layer_1"
_rng = np.random.default_rng(2)  # one colour per image, a little noise: the channels-last net tells them apart
COLOURED = np.clip(_rng.integers(0, 256, (12, 1, 1, 3)) + _rng.integers(-20, 21, (12, 32, 32, 3)), 0, 255).astype(
    np.uint8)


class ChannelsLast(nn.Module):
    """conv -> (N,H,W,C) -> Linear on C (`mix`, a channels-last layer) -> mean -> classifier."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.conv = nn.Conv2d(3, 6, 4, stride=4)
        self.permute = Permute([0, 2, 3, 1])
        self.mix = nn.Linear(6, 6)
        self.fc = nn.Linear(6, 4)
        nn.init.normal_(self.fc.weight, std=3.0)  # the channels, not the bias, decide the class
        nn.init.zeros_(self.fc.bias)

    def forward(self, x):
        return self.fc(torch.relu(self.mix(self.permute(self.conv(x)))).mean(dim=(1, 2)))


@pytest.fixture(scope="module")
def vit() -> LoadedModel:
    torch.manual_seed(0)
    model = small_vit().eval()
    nn.init.normal_(model.heads.head.weight)  # torchvision starts the head at zero: every image class 0
    return LoadedModel(model, "x:y", 3)


def vit_forward(model: LoadedModel, x: torch.Tensor, edit=None, upto: int | None = None) -> torch.Tensor:
    """The ViT by hand through its own modules: `edit(tokens)` after block 1; the block-`upto` tokens
    when given, else the logits."""
    vit = model.module
    tokens = vit._process_input(x)
    tokens = torch.cat([vit.class_token.expand(len(tokens), -1, -1), tokens], dim=1) + vit.encoder.pos_embedding
    for i, block in enumerate(vit.encoder.layers):
        tokens = block(tokens)
        if i == 1 and edit is not None:
            tokens = edit(tokens)
        if i == upto:
            return tokens
    return vit.heads(vit.encoder.ln(tokens)[:, 0])


def test_zeroing_a_unit_hits_every_token_and_the_last_axis_only():
    out = torch.arange(2 * 5 * 4, dtype=torch.float32).reshape(2, 5, 4) + 1  # (N, T, D)
    zeroed = ab.zero_units(out, np.array([2]), layout=Layout(TOKENS, 1))
    assert (zeroed[..., 2] == 0).all() and torch.equal(zeroed[..., [0, 1, 3]], out[..., [0, 1, 3]])
    first = ab.zero_units(out.transpose(0, 1), np.array([2]), layout=Layout(SEQUENCE_FIRST, 1))  # (T, N, D)
    assert torch.equal(first.transpose(0, 1), zeroed)
    maps = torch.rand(2, 3, 3, 4) + 1  # (N, H, W, C)
    zeroed = ab.zero_units(maps, np.array([1, 3]), layout=Layout(CHANNELS_LAST))
    assert (zeroed[..., [1, 3]] == 0).all() and torch.equal(zeroed[..., [0, 2]], maps[..., [0, 2]])
    assert ab.unit_count(maps, Layout(CHANNELS_LAST)) == 4 and ab.unit_count(out, Layout(TOKENS, 1)) == 4
    with pytest.raises(NNVisError, match=r"count 5 is out of range.*0\.\.4"):
        ab.zero_lowest(out, 5, "block", Layout(TOKENS, 1))


def test_per_image_lowest_units_follow_the_class_token_or_the_patch_mean():
    out = torch.tensor([[[5.0, 1.0, 3.0], [0.0, 9.0, 9.0], [0.0, 9.0, 9.0]]])  # 1 image, class token + 2 patches
    by_class = ab.zero_lowest(out, 1, "block", Layout(TOKENS, 1), "cls")  # class token: unit 1 lowest (1.0)
    assert (by_class[..., 1] == 0).all() and torch.equal(by_class[..., [0, 2]], out[..., [0, 2]])
    by_mean = ab.zero_lowest(out, 1, "block", Layout(TOKENS, 1), "mean")  # patch mean: unit 0 lowest (0.0)
    assert (by_mean[..., 0] == 0).all() and torch.equal(by_mean[..., 1:], out[..., 1:])


def test_ablating_a_vit_hidden_unit_equals_the_hand_ablated_forward(vit):
    x = vit.input_tensor(IMAGES)
    with torch.no_grad():
        block = vit_forward(vit, x, upto=1)
        alpha = block[:, 0].mean(dim=0).numpy()  # the dataset-mean alpha at the class token
        units = np.argsort(alpha, kind="stable")[:30]  # global: the 30 lowest, zeroed in every token

        def zero_units(tokens):
            tokens = tokens.clone()
            tokens[:, :, units] = 0  # the class token too
            return tokens
        labels = vit_forward(vit, x, zero_units).argmax(1).numpy()
        intact = (vit_forward(vit, x).argmax(1).numpy() == labels).mean()
        found = ab.ablate(vit, IMAGES, labels, BLOCK, mode="global", count=30, mean_alpha=alpha)
        assert found["top1"] == 1.0 and ab.accuracy(vit, IMAGES, labels)["top1"] == intact < 1
        # per image: the 30 units lowest at each image's class token, zeroed in all its tokens
        lowest = torch.sort(block[:, 0], dim=1, stable=True).indices[:, :30]
        keep = torch.ones(len(x), 64, dtype=torch.bool).scatter_(1, lowest, False)
        labels = vit_forward(vit, x, lambda tokens: tokens * keep[:, None, :]).argmax(1).numpy()
    assert ab.ablate(vit, IMAGES, labels, BLOCK, mode="per-image", count=30, tokens="cls")["top1"] == 1.0
    assert ab.ablate(vit, IMAGES, labels, BLOCK, mode="per-image", count=30, tokens="mean")["top1"] < 1


def test_ablating_a_channels_last_channel_equals_the_hand_ablated_forward():
    model = LoadedModel(ChannelsLast().eval(), "x:y", 3)
    x = model.input_tensor(COLOURED)
    net = model.module
    with torch.no_grad():
        mixed = net.mix(net.permute(net.conv(x)))
        mixed[..., 2] = 0  # channel 2 at every position
        labels = net.fc(torch.relu(mixed).mean(dim=(1, 2))).argmax(1).numpy()
        found = ab.ablate(model, COLOURED, labels, "mix", mode="global", count=1,
                          mean_alpha=np.array([1.0, 1.0, -1.0, 1.0, 1.0, 1.0]))
    assert found["top1"] == 1.0 and ab.accuracy(model, COLOURED, labels)["top1"] < 0.5


def test_noise_perturbation_reads_the_class_token_of_a_token_layer(vit):
    found = perturbation(vit, IMAGES, np.zeros(len(IMAGES), dtype=np.int64), [BLOCK], variance=0.01, seed=3,
                         tokens="cls")
    pixels = torch.from_numpy(IMAGES).float().div(255).permute(0, 3, 1, 2)
    noise = torch.randn(pixels.shape, generator=torch.Generator().manual_seed(3)) * 0.1
    with torch.no_grad():
        clean = vit_forward(vit, vit.preprocess.to_model(pixels), upto=1)[:, 0]
        noisy = vit_forward(vit, vit.preprocess.to_model(pixels + noise), upto=1)[:, 0]
    expected = torch.nn.functional.cosine_similarity(clean.double(), noisy.double(), dim=1).mean()
    assert found["cosine"][0] == pytest.approx(float(expected), abs=1e-5)


@pytest.mark.parametrize("tokens", ["cls", "mean"])
def test_actmax_of_a_vit_unit_maximizes_its_class_token_or_patch_mean(vit, tokens):
    params = ActMaxParams(steps=3, restarts=2)
    result = activation_maximization(vit, BLOCK, 9, (32, 32, 3), params, tokens=tokens)
    x = vit.input_tensor(result.images)
    with torch.no_grad():
        block = vit_forward(vit, x, upto=1)
    expected = block[:, 0, 9] if tokens == "cls" else block[:, 1:, 9].mean(dim=1)
    np.testing.assert_allclose(result.activations, expected.numpy(), atol=1e-5)
    assert what_a_unit_is(Layout(TOKENS, 1), tokens) == (
        "the unit's value at the class token" if tokens == "cls" else
        "the unit's mean over the patch tokens (prefix tokens left out)")


def test_actmax_of_a_channels_last_channel_maximizes_its_mean_over_the_map():
    model = LoadedModel(ChannelsLast().eval(), "x:y", 3)
    result = activation_maximization(model, "mix", 4, (32, 32, 3), ActMaxParams(steps=2, restarts=2))
    net = model.module
    with torch.no_grad():
        expected = net.mix(net.permute(net.conv(model.input_tensor(result.images))))[..., 4].mean(dim=(1, 2))
    np.testing.assert_allclose(result.activations, expected.numpy(), atol=1e-5)


@pytest.mark.parametrize("tokens", ["cls", "mean"])
def test_saliency_of_a_vit_unit_is_the_gradient_of_its_token_value(vit, tokens):
    x = vit.input_tensor(IMAGES[:1])
    found = Explainer(vit, tokens=tokens).unit(x, BLOCK, 9, "gradient")
    pixels = vit.preprocess.to_pixels(x).clone().requires_grad_(True)
    block = vit_forward(vit, vit.preprocess.to_model(pixels), upto=1)
    value = block[0, 0, 9] if tokens == "cls" else block[0, 1:, 9].mean()
    (grad,) = torch.autograd.grad(value, pixels)
    assert found.value == pytest.approx(float(value.detach()), abs=1e-5)
    np.testing.assert_allclose(found.attribution, grad[0].numpy(), atol=1e-6)


def test_saliency_of_a_channels_last_channel_is_the_gradient_of_its_mean():
    model = LoadedModel(ChannelsLast().eval(), "x:y", 3)
    x = model.input_tensor(IMAGES[:1])
    found = Explainer(model).unit(x, "mix", 4, "integrated")
    assert found.captum == "NeuronIntegratedGradients"
    net = model.module
    with torch.no_grad():
        value = net.mix(net.permute(net.conv(x)))[..., 4].mean()
    assert found.value == pytest.approx(float(value), abs=1e-5)
    gradient = Explainer(model).unit(x, "mix", 4, "gradient")
    pixels = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(net.mix(net.permute(net.conv(pixels)))[..., 4].mean(), pixels)
    np.testing.assert_allclose(gradient.attribution, grad[0].numpy(), atol=1e-6)


def test_guided_backprop_on_a_model_without_relus_says_so_in_one_line(vit):
    x = vit.input_tensor(IMAGES[:1])
    message = r"^guided backprop only rewires nn.ReLU modules and this model has none \(it uses GELU\)"
    with pytest.raises(NNVisError, match=message):
        Explainer(vit).unit(x, BLOCK, 0, "guided")
    with pytest.raises(NNVisError, match=message):
        Explainer(vit).predicted_class(x, "guided")
    model = LoadedModel(ChannelsLast().eval(), "x:y", 3)  # functional relu only: no module to rewire
    with pytest.raises(NNVisError, match=r"has none \(its activations are functions, not modules\)"):
        Explainer(model).unit(model.input_tensor(IMAGES[:1]), "mix", 0, "guided")
