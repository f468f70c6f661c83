"""The layer lab's structure strip is a job (issue 16): the page's request runs no model and
writes nothing (it draws a strip computed already, else says 'computing…' and asks for the job);
the job writes the strip's rows as plain arrays to a folder every web worker reads; enlarging a
map reads that strip; identical requests share one job; a read-only server computes nothing.
On torchvision's resnet18 (random weights) over real CIFAR-10 test images."""

import json

import numpy as np
import pytest
from dash import no_update

from nnvis.deepvis.strip import select_layers, structure_strip
from nnvis.errors import NNVisError
from nnvis.models.feature_maps import map_layers
from nnvis.workspace.analysis import Analysis
from tests.conftest import counting
from tests.integration.test_layerlab_jobs import store_entries


def folder_state(root) -> dict:
    """The strips and images a server keeps under its job cache `root` with their bytes (never its
    jobs' diskcache: reading SQLite files here would drop this process's locks on them)."""
    return {str(p.relative_to(root)): p.read_bytes() for folder in ("strips", "uploads")
            for p in sorted((root / folder).rglob("*")) if p.is_file()}


@pytest.fixture
def lab_app(resnet_workspace, tmp_path):
    """A request context of the real app over the resnet workspace, its job cache empty, no
    strip or image in this process's memory: `lab_app(read_only)`."""
    from app import create_app
    from callbacks.layerlab_strip import STRIPS
    from nnvis.settings import Settings
    from web.uploads import UPLOADS

    def context(read_only=False):
        STRIPS.clear_memory()
        UPLOADS.clear_memory()
        app = create_app(Settings(workspaces=(resnet_workspace.path,), job_cache=tmp_path / "jobs",
                                  read_only=read_only))
        return app.server.test_request_context()
    yield context
    STRIPS.clear_memory()
    UPLOADS.clear_memory()


def expected_strip(resnet_workspace, observation: int, start=None, stop=None, step=None):
    analysis = Analysis(resnet_workspace)
    model, image = analysis.model(0), analysis.subset()["images"][observation]
    available = map_layers(model, image.shape)
    layers = select_layers(available, start or 0, stop, step or -(-len(available) // 6))
    return image, structure_strip(model, image, layers)


def grid_rows(grid) -> list:
    """(layer, channels) of each line of a drawn strip."""
    return [(line.children[0].children[0].children,
             [int(tile.children[1].children) for tile in line.children[1:]]) for line in grid]


def test_the_request_runs_no_model_the_job_writes_the_strip_and_every_view_reads_it(resnet_workspace, lab_app,
                                                                                      tmp_path, monkeypatch):
    from callbacks import layerlab_strip

    image, rows = expected_strip(resnet_workspace, 4)
    models, strips = counting(monkeypatch, Analysis, "model"), counting(monkeypatch, layerlab_strip, "structure_strip")
    with lab_app():
        before = folder_state(tmp_path / "jobs")
        grid, picture, message, _, request = layerlab_strip.render_strip(0, 0, {"observation": 4}, None, None, None)
        assert grid == [] and message.children == "Computing the strip in the background…"
        assert request == {"ws": 0, "epoch": 0, "input": {"observation": 4}, "start": None, "stop": None,
                           "step": None}
        assert picture[1].children.startswith("subset image 4 (class ")  # the input shows at once
        assert models == strips == [] and folder_state(tmp_path / "jobs") == before  # no model, nothing written
        with pytest.raises(NNVisError, match="no longer on the server; choose the input again"):
            layerlab_strip.enlarged_view(0, 0, {"observation": 4}, None, None, None, 0, 0)  # never computed there

        reports = []
        grid, message = layerlab_strip.run_strip_job(reports.append, request)  # the job (here in-process)
        assert message is None and reports[0] == ("0", "1", "computing the strip…")
        assert grid_rows(grid) == [(row.layer, row.channels.tolist()) for row in rows]
        assert len(models) == len(strips) == 1
        (written,) = [name for name in folder_state(tmp_path / "jobs") if name.startswith("strips/")]
        stored = np.load(tmp_path / "jobs" / written, allow_pickle=False)  # plain arrays, no pickle
        np.testing.assert_array_equal(stored["layers"], [row.layer for row in rows])
        np.testing.assert_array_equal(stored["maps1"], rows[1].maps)
        assert stored["maps1"].dtype == np.float32 and stored["n_channels"].tolist() == [r.n_channels for r in rows]

        layerlab_strip.STRIPS.clear_memory()  # another web worker: it reads the job's file
        grid, _, message, _, again = layerlab_strip.render_strip(0, 0, {"observation": 4}, None, None, None)
        assert message is None and again is None and grid_rows(grid) == grid_rows(layerlab_strip.strip_grid(rows))
        shown = layerlab_strip.enlarged_view(0, 0, {"observation": 4}, None, None, None, 1, 2)
        assert shown[1].children[1].startswith(f" · channel {int(rows[1].channels[2])} · α "
                                               f"{float(rows[1].alphas[2]):.4g}")
        assert len(models) == len(strips) == 1  # drawn and enlarged from the stored strip: no model again

        (tmp_path / "jobs" / written).unlink()  # evicted
        layerlab_strip.STRIPS.clear_memory()
        with pytest.raises(NNVisError, match="no longer on the server"):
            layerlab_strip.enlarged_view(0, 0, {"observation": 4}, None, None, None, 1, 2)
        assert layerlab_strip.render_strip(0, 0, {"observation": 4}, None, None, None)[4] == request  # asked anew
        assert len(models) == len(strips) == 1


def test_a_range_without_layers_is_said_by_the_job_then_at_once(resnet_workspace, lab_app):
    from callbacks import layerlab_strip

    with lab_app():
        request = layerlab_strip.render_strip(0, 0, {"observation": 1}, 0, 999, 1)[4]
        grid, message = layerlab_strip.run_strip_job(lambda _: None, request)
        assert grid == [] and message.startswith("to layer 999 is out of range; allowed: 0..")  # the page's box
        _, _, again, _, asked = layerlab_strip.render_strip(0, 0, {"observation": 1}, 0, 999, 1)
        assert again == message and asked is None  # kept: no second job
        _, _, refused, _, asked = layerlab_strip.render_strip(0, 0, {"observation": 99}, None, None, None)
        assert refused == "subset image 99 is out of range; allowed: 0..9" and asked is None


def test_a_read_only_server_computes_and_writes_nothing(resnet_workspace, lab_app, tmp_path, monkeypatch):
    from callbacks import layerlab_strip

    with lab_app():  # a strip computed while the server could write
        request = layerlab_strip.render_strip(0, 0, {"observation": 2}, None, None, None)[4]
        layerlab_strip.run_strip_job(lambda _: None, request)
    models = counting(monkeypatch, Analysis, "model")
    with lab_app(read_only=True):
        before = folder_state(tmp_path / "jobs")
        store = store_entries(resnet_workspace.path)
        grid, picture, message, _, request = layerlab_strip.render_strip(0, 0, {"observation": 3}, None, None, None)
        assert (grid, message) == ([], "The strip of this input is not computed; this server is read-only "
                                       "(it computes nothing).") and request is no_update
        with pytest.raises(NNVisError, match="not computed; this server is read-only"):
            layerlab_strip.enlarged_view(0, 0, {"observation": 3}, None, None, None, 0, 0)
        grid, _, message, _, _ = layerlab_strip.render_strip(0, 0, {"observation": 2}, None, None, None)
        assert message is None and len(grid) == 6  # computed before: shown
        asked = {"ws": 0, "epoch": 0, "input": {"observation": 3}, "start": None, "stop": None, "step": None}
        assert layerlab_strip.run_strip_job(lambda _: None, asked)[1].startswith("This server is read-only")
        upload = layerlab_strip.chosen_input(0, "upload", 0, "data:image/png;base64,iVBORw0KGgo=", "x.png")
        assert upload == {"error": layerlab_strip.UPLOAD_READ_ONLY}
        assert layerlab_strip.render_strip(0, 0, upload, None, None, None)[2] == layerlab_strip.UPLOAD_READ_ONLY
        assert folder_state(tmp_path / "jobs") == before and store_entries(resnet_workspace.path) == store
    assert models == []


def test_identical_strip_requests_share_one_job_process(resnet_workspace, tmp_path):
    """Through the real server and job manager: two users asking for the same strip get one job
    (a fresh interpreter), whose answer draws the strip."""
    from nnvis.settings import Settings
    from tests.conftest import serving
    from tests.hardening_client import callback_body, http, poll_background

    image, rows = expected_strip(resnet_workspace, 6)
    view = {"ll-ws.value": 0, "ll-epoch.value": 0, "ll-strip-source.data": {"observation": 6}}
    with serving(Settings(workspaces=(resnet_workspace.path,), job_cache=tmp_path / "jobs")) as base:
        body = callback_body(base, "ll-strip-request.data", view, "ll-strip-source.data")
        status, _, answer = http(base + "/_dash-update-component", json.dumps(body).encode())
        response = json.loads(answer)["response"]
        assert status == 200 and response["ll-strip-message"]["children"]["props"]["children"] == \
            "Computing the strip in the background…"
        assert not (tmp_path / "jobs" / "strips").exists()
        request = response["ll-strip-request"]["data"]
        job = callback_body(base, "ll-strip-grid.children@", {"ll-strip-request.data": request},
                            "ll-strip-request.data")
        handles = [json.loads(http(base + "/_dash-update-component", json.dumps(job).encode())[2]) for _ in range(2)]
        pids = {h["job"].split("~")[0].split(".")[0] for h in handles}
        assert len(pids) == 1  # one process for both
        replies = [poll_background(base, h, job) for h in handles]
    for reply in replies:
        lines = reply["response"]["ll-strip-grid"]["children"]
        assert [line["props"]["children"][0]["props"]["children"][0]["props"]["children"] for line in lines] == \
            [row.layer for row in rows]
    assert len(list((tmp_path / "jobs" / "strips").iterdir())) == 1


def test_a_damaged_strip_file_is_a_miss_never_an_error(resnet_workspace, lab_app, tmp_path):
    from callbacks import layerlab_strip

    with lab_app():
        request = layerlab_strip.render_strip(0, 0, {"observation": 5}, None, None, None)[4]
        layerlab_strip.run_strip_job(lambda _: None, request)
        (written,) = (tmp_path / "jobs" / "strips").iterdir()
        for damage in (written.read_bytes()[:200], b"not arrays", np.savez.__doc__.encode()[:50]):
            written.write_bytes(damage)
            layerlab_strip.STRIPS.clear_memory()
            grid, _, message, _, asked = layerlab_strip.render_strip(0, 0, {"observation": 5}, None, None, None)
            assert (grid, message.children, asked) == ([], "Computing the strip in the background…", request)


@pytest.mark.slow
def test_every_gunicorn_worker_draws_the_strip_a_job_wrote(resnet_workspace, tmp_path):
    """Under gunicorn with 4 workers: the request answers 'computing…' at once, the job writes the
    strip, and then every worker draws it from the shared folder (none computes it again)."""
    from concurrent.futures import ThreadPoolExecutor

    from tests.hardening_client import callback_body, gunicorn, http, run_background

    _, rows = expected_strip(resnet_workspace, 9)
    view = {"ll-ws.value": 0, "ll-epoch.value": 0, "ll-strip-source.data": {"observation": 9}}
    env = {"NNVIS_WORKSPACES": str(resnet_workspace.path), "NNVIS_JOB_CACHE": str(tmp_path / "jobs")}
    with gunicorn(env) as base:
        body = json.dumps(callback_body(base, "ll-strip-request.data", view, "ll-strip-source.data")).encode()
        response = json.loads(http(base + "/_dash-update-component", body)[2])["response"]
        request = response["ll-strip-request"]["data"]
        assert request["input"] == {"observation": 9} and not (tmp_path / "jobs" / "strips").exists()
        job = callback_body(base, "ll-strip-grid.children@", {"ll-strip-request.data": request},
                            "ll-strip-request.data")
        assert "ll-strip-grid" in run_background(base, job)["response"]
        with ThreadPoolExecutor(8) as pool:  # spread over the 4 workers
            answers = list(pool.map(lambda _: json.loads(http(base + "/_dash-update-component", body)[2]), range(16)))
    for answer in answers:
        lines = answer["response"]["ll-strip-grid"]["children"]
        assert [line["props"]["children"][0]["props"]["children"][0]["props"]["children"] for line in lines] == \
            [row.layer for row in rows]
        assert answer["response"]["ll-strip-request"]["data"] is None  # no worker asked for a job again
    assert len(list((tmp_path / "jobs" / "strips").iterdir())) == 1
