"""/concepts: hovering an exemplar's crop shows the concept's heat-map over the whole image
(issue 27, item 1). The job stores each concept's strength map over the image of each of its
first exemplars; it equals atlas.heat_maps of that image (the concept's strength at every
position, computed anew), and the card carries it drawn over the image; an atlas stored before
the heat-maps asks the job for them, once."""

import base64
import io

import numpy as np
import pytest
from dash import no_update
from PIL import Image

from nnvis.concepts.atlas import Request, atlas, heat_maps
from nnvis.models.feature_maps import overlay
from nnvis.workspace import keys
from nnvis.workspace.analysis import Analysis
from nnvis.workspace.workspace import Workspace
from tests.integration.test_concepts_cli import MODEL
from tests.integration.test_trust_badges import cnn_workspace  # noqa: F401 (the module's workspace)

K = 3


def decoded(src: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))))


@pytest.fixture
def app_context(cnn_workspace, tmp_path):  # noqa: F811
    from app import create_app
    from nnvis.settings import Settings

    app = create_app(Settings(workspaces=(cnn_workspace,), job_cache=tmp_path / "jobs", model_allow=(MODEL,)))
    return app.server.test_request_context


def test_exemplar_heat_maps_are_the_concepts_strength_over_the_whole_image(cnn_workspace, app_context):  # noqa: F811
    from callbacks.concepts import CROPS, compute_atlases, concepts_view

    analysis = Analysis(Workspace(cnn_workspace))
    request = Request(analysis, "conv2", 2, K, 0, 2000)
    atlas(request)  # an atlas stored before the heat-maps were
    with app_context():
        grid, *_, request_data = concepts_view(0, "conv2", 2, K, None, None, None)
        assert request_data == {"ws": 0, "layer": "conv2", "k": K}  # the job is asked for the heat-maps
        assert not any("concept-heat-img" in str(card) for card in grid)
        done = concepts_view(0, "conv2", 2, K, None, None, {"ws": 0, "layer": "conv2", "k": K})[-1]
        assert done is no_update  # after the job: asked once
        compute_atlases(analysis, "conv2", K)
        grid, *_, request_data = concepts_view(0, "conv2", 2, K, None, None, None)
    assert request_data is no_update
    found = atlas(request)
    stored = analysis.store.get(keys.concept_exemplar_heat(analysis, "conv2", 2, K, 0, 2000, CROPS))
    images = analysis.subset()["images"]
    for j in range(K):
        rows = found["exemplar_observation"][j][:CROPS]
        np.testing.assert_array_equal(stored["observation"][j], rows)
        by_hand = heat_maps(request, images[rows])[:, j]
        np.testing.assert_allclose(stored["heat"][j], by_hand, rtol=1e-4, atol=1e-5)
        crops = grid[j].children[1].children
        assert len(crops) == CROPS
        for i, crop in enumerate(crops):
            shown = decoded(crop.children[1].src)
            expected = overlay(images[rows[i]], by_hand[i])
            scale = shown.shape[0] // expected.shape[0]
            assert scale >= 2 and np.abs(shown[::scale, ::scale].astype(int) - expected.astype(int)).max() <= 1
