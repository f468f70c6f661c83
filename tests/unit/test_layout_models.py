"""Unit counts equal the true hidden widths, with random weights and small inputs, for
torchvision's and timm's transformers and modern backbones; the captured values equal a
hand-written forward pass through the same modules; timm by name from a local file only."""

import numpy as np
import pytest
import torch
import torchvision

from nnvis.errors import NNVisError
from nnvis.models.activations import LayerReader, capture, probe_layouts
from nnvis.models.hooks import forward_hooks
from nnvis.models.layers import default_layer_reasons
from nnvis.models.zoo import LoadedModel

timm = pytest.importorskip("timm")


def images(size: int, n: int = 2) -> np.ndarray:
    return np.random.default_rng(size).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def captured(module, size: int, layers: list[str], tokens=None) -> tuple[dict, torch.Tensor]:
    """Each layer's rows in float32, as capture's hooks read them (the values capture stores in
    float16); capture itself gives the same widths."""
    model = LoadedModel(module.eval(), "x:y", 3)
    pixels = images(size)
    probe_layouts(model, pixels, layers)  # nothing refused
    stored, _ = capture(model, pixels, layers, tokens=tokens)
    reader, rows = LayerReader(model.module, tokens), {}
    hooks = {name: (lambda out, name=name: rows.__setitem__(name, reader(name, out).numpy())) for name in layers}
    x = model.input_tensor(pixels)
    with torch.no_grad(), forward_hooks(model.module, hooks, strict=True):
        model.module(x)
    assert all(stored[name].shape == rows[name].shape for name in layers)
    np.testing.assert_allclose(stored[layers[0]].astype(np.float32), rows[layers[0]], rtol=2e-3, atol=2e-3)
    return rows, x


def close(got: np.ndarray, expected: torch.Tensor) -> None:
    np.testing.assert_allclose(got, expected.float().numpy(), rtol=1e-5, atol=1e-5)


@torch.no_grad()
def test_torchvision_vit_b_16_has_768_units_per_block():
    torch.manual_seed(0)
    vit = torchvision.models.vit_b_16(image_size=32)
    layers = ["encoder.layers.encoder_layer_5", "heads.head:input"]
    acts, x = captured(vit, 32, layers)
    assert acts["encoder.layers.encoder_layer_5"].shape == (2, 768)
    h = vit._process_input(x)
    h = torch.cat([vit.class_token.expand(len(h), -1, -1), h], 1) + vit.encoder.pos_embedding
    for block in vit.encoder.layers[:6]:
        h = block(h)
    close(acts["encoder.layers.encoder_layer_5"], h[:, 0])


@torch.no_grad()
def test_torchvision_swin_t_stages_are_channels_last():
    torch.manual_seed(0)
    swin = torchvision.models.swin_t()
    acts, x = captured(swin, 64, ["features.1", "features.3"])
    assert acts["features.1"].shape == (2, 96) and acts["features.3"].shape == (2, 192)  # C, not H
    h = swin.features[1](swin.features[0](x))
    close(acts["features.1"], h.mean(dim=(1, 2)))
    assert list(default_layer_reasons(swin))[:2] == ["features.0", "features.1"]


@torch.no_grad()
def test_torchvision_convnext_tiny_blocks_and_their_inside():
    torch.manual_seed(0)
    convnext = torchvision.models.convnext_tiny()
    layers = ["features.1", "features.1.0.block.3", "features.1.0.block.4"]
    acts, x = captured(convnext, 32, layers)
    assert acts["features.1"].shape == (2, 96)
    assert acts["features.1.0.block.3"].shape == (2, 384) and acts["features.1.0.block.4"].shape == (2, 384)
    stem = convnext.features[0](x)
    close(acts["features.1"], convnext.features[1](stem).mean(dim=(2, 3)))
    inside = convnext.features[1][0].block[:5](stem)  # (N, H, W, 4C) between the permutes
    close(acts["features.1.0.block.4"], inside.mean(dim=(1, 2)))


@pytest.mark.slow  # maxvit_t takes 224x224 only (each stage's map a multiple of its 7x7 partitions): ~60 s loaded
@torch.no_grad()
def test_torchvision_maxvit_t_stages_and_partition_attention_are_channels_first():
    torch.manual_seed(0)
    maxvit = torchvision.models.maxvit_t()
    inside = "blocks.0.layers.0.layers.grid_attention"  # windows inside, an (N, C, H, W) map outside
    layers = ["blocks.0", "blocks.3", inside, "classifier.5:input"]
    acts, x = captured(maxvit, 224, layers)
    assert {name: acts[name].shape for name in layers} == {"blocks.0": (2, 64), "blocks.3": (2, 512), inside: (2, 64),
                                                          "classifier.5:input": (2, 512)}
    h = maxvit.stem(x)
    first = maxvit.blocks[0].layers[0].layers
    close(acts[inside], first.grid_attention(first.window_attention(first.MBconv(h))).mean(dim=(2, 3)))
    stages = []
    for block in maxvit.blocks:
        h = block(h)
        stages.append(h)
    close(acts["blocks.0"], stages[0].mean(dim=(2, 3)))
    close(acts["blocks.3"], stages[3].mean(dim=(2, 3)))
    close(acts["classifier.5:input"], maxvit.classifier[:5](h))  # tanh(Linear(LayerNorm(pooled))), 512 wide
    assert list(default_layer_reasons(maxvit, x)) == ["blocks.0", "blocks.1", "blocks.2", "blocks.3",
                                                      "classifier.5:input"]


@torch.no_grad()
def test_timm_vit_tiny_and_deit_distilled_tokens():
    torch.manual_seed(0)
    vit = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=32)
    acts, x = captured(vit, 32, ["blocks.3", "head:input"])
    assert acts["blocks.3"].shape == (2, 192)
    h = vit.blocks[:4](vit._pos_embed(vit.patch_embed(x)))
    close(acts["blocks.3"], h[:, 0])
    deit = timm.create_model("deit_tiny_distilled_patch16_224", pretrained=False, img_size=32)
    assert list(default_layer_reasons(deit))[-1] == "head:input"  # the class token's head, not head_dist
    acts, x = captured(deit, 32, ["blocks.2"])
    assert deit.num_prefix_tokens == 2 and acts["blocks.2"].shape == (2, 192)
    h = deit.blocks[:3](deit._pos_embed(deit.patch_embed(x)))
    close(acts["blocks.2"], (h[:, 0] + h[:, 1]) / 2)  # class and distillation token
    mean, _ = captured(deit, 32, ["blocks.2"], tokens="mean")
    close(mean["blocks.2"], h[:, 2:].mean(dim=1))  # the prefix tokens never averaged in


@torch.no_grad()
def test_timm_swin_tiny_stages():
    torch.manual_seed(0)
    swin = timm.create_model("swin_tiny_patch4_window7_224", pretrained=False, img_size=64, window_size=2)
    reasons = default_layer_reasons(swin)
    assert list(reasons) == ["layers.0", "layers.1", "layers.2", "layers.3", "head.fc:input"]
    acts, x = captured(swin, 64, ["layers.0", "layers.3", "head.fc:input"])
    assert [acts[n].shape[1] for n in ("layers.0", "layers.3", "head.fc:input")] == [96, 768, 768]
    h = swin.layers[0](swin.patch_embed(x))
    close(acts["layers.0"], h.mean(dim=(1, 2)))
    model = LoadedModel(swin, "x:y", 3)
    with pytest.raises(NNVisError, match="--layout"):  # attention over windows: its first axis is not the images
        probe_layouts(model, images(64), ["layers.0.blocks.0.attn.proj"])


def test_timm_by_name_from_a_local_file_only(tmp_path):
    from safetensors.torch import save_file

    from nnvis.models.timm_models import timm_preprocessing
    from nnvis.models.zoo import build_model

    with pytest.raises(NNVisError, match=r"unknown timm model 'vit_tiny_patch16_22'.*vit_tiny_patch16_224"):
        build_model("timm:vit_tiny_patch16_22", image_shape=(32, 32, 3), n_classes=10)
    with pytest.raises(NNVisError, match="does not exist; place the weights"):
        build_model("timm:vit_tiny_patch16_224", image_shape=(32, 32, 3), n_classes=10, weights=tmp_path / "x.pt")
    torch.manual_seed(0)
    source = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=7)
    save_file(source.state_dict(), str(tmp_path / "model.safetensors"))
    built = build_model("timm:vit_tiny_patch16_224", image_shape=(32, 32, 3), n_classes=10,
                        weights=tmp_path / "model.safetensors").module
    assert built.head.out_features == 7 and torch.equal(built.head.weight, source.head.weight)
    save_file({"head.weight": torch.zeros(7, 5)}, str(tmp_path / "misfit.safetensors"))
    with pytest.raises(NNVisError, match="does not fit timm model") as error:
        build_model("timm:vit_tiny_patch16_224", image_shape=(32, 32, 3), n_classes=10,
                    weights=tmp_path / "misfit.safetensors")
    assert "\n" not in str(error.value)
    assert timm_preprocessing("timm:vit_tiny_patch16_224") == {"normalize": "0.5,0.5,0.5/0.5,0.5,0.5",
                                                               "crop": 224, "image_size": 248}
