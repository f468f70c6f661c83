"""--tokens patches in a workspace (issue 25): the stored projection of a token layer's sampled
patch tokens, each with its image, class and grid cell; the outline of a patch on its image; the
"patches" job's checked fields. On the 32x32 ViT with 4x4 patches (an 8x8 grid, one class token)."""

import numpy as np
import pytest
import torch

from nnvis.cli.commands import main
from nnvis.errors import NNVisError
from nnvis.jobs import check_request
from nnvis.projection.methods import project
from nnvis.workspace.analysis import Analysis
from nnvis.workspace.patch_tokens import (
    check_patch_layer,
    has_patch_projection,
    is_patch_layer,
    outline,
    patch_projection,
)
from nnvis.workspace.workspace import Workspace

BLOCK = "encoder.layers.encoder_layer_1"


@pytest.fixture(scope="module")
def vit_workspace(tmp_path_factory) -> Workspace:
    """small_vit with random weights (epoch 0) over 12 random test images of 3 classes."""
    folder = tmp_path_factory.mktemp("vit")
    rng = np.random.default_rng(0)
    np.savez(folder / "tiny.npz", x_train=rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8),
             y_train=np.arange(6) % 3, x_test=rng.integers(0, 256, (12, 32, 32, 3), dtype=np.uint8),
             y_test=np.arange(12) % 3)
    code = main(["run", "--dataset", "npz", "--data-dir", str(folder / "tiny.npz"), "--model",
                 "tests.tiny_models:small_vit", "--epochs", "0", "--projection", "pca", "--device", "cpu",
                 "--layers", f"{BLOCK},heads.head:input", "--neuron-maps", "last", "--workspace", str(folder / "ws")])
    assert code == 0
    return Workspace(folder / "ws")


def block_tokens(analysis: Analysis) -> np.ndarray:
    """The block's output (N, 65, 64), by hand through the model's own modules."""
    model = analysis.model(0)
    vit = model.module.eval()
    with torch.no_grad():
        x = vit._process_input(model.input_tensor(analysis.subset()["images"]))
        x = torch.cat([vit.class_token.expand(len(x), -1, -1), x], 1) + vit.encoder.pos_embedding
        for block in vit.encoder.layers[:2]:
            x = block(x)
    return x.numpy()


def test_every_patch_token_of_a_small_subset_with_its_image_class_and_cell(vit_workspace):
    analysis = Analysis(vit_workspace)
    assert is_patch_layer(analysis, BLOCK) and not is_patch_layer(analysis, "heads.head:input")
    assert not has_patch_projection(analysis, BLOCK, 0, "pca")
    found = patch_projection(analysis, BLOCK, 0, "pca")
    # 12 images x 64 patch tokens, fewer than 20,000: every one, none of them the class token
    assert len(found["points"]) == 12 * 64 and int(found["units"]) == 64 and found["grid"].tolist() == [8, 8]
    cells = set(zip(found["image"].tolist(), found["row"].tolist(), found["column"].tolist()))
    assert cells == {(i, r, c) for i in range(12) for r in range(8) for c in range(8)}
    np.testing.assert_array_equal(found["label"], analysis.labels[found["image"]])
    # the points are the projection of those tokens: token 1 + 8 row + column of its image
    tokens = block_tokens(analysis)[found["image"], 1 + 8 * found["row"] + found["column"]]
    np.testing.assert_allclose(np.abs(found["points"]), np.abs(project(tokens, "pca")), atol=1e-3)
    assert has_patch_projection(analysis, BLOCK, 0, "pca")  # stored: the second view reads it


def test_a_seeded_sample_is_at_most_what_was_asked_and_the_same_each_time(vit_workspace):
    analysis = Analysis(vit_workspace)
    found = patch_projection(analysis, BLOCK, 0, "pca", sample=100)
    assert len(found["points"]) == 100
    assert len(set(zip(found["image"].tolist(), found["row"].tolist(), found["column"].tolist()))) == 100
    again = patch_projection(Analysis(vit_workspace), BLOCK, 0, "pca", sample=100)
    np.testing.assert_array_equal(again["image"], found["image"])
    np.testing.assert_array_equal(again["row"], found["row"])


def test_a_layer_without_patch_tokens_is_refused_with_the_token_layers_named(vit_workspace):
    analysis = Analysis(vit_workspace)
    with pytest.raises(NNVisError, match=f"not a token sequence.*allowed: {BLOCK}$"):
        check_patch_layer(analysis, "heads.head:input")
    with pytest.raises(NNVisError, match="was not captured"):
        check_patch_layer(analysis, "encoder.layers.encoder_layer_0")


def test_the_outline_of_a_patch_on_its_image():
    # a 32x32 image in 4x4 patches: patch (row 3, column 5) covers pixels x 20..24, y 12..16
    left, top, width, height = outline(3, 5, (8, 8))
    assert (left * 32, top * 32, width * 32, height * 32) == (20, 12, 4, 4)
    assert outline(0, 0, (8, 8)) == (0, 0, 0.125, 0.125)
    assert outline(1, 3, (2, 4)) == (0.75, 0.5, 0.25, 0.5)  # a wide image: 2 rows of 4 patches
    with pytest.raises(NNVisError, match="outside the 8x8 patch grid"):
        outline(8, 0, (8, 8))


def test_the_patches_job_takes_only_its_fields(tmp_path):
    request = {"job": "patches", "workspace": str(tmp_path), "layer": BLOCK, "epoch": 0, "method": "pca"}
    assert check_request(request) is request
    with pytest.raises(NNVisError, match="unknown field 'sample'"):
        check_request({**request, "sample": 10**9})
    with pytest.raises(NNVisError, match="epoch must be an integer"):
        check_request({**request, "epoch": "0; rm"})
