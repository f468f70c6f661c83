"""The unit card's activation maps are a job (issue 16): the card's request runs no model and
stores nothing (it shows the plain thumbnails, 'computing…' and the job's request); the job stores
the maps and draws them over the images; a dense layer, once known, needs no job; a read-only
server says the maps are not computed. On resnet18 (random weights) over real CIFAR-10 test images
and on a digits MLP."""

import numpy as np
import pytest
from dash import no_update

from nnvis.models.feature_maps import feature_maps, overlay
from nnvis.workspace.analysis import Analysis
from nnvis.workspace.workspace import Workspace
from tests.conftest import copy_workspace, counting, forget
from tests.integration.test_layerlab_jobs import store_entries


def tile_sources(tiles) -> list[str]:
    return [tile.children[0].src for tile in tiles]


def pixels(src: str) -> np.ndarray:
    import base64
    import io

    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))))


@pytest.fixture
def card_app(tmp_path):
    """`card_app(workspace, read_only)`: a request context of the real app over `workspace`."""
    from app import create_app
    from nnvis.settings import Settings

    def context(workspace, read_only=False):
        app = create_app(Settings(workspaces=(workspace,), job_cache=tmp_path / "jobs", read_only=read_only))
        return app.server.test_request_context()
    return context


def test_a_conv_units_maps_are_computed_by_the_job_never_by_the_card(resnet_workspace, card_app, tmp_path,
                                                                       monkeypatch):
    from callbacks import unitlab

    copy = copy_workspace(resnet_workspace.path, tmp_path / "resnet")
    analysis = Analysis(Workspace(copy))
    analysis.activations_by_unit("layer2", 0), analysis.labels  # what the card reads, stored as `nnvis run` leaves it
    best = np.argsort(-analysis.activations("layer2", 0)[:, 21].astype(np.float32), kind="stable")[:4]
    images = analysis.subset()["images"]
    expected = feature_maps(analysis.model(0), images[best], "layer2")[:, 21]  # 4 x 4 maps of channel 21
    models = counting(monkeypatch, Analysis, "model")
    with card_app(copy):
        before = store_entries(copy)
        title, message, tiles, mean, _, status, request, *_ = unitlab.render_card(0, "layer2", 0, 21, 4)
        assert message is None and title == "layer2 · unit 21 of 128 (maps computing) · epoch 0"
        assert tile_sources(tiles) == [f"/thumbs/0/{i}.png?v={unitlab.version_of(analysis)}" for i in best]
        assert status == "Computing the activation maps over these images in the background…"
        assert request == {"ws": 0, "layer": "layer2", "epoch": 0, "unit": 21, "k": 4}
        assert mean[0].id == "ul-mean-img"  # the rest of the card shows at once
        assert models == [] and store_entries(copy) == before  # no model, nothing stored

        reports = []
        title, tiles, status = unitlab.run_maps_job(reports.append, request)  # the job (here in-process)
        assert reports[0] == ("0", "1", "activation maps…") and status is None
        assert title == "layer2 · unit 21 of 128 (channel, maps 4×4) · epoch 0"
        for rank, src in enumerate(tile_sources(tiles)):
            np.testing.assert_array_equal(pixels(src)[::3, ::3], overlay(images[best[rank]], expected[rank]))
        calls = len(models)
        shown = unitlab.render_card(0, "layer2", 0, 21, 4)  # the page: from the store now, no job asked
        assert shown[0] == title and tile_sources(shown[2]) == tile_sources(tiles) and shown[5:7] == (None, None)
        assert len(models) == calls


def test_a_dense_unit_of_a_run_shows_at_once_even_read_only(digits_workspace, card_app, tmp_path, monkeypatch):
    """`nnvis run` stores each layer's output shape, so a served dense layer needs no model and no job."""
    from callbacks import unitlab

    copy = copy_workspace(digits_workspace.path, tmp_path / "digits")
    models = counting(monkeypatch, Analysis, "model")
    with card_app(copy, read_only=True):
        before = store_entries(copy)
        title, _, tiles, _, _, status, request, *_ = unitlab.render_card(0, "hidden2", 2, 3, 9)
        assert title == "hidden2 · unit 3 of 1000 (dense unit) · epoch 2" and status is None
        assert request is no_update and len(tiles) == 9 and models == []
        assert store_entries(copy) == before


def test_a_dense_layer_needs_one_job_then_none_and_read_only_computes_nothing(digits_workspace, card_app, tmp_path,
                                                                             monkeypatch):
    from callbacks import unitlab

    copy = copy_workspace(digits_workspace.path, tmp_path / "digits")
    forget(copy, "layer-shape")  # as a workspace made before `nnvis run` stored the layers' shapes
    with card_app(copy, read_only=True):
        before = store_entries(copy)
        title, _, tiles, _, _, status, request, *_ = unitlab.render_card(0, "hidden2", 2, 3, 9)
        assert status == "This server is read-only: the activation maps over these images are not computed."
        assert request is no_update and len(tiles) == 9 and "(maps not computed)" in title
        assert all(src.startswith("/thumbs/0/") for src in tile_sources(tiles))
        assert unitlab.run_maps_job(lambda _: None, {"ws": 0, "layer": "hidden2", "epoch": 2, "unit": 3,
                                                     "k": 9})[2].startswith("This server is read-only")
        assert store_entries(copy) == before
    with card_app(copy):
        request = unitlab.render_card(0, "hidden2", 2, 3, 9)[6]
        title, tiles, status = unitlab.run_maps_job(lambda _: None, request)
        assert title == "hidden2 · unit 3 of 1000 (dense unit) · epoch 2" and status is None
        models = counting(monkeypatch, Analysis, "model")
        title, _, tiles, _, _, status, request, *_ = unitlab.render_card(0, "hidden2", 2, 700, 5)  # another unit
        assert title == "hidden2 · unit 700 of 1000 (dense unit) · epoch 2" and (status, request) == (None, None)
        assert len(tiles) == 5 and models == []  # the layer is known to be dense: no job, no model
