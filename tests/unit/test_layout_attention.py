"""Attention recomputed from the modules' own projections equals what the modules give with
need_weights=True (torchvision) or without the fused kernel (timm) to 1e-5; rollout equals a
reference written here from those weights; `nnvis attention` writes them for a workspace."""

import json

import numpy as np
import pytest
import torch

from nnvis.cli.commands import main
from nnvis.deepvis.attention import attention_layers, attention_maps, weights_from_input
from tests.tiny_models import small_vit


def reference_rollout(per_layer: list[np.ndarray]) -> np.ndarray:
    """Abnar and Zuidema: heads averaged, half identity, rows renormalised, multiplied in order."""
    joint = np.eye(per_layer[0].shape[-1])
    for weights in per_layer:
        a = 0.5 * weights.mean(axis=0) + 0.5 * np.eye(weights.shape[-1])
        a = a / a.sum(axis=1, keepdims=True)
        joint = a @ joint
    return joint


@torch.no_grad()
def test_torchvision_attention_equals_need_weights_true_and_rollout_the_reference():
    torch.manual_seed(0)
    vit = small_vit().eval()
    x = torch.randn(1, 3, 32, 32)
    found = attention_maps(vit, x)
    assert found.layers == [f"encoder.layers.encoder_layer_{i}.self_attention" for i in range(4)]
    assert found.prefix == 1 and found.grid == (8, 8)
    expected, h = [], torch.cat([vit.class_token, vit._process_input(x)], 1) + vit.encoder.pos_embedding
    for block in vit.encoder.layers:
        y = block.ln_1(h)
        _, weights = block.self_attention(y, y, y, need_weights=True, average_attn_weights=False)
        expected.append(weights[0].double().numpy())
        np.testing.assert_allclose(weights_from_input(block.self_attention, y)[0].numpy(), weights[0].numpy(),
                                   atol=1e-5)
        h = block(h)
    for got, want in zip(found.weights, expected):
        np.testing.assert_allclose(got, want, atol=1e-5)
    rolled = reference_rollout(expected)[0, 1:].reshape(8, 8)
    np.testing.assert_allclose(found.rollout, rolled, atol=1e-5)
    assert found.maps[found.layers[2]].shape == (4, 8, 8)
    np.testing.assert_allclose(found.maps[found.layers[2]], expected[2][:, 0, 1:].reshape(4, 8, 8), atol=1e-5)


@torch.no_grad()
def test_timm_fused_attention_equals_the_unfused_softmax():
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    deit = timm.create_model("deit_tiny_distilled_patch16_224", pretrained=False, img_size=32).eval()
    x = torch.randn(1, 3, 32, 32)
    found = attention_maps(deit, x)
    assert len(found.layers) == 12 and found.prefix == 2 and found.grid == (2, 2)
    seen = []
    hooks = [block.attn.attn_drop.register_forward_hook(lambda m, a, out: seen.append(out[0].double().numpy()))
             for block in deit.blocks]
    for block in deit.blocks:
        block.attn.fused_attn = False
    deit(x)
    for hook in hooks:
        hook.remove()
    for got, want in zip(found.weights, seen):
        np.testing.assert_allclose(got, want, atol=1e-5)
    np.testing.assert_allclose(found.rollout, reference_rollout(seen)[0, 2:].reshape(2, 2), atol=1e-5)


def test_nnvis_attention_on_a_workspace(tmp_path, capsys):
    rng = np.random.default_rng(0)
    data = tmp_path / "tiny.npz"
    np.savez(data, x_train=rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8), y_train=rng.integers(0, 3, 40),
             x_test=rng.integers(0, 256, (30, 32, 32, 3), dtype=np.uint8), y_test=np.arange(30) % 3)
    code = main(["run", "--dataset", "npz", "--data-dir", str(data), "--model", "tests.tiny_models:small_vit",
                 "--epochs", "0", "--projection", "pca", "--device", "cpu", "--neuron-maps", "last",
                 "--workspace", str(tmp_path / "ws")])
    assert code == 0, capsys.readouterr().err
    capsys.readouterr()
    code = main(["attention", "--workspace", str(tmp_path / "ws"), "--observation", "3", "--out",
                 str(tmp_path / "out"), "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    result = json.loads(out)
    assert result["heads"] == 4 and result["grid"] == [8, 8] and len(result["layers"]) == 4
    assert np.asarray(result["rollout"]).shape == (8, 8)
    assert all((tmp_path / "out" / name.split("/")[-1]).is_file() for name in result["files"])
    assert json.loads((tmp_path / "out" / "attention.json").read_text())["rollout"] == result["rollout"]
    code = main(["attention", "--workspace", str(tmp_path / "ws"), "--observation", "0", "--head", "9",
                 "--out", str(tmp_path / "o2")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--head 9 is not a head" in err[0]
    code = main(["attention", "--workspace", str(tmp_path / "ws"), "--observation", "0", "--layer", "encoder",
                 "--out", str(tmp_path / "o2")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "not an attention module" in err[0]


    # --tokens patches: each patch token an observation, with its image and grid cell
    code = main(["patches", "--workspace", str(tmp_path / "ws"), "--layer", "encoder.layers.encoder_layer_3",
                 "--sample", "500", "--projection", "pca", "--out", str(tmp_path / "p"), "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    summary = json.loads(out)
    assert summary["tokens"] == 500 and summary["units"] == 64 and summary["grid"] == [8, 8]
    rows = np.genfromtxt(tmp_path / "p" / "patches.csv", delimiter=",", names=True, dtype=None, encoding="utf-8")
    assert len(rows) == 500 and rows["row"].max() <= 7 and rows["image"].max() <= 29
    assert len({(r["image"], r["row"], r["column"]) for r in rows}) == 500  # distinct tokens, none a prefix token
    code = main(["patches", "--workspace", str(tmp_path / "ws"), "--layer", "heads.head:input", "--out",
                 str(tmp_path / "p")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "not a token sequence" in err[0]


def test_patch_tokens_are_the_layers_patch_tokens():
    from nnvis.models.patches import patch_tokens
    from nnvis.models.zoo import LoadedModel

    torch.manual_seed(0)
    model = LoadedModel(small_vit().eval(), "x:y", 3)
    images = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    found = patch_tokens(model, images, "encoder.layers.encoder_layer_0", sample=50, seed=1, batch_size=2)
    with torch.no_grad():
        vit = model.module
        x = vit._process_input(model.input_tensor(images))
        x = torch.cat([vit.class_token.expand(3, -1, -1), x], 1) + vit.encoder.pos_embedding
        tokens = vit.encoder.layers[0](x)
    expected = tokens[found.image, 1 + found.row * 8 + found.column]
    np.testing.assert_allclose(found.rows, expected.numpy(), atol=1e-5)
    again = patch_tokens(model, images, "encoder.layers.encoder_layer_0", sample=50, seed=1)
    assert np.array_equal(again.image, found.image) and len(found.rows) == 50


def test_a_cnn_has_no_attention():
    from tests.tiny_models import TutorialNet

    assert attention_layers(TutorialNet()) == []
    with pytest.raises(Exception, match="no attention module"):
        attention_maps(TutorialNet(), torch.zeros(1, 3, 32, 32))
