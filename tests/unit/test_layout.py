"""A layer's layout, decided in one place (nnvis.models.layout): the unit axis of a token
sequence is its hidden size D, of a channels-last map its channels C; the classifier's true
input is read with a pre-hook; a module called twice is captured per call."""

import numpy as np
import pytest
import torch
from torch import nn

from nnvis.errors import NNVisError
from nnvis.models.activations import capture, probe_layouts
from nnvis.models.layers import default_layer_reasons, resolve_layers
from nnvis.models.layout import Layout, layout_of, parse_layouts, resolve_tokens
from nnvis.models.probe import probe_input
from nnvis.models.zoo import LoadedModel
from tests.tiny_models import FunctionalHead, TutorialNet, small_vit

GREY = np.random.default_rng(0).integers(0, 256, (5, 8, 8), dtype=np.uint8)
COLOUR = np.random.default_rng(1).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)


def test_the_classifier_input_is_what_the_last_linear_reads_through_a_functional_relu():
    model = LoadedModel(FunctionalHead().eval(), "x:y", 1)
    layers = resolve_layers(model.module, "all", model.input_tensor(GREY[:2]))
    reads = [name for name, why in default_layer_reasons(model.module, model.input_tensor(GREY[:2])).items()
             if "input of the last Linear" in why]
    assert reads == ["fc2:input"] and reads[0] in layers
    acts, _ = capture(model, GREY, reads)
    with torch.no_grad():
        x = torch.flatten(torch.relu(model.module.conv(model.input_tensor(GREY))), 1)
        expected = torch.relu(model.module.fc1(x))
    assert (expected < 0).sum() == 0 and (model.module.fc1(x) < 0).any()  # relu(fc1(x)) differs from fc1(x)
    np.testing.assert_allclose(acts["fc2:input"].astype(np.float32), expected.numpy(), atol=1e-3)  # float16 storage


def test_a_module_called_twice_is_captured_per_call():
    model = LoadedModel(TutorialNet().eval(), "x:y", 3)
    reasons = default_layer_reasons(model.module, model.input_tensor(COLOUR[:2]))
    assert list(reasons) == ["conv1", "pool#1", "pool#2", "conv2", "fc1", "fc2", "fc3:input"]
    assert "called 2 times" in reasons["pool#2"]
    acts, _ = capture(model, COLOUR, ["pool#1", "pool#2", "fc3:input"])
    assert acts["pool#1"].shape == (3, 6) and acts["pool#2"].shape == (3, 16)
    with torch.no_grad():
        x = model.input_tensor(COLOUR)
        first = model.module.pool(torch.relu(model.module.conv1(x)))
        second = model.module.pool(torch.relu(model.module.conv2(first)))
    np.testing.assert_allclose(acts["pool#2"].astype(np.float32), second.mean(dim=(2, 3)).numpy(), atol=2e-3)
    with pytest.raises(NNVisError, match=r"layer 'pool' is called more than once.*pool#1, pool#2"):
        capture(model, COLOUR, ["pool"])
    with pytest.raises(NNVisError, match="pool#1, pool#2"):
        probe_layouts(model, COLOUR[:2], ["conv1", "pool"])


def test_a_vit_block_has_d_units_and_the_class_token_is_what_the_head_reads():
    torch.manual_seed(0)
    model = LoadedModel(small_vit().eval(), "x:y", 3)
    reasons = default_layer_reasons(model.module, model.input_tensor(COLOUR[:2]))
    assert list(reasons) == [f"encoder.layers.encoder_layer_{i}" for i in range(4)] + ["heads.head:input"]
    layouts = probe_layouts(model, COLOUR[:2], list(reasons))
    assert layouts["encoder.layers.encoder_layer_0"] == Layout("tokens", 1)
    acts, _ = capture(model, COLOUR, list(reasons), tokens="cls")
    assert all(acts[name].shape == (3, 64) for name in reasons)  # D = 64 units, not 65 tokens
    vit = model.module
    with torch.no_grad():  # a hand-written forward through the same modules
        x = vit._process_input(model.input_tensor(COLOUR))
        x = torch.cat([vit.class_token.expand(len(x), -1, -1), x], dim=1) + vit.encoder.pos_embedding
        blocks = []
        for block in vit.encoder.layers:
            x = block(x)
            blocks.append(x)
        head_reads = vit.encoder.ln(x)[:, 0]
    np.testing.assert_allclose(acts["heads.head:input"].astype(np.float32), head_reads.numpy(), atol=5e-3, rtol=1e-3)
    mean, _ = capture(model, COLOUR, ["encoder.layers.encoder_layer_2"], tokens="mean")
    np.testing.assert_allclose(mean["encoder.layers.encoder_layer_2"].astype(np.float32),
                               blocks[2][:, 1:].mean(dim=1).numpy(), atol=5e-3, rtol=1e-3)
    assert resolve_tokens(None, layouts) == "cls"


def test_layout_values_match_a_hand_written_reduction_to_1e_5():
    torch.manual_seed(0)
    out = torch.randn(2, 7, 5)
    np.testing.assert_allclose(Layout("tokens", 2, True).units(out, "cls").numpy(),
                               ((out[:, 0] + out[:, 1]) / 2).numpy(), atol=1e-5)
    np.testing.assert_allclose(Layout("tokens", 2).units(out, "mean").numpy(), out[:, 2:].mean(1).numpy(), atol=1e-5)
    np.testing.assert_allclose(Layout("sequence-first", 1).units(out.transpose(0, 1), "cls").numpy(),
                               out[:, 0].numpy(), atol=1e-5)
    maps = torch.randn(2, 3, 4, 6)
    np.testing.assert_allclose(Layout("channels-last").units(maps).numpy(), maps.mean(dim=(1, 2)).numpy(), atol=1e-5)
    grid = Layout("tokens", 1).maps(torch.randn(2, 1 + 4 * 8, 5), (16, 32))
    assert tuple(grid.shape) == (2, 5, 4, 8)


class Opaque(nn.Module):
    def forward(self, x):
        return x.flatten(2)  # (N, C, H*W): 3 axes, nothing says what they are


class OpaqueNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.opaque = Opaque()
        self.fc = nn.Linear(64, 2)

    def forward(self, x):
        return self.fc(self.opaque(x).flatten(1))


def test_a_layout_that_cannot_be_known_is_refused_naming_layout():
    model = LoadedModel(OpaqueNet().eval(), "x:y", 1)
    with pytest.raises(NNVisError, match=r"--layout opaque=KIND") as error:
        probe_layouts(model, GREY[:2], ["opaque"])
    assert "\n" not in str(error.value)
    assert probe_layouts(model, GREY[:2], ["opaque"], parse_layouts("opaque=tokens"))["opaque"] == Layout("tokens")
    with pytest.raises(NNVisError, match="--layout 'opaque=rows' is invalid"):
        parse_layouts("opaque=rows")


def test_tokens_choices_that_do_not_fit_are_one_line():
    with pytest.raises(NNVisError, match="none of the layers conv has tokens"):
        resolve_tokens("mean", {"conv": Layout("channels-first")})
    with pytest.raises(NNVisError, match="--tokens cls needs a class token"):
        resolve_tokens("cls", {"blocks.0": Layout("tokens", 0)})
    assert resolve_tokens(None, {"blocks.0": Layout("tokens", 0)}) == "mean"
    assert resolve_tokens(None, {"conv": Layout("channels-first")}) is None


def test_probe_input_is_seeded():
    assert torch.equal(probe_input(3, (4, 4)), probe_input(3, (4, 4)))
    assert layout_of(nn.Linear(2, 2), "", 2).kind == "vector"


def test_a_vit_layer_shows_patch_maps_in_the_grid_strip_and_feature_maps():
    from nnvis.deepvis.grid import layer_grid
    from nnvis.deepvis.strip import structure_strip
    from nnvis.models.feature_maps import feature_maps, layer_shape, map_layers

    torch.manual_seed(0)
    model = LoadedModel(small_vit().eval(), "x:y", 3)
    layer = "encoder.layers.encoder_layer_1"
    assert layer_shape(model, layer, (32, 32, 3)) == (64, 8, 8)  # D maps on the 8x8 patch grid
    assert layer in map_layers(model, (32, 32, 3)) and "heads.head" not in map_layers(model, (32, 32, 3))
    maps = feature_maps(model, COLOUR, layer)
    with torch.no_grad():
        x = model.module._process_input(model.input_tensor(COLOUR))
        x = torch.cat([model.module.class_token.expand(len(x), -1, -1), x], 1) + model.module.encoder.pos_embedding
        tokens = model.module.encoder.layers[1](model.module.encoder.layers[0](x))
    patch = tokens[:, 1:].reshape(3, 8, 8, 64)  # row-major patches: token 1 + 8r + c
    np.testing.assert_allclose(maps[:, 5], patch[..., 5].numpy(), atol=1e-5)
    grid = layer_grid(model, model.input_tensor(COLOUR[:1]), layer)
    assert grid.maps.shape == (64, 8, 8)
    rows = structure_strip(model, COLOUR[0], [layer], k=4)
    assert rows[0].maps.shape == (4, 8, 8)


def test_a_unit_of_the_classifier_input_can_be_ablated_through_its_pre_hook():
    from nnvis.models.hooks import forward_hooks

    model = FunctionalHead().eval()
    x = torch.randn(4, 1, 8, 8)

    def zero_unit(value):
        value = value.clone()
        value[:, 3] = 0
        return value

    with torch.no_grad():
        with forward_hooks(model, {"fc2:input": zero_unit}):
            ablated = model(x)
        hidden = torch.relu(model.fc1(torch.flatten(torch.relu(model.conv(x)), 1)))
        hidden[:, 3] = 0
        expected = model.fc2(hidden)
    np.testing.assert_allclose(ablated.numpy(), expected.numpy(), atol=1e-6)


def test_a_layout_the_user_named_reaches_feature_maps_and_layer_shapes():
    """`--layout opaque=tokens` is kept on the loaded model, so the unit card's maps, the layer
    grid and the strip read that layer as the capture does (they asked the model alone, and
    refused it)."""
    from nnvis.models.feature_maps import feature_maps, layer_shape, map_layers

    named = LoadedModel(OpaqueNet().eval(), "x:y", 1, layouts=parse_layouts("opaque=tokens"))
    maps = feature_maps(named, GREY, "opaque")  # one token of 64 units: a 1x1 patch grid
    tokens = named.input_tensor(GREY).flatten(2)[:, 0, :]
    assert maps.shape == (5, 64, 1, 1)
    np.testing.assert_allclose(maps[:, :, 0, 0], tokens.numpy(), atol=1e-6)
    assert layer_shape(named, "opaque", (8, 8)) == (64, 1, 1)
    assert "opaque" in map_layers(named, (8, 8))
    with pytest.raises(NNVisError, match="--layout opaque=KIND"):
        feature_maps(LoadedModel(OpaqueNet().eval(), "x:y", 1), GREY, "opaque")
