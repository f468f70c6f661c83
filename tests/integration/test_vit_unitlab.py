"""The unit lab's analyses on a tiny ViT workspace (tests/vit_models.py): a block layer's 64 hidden
units are ablated in every token, its sparsity, noise perturbation, activation maximization and
the unit card's patch maps read them on the hidden axis; values checked against a hand-written
forward pass through the model's own modules. (Before, ablation, perturbation and activation
maximization of these layers were refused.)"""

import json

import numpy as np
import pytest
import torch

from layouts.unit_figures import OUTLINE, firing_patch, patch_outlined
from nnvis.cli.commands import main
from nnvis.models.hooks import forward_hooks
from nnvis.unitlab import ablation as ab
from nnvis.unitlab import lab as unitlab
from nnvis.unitlab.actmax import ActMaxParams, actmax_for
from nnvis.workspace.analysis import Analysis
from tests.vit_models import BLOCK, vit_workspace

LAST = "encoder.layers.encoder_layer_3"


@pytest.fixture(scope="module")
def vit(cifar_npz, tmp_path_factory) -> Analysis:
    return Analysis(vit_workspace(cifar_npz, tmp_path_factory.mktemp("vit")))


def tokens_of(analysis: Analysis, images: np.ndarray, block: int) -> torch.Tensor:
    """Block `block`'s output (N, 65, 64) by hand through the model's own modules."""
    model = analysis.model(0)
    vit = model.module.eval()
    with torch.no_grad():
        x = vit._process_input(model.input_tensor(images))
        x = torch.cat([vit.class_token.expand(len(x), -1, -1), x], dim=1) + vit.encoder.pos_embedding
        for layer in vit.encoder.layers[:block + 1]:
            x = layer(x)
    return x


def test_a_block_layer_has_64_units_and_its_sparsity_counts_them(vit):
    assert vit.manifest["layouts"][BLOCK] == "tokens:1" and vit.config.tokens == "cls"
    acts = unitlab.activations(vit, BLOCK, 0)
    np.testing.assert_allclose(acts, tokens_of(vit, vit.subset()["images"], 1)[:, 0].numpy(), atol=5e-3)
    found = unitlab.layer_sparsity(vit, BLOCK, 0, threshold=0.05)
    assert found["counts"].sum() == 40 * 64
    assert float(found["near_zero"]) == pytest.approx(np.mean(np.abs(acts) <= 0.05))


def test_ablating_every_hidden_unit_of_the_last_block_leaves_the_final_norms_bias(vit):
    """All 64 units zeroed in every token: the final LayerNorm of zeros is its bias, so one class for all."""
    sweep = unitlab.ablation_sweep(vit, LAST, 0, "per-image", counts=[64], on="test")
    vit_module = vit.model(0).module
    with torch.no_grad():
        only = int(vit_module.heads(vit_module.encoder.ln.bias[None]).argmax())
    labels = vit.dataset.test_labels
    assert sweep["units"] == 64 and sweep["top1"][0] == np.mean(labels == only)
    assert sweep["baseline_top1"] == ab.accuracy(vit.model(0), vit.dataset.test_images, labels)["top1"]


def test_global_ablation_of_a_block_zeroes_the_lowest_units_in_every_token(vit):
    images, labels = vit.subset()["images"], vit.subset()["labels"]
    alpha = unitlab.activations(vit, BLOCK, 0).mean(axis=0)
    lowest = np.sort(np.argsort(alpha, kind="stable")[:20])

    def zero(tokens):
        tokens = tokens.clone()
        tokens[:, :, lowest] = 0  # the class token too
        return tokens
    with torch.no_grad(), forward_hooks(vit.model(0).module, {BLOCK: zero}):
        hand = ab.accuracy(vit.model(0), images, labels)
    found = unitlab.ablation(vit, BLOCK, 0, "global", 20, on="subset")
    assert (float(found["top1"]), float(found["top5"])) == (hand["top1"], hand["top5"])


def test_noise_perturbation_covers_the_token_layers(vit):
    found = unitlab.perturbation(vit, 0, None, 0.0, on="subset")
    assert found["layers"].tolist() == [BLOCK, LAST]
    np.testing.assert_allclose(found["cosine"], [1.0, 1.0], atol=1e-6)  # no noise: the same activations
    noisy = unitlab.perturbation(vit, 0, None, 0.05, on="subset")
    assert np.all((noisy["cosine"] > 0) & (noisy["cosine"] < 1))


def test_the_unit_card_maps_are_the_patch_grid_and_the_firing_patch_is_outlined(vit):
    unit = 5
    best = unitlab.top_examples(vit, BLOCK, 0, unit, 4)["observations"]
    maps = unitlab.unit_maps(vit, BLOCK, 0, unit, 4)
    tokens = tokens_of(vit, vit.subset()["images"][best], 1)
    np.testing.assert_allclose(maps, tokens[:, 1:, unit].reshape(4, 8, 8).numpy(), atol=1e-5)  # token 1 + 8r + c
    row, column = firing_patch(maps[0])
    assert 1 + 8 * row + column == 1 + int(tokens[0, 1:, unit].argmax())
    image = np.zeros((32, 32, 3), np.uint8)
    drawn = patch_outlined(image, (8, 8), (2, 5), size=96)  # 3x: the patch is rows 24..35, columns 60..71
    assert drawn.shape == (96, 96, 3)
    outlined = np.all(drawn == OUTLINE, axis=2)
    assert outlined[24:26, 60:72].all() and outlined[34:36, 60:72].all() and outlined[24:36, 60:62].all()
    assert outlined[24:36, 70:72].all() and outlined.sum() == 4 * 12 * 2 - 4 * 4 and not outlined[26:34, 62:70].any()


def test_actmax_of_a_block_unit_maximizes_its_class_token_value(vit):
    params = ActMaxParams(steps=4, restarts=2)
    result = actmax_for(vit, BLOCK, 0, 7, params)
    np.testing.assert_allclose(result.activations, tokens_of(vit, result.images, 1)[:, 0, 7].numpy(), atol=1e-5)
    assert unitlab.stored_actmax(vit, BLOCK, 0, 7, params) is not None


def test_the_ablate_command_on_a_block_layer(vit, capsys):
    code = main(["ablate", "--workspace", str(vit.workspace.path), "--layer", BLOCK, "--count", "32", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    found = json.loads(out)
    assert found["units"] == 64 and found["count"] == [32]
    assert found["top1"] == [float(unitlab.ablation(vit, BLOCK, 0, "per-image", 32)["top1"])]
