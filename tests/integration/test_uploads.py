"""Uploaded and drawn images stored once by digest (web.uploads), and the work per input kept
per process: a /deepvis hover and a layer-lab enlarge read the grid or strip computed for the
input instead of rebuilding the model and rerunning the forward pass."""

import base64
import io
import json
import os

import numpy as np
import pytest
from PIL import Image

from nnvis.errors import NNVisError
from tests.conftest import counting


def data_url(image: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


@pytest.fixture
def app_context(tmp_path):
    """A request context of the real app over the given workspaces, its job cache in tmp_path."""
    from app import create_app
    from nnvis.settings import Settings
    from web.uploads import IMAGES

    def context(*workspaces):
        IMAGES.clear()
        app = create_app(Settings(workspaces=tuple(workspaces), job_cache=tmp_path / "jobs"))
        return app.server.test_request_context()
    yield context
    IMAGES.clear()


def test_an_image_is_stored_once_by_digest_and_read_back_by_any_worker(tmp_path):
    from web.uploads import GONE, IMAGES, evict, image_digest, store_image, stored_image

    folder = tmp_path / "uploads"
    image = np.arange(12, dtype=np.uint8).reshape(3, 4)
    digest = store_image(image, folder)
    assert digest == store_image(image.copy(), folder) == image_digest(image)
    assert [p.name for p in folder.iterdir()] == [digest] and len(digest) == 64
    IMAGES.clear()  # another worker: nothing decoded in its memory, the file is read
    np.testing.assert_array_equal(stored_image(digest, (3, 4), folder), image)
    with pytest.raises(NNVisError, match=r"must be \(4, 3\) pixels"):
        stored_image(digest, (4, 3), folder)

    other = store_image(255 - image, folder)  # a second image, then a tampered file: gone, never a traceback
    (folder / other).write_bytes(b"not an array")
    IMAGES.clear()
    for bad in (other, "a" * 64, "../uploads/" + digest, None):
        with pytest.raises(NNVisError, match="upload the image again") as found:
            stored_image(bad, (3, 4), folder)
        assert str(found.value) == GONE

    names = [store_image(np.full((2, 2), value, np.uint8), folder) for value in range(4)]
    for age, name in enumerate([digest, other, *names]):  # digest oldest, names[-1] newest
        os.utime(folder / name, (1000 + age, 1000 + age))
    evict(folder, max_files=3)
    assert sorted(p.name for p in folder.iterdir()) == sorted(names[1:])
    evict(folder, max_files=10, max_bytes=2 * (folder / names[3]).stat().st_size)
    assert sorted(p.name for p in folder.iterdir()) == sorted(names[2:])


def test_a_grid_hover_reads_the_grid_kept_for_an_uploaded_image(digits_workspace, app_context, monkeypatch):
    from callbacks import deepvis
    from nnvis.deepvis.grid import grid_mosaic, layer_grid, model_input
    from nnvis.workspace.analysis import Analysis
    from nnvis.workspace.workspace import Workspace
    from web.uploads import IMAGES, uploads_folder

    analysis = Analysis(Workspace(digits_workspace.path))
    model = analysis.model(2)
    seven = analysis.subset()["images"][7]
    pixels = deepvis.uploaded_image(data_url(np.kron(seven, np.ones((4, 4), np.uint8))), "seven.png", (8, 8))
    expected = layer_grid(model, model_input(model, pixels), "hidden2")
    from callbacks import deepvis_jobs
    from callbacks.deepvis_jobs import RESULTS

    grids, builds = counting(monkeypatch, deepvis_jobs, "layer_grid"), counting(monkeypatch, Analysis, "model")
    with app_context(digits_workspace.path):
        record = deepvis.image_record(pixels, "seven.png")
        assert set(record) == {"digest", "source", "shape"} and len(json.dumps(record)) < 200
        shown = deepvis.render_views(0, record, "hidden2", 2, "index", None, 9, "all")
        assert shown[3] == "seven.png" and grids == builds == []  # computing: a job's work, not the request's
        assert shown[-1]["input"] == {"digest": record["digest"], "source": "seven.png"}
        drawn = deepvis.run_views_job(lambda _: None, shown[-1])
        assert drawn[3].startswith("seven.png: predicted") and len(grids) == len(builds) == 1

        channel = int(grid_mosaic(expected)[1][1, 4])
        hover = {"points": [{"x": 4, "y": 1}]}
        for _ in range(3):
            _, caption = deepvis.enlarge_hovered(hover, 0, record, "hidden2", 2, "index")
            assert caption == f"unit {channel} of hidden2: {expected.alphas[channel]:.4g}"
        assert len(grids) == len(builds) == 1  # no model built, no forward pass: the grid the job kept

        (uploads_folder() / record["digest"]).unlink()  # evicted, in a worker that never saw it
        IMAGES.clear()
        RESULTS.clear_memory()
        _, caption = deepvis.enlarge_hovered(hover, 0, record, "hidden2", 2, "index")
        assert "upload the image again" in caption


def test_a_strip_enlarge_reads_the_strip_kept_for_an_uploaded_image(resnet_workspace, app_context, monkeypatch,
                                                                    tmp_path):
    from callbacks import layerlab_strip
    from nnvis.deepvis.strip import read_image_file, structure_strip
    from nnvis.workspace.analysis import Analysis

    stripes = np.zeros((48, 60, 3), np.uint8)
    stripes[:, ::6] = (250, 40, 10)
    path = tmp_path / "stripes.png"
    Image.fromarray(stripes).save(path)
    model = Analysis(resnet_workspace).model(0)
    strips = counting(monkeypatch, layerlab_strip, "structure_strip")
    with app_context(resnet_workspace.path):
        record = layerlab_strip.chosen_input(0, "upload", 0, data_url(stripes), "stripes.png")
        assert set(record) == {"digest", "source", "shape"} and record["source"] == "stripes.png"
        request = layerlab_strip.render_strip(0, 0, record, None, None, None)[4]  # computed by a job, not the request
        grid, message = layerlab_strip.run_strip_job(lambda _: None, request)
        assert message is None and len(strips) == 1
        layers = [line.children[0].children[0].children for line in grid]  # each line's label: its layer
        rows = structure_strip(model, read_image_file(path, (32, 32, 3)), layers)
        for row, col in ((1, 2), (0, 0), (1, 2)):
            shown = layerlab_strip.enlarged_view(0, 0, record, None, None, None, row, col)
            name, text = shown[1].children
            assert name.children == layers[row]
            assert text.startswith(f" · channel {int(rows[row].channels[col])} · α {float(rows[row].alphas[col]):.4g}")
        assert len(strips) == 1  # the three enlargements recomputed nothing

        refused = layerlab_strip.chosen_input(0, "upload", 0, "data:image/png;base64,@@@", "notes.png")
        grid, _, message, _, _ = layerlab_strip.render_strip(0, 0, refused, None, None, None)
        assert grid == [] and message == "notes.png did not arrive as a file; upload a PNG or JPEG"
