"""What a served workspace may load: no module:function or TorchScript model outside the
operator's allow-list; checkpoints read within a size limit and not when they unpack far beyond it."""

import json
import zipfile

import pytest
import torch

from nnvis.errors import NNVisError
from nnvis.models.trust import check_checkpoint
from nnvis.models.zoo import read_state_dict
from tests.conftest import copy_workspace


def test_a_workspace_naming_code_is_not_loaded_by_the_server(digits_workspace, tmp_path):
    from app import create_app
    from nnvis.settings import Settings
    from web.context import open_analysis, workspace_options

    edited = tmp_path / "edited"
    copy_workspace(digits_workspace.path, edited)
    manifest = json.loads((edited / "workspace.json").read_text())
    manifest["config"]["model"] = "os:getcwd"
    (edited / "workspace.json").write_text(json.dumps(manifest))
    settings = Settings(workspaces=(digits_workspace.path, edited), job_cache=tmp_path / "jobs")
    app = create_app(settings)
    with app.server.test_request_context():
        assert [o["value"] for o in workspace_options()] == [0]  # listed: only the healthy one
        with pytest.raises(NNVisError, match="names model 'os:getcwd', which this server does not load"):
            open_analysis(1)
        assert open_analysis(0).layers  # the other one is served
    refused = app.server.test_client().get("/thumbs/1/3.png")
    assert refused.status_code == 404 and b"NNVIS_MODEL_ALLOW" in refused.data

    allowed = create_app(Settings(workspaces=(edited,), job_cache=tmp_path / "jobs2", model_allow=("os:getcwd",)))
    with allowed.server.test_request_context():
        assert open_analysis(0).config.model == "os:getcwd"  # the operator's own choice
    assert Settings.from_env({"NNVIS_MODEL_ALLOW": "a.pt, m:f"}).model_allow == ("a.pt", "m:f")


def test_a_zip_bomb_checkpoint_is_refused_before_it_is_unpacked(tmp_path):
    bomb = tmp_path / "bomb.pt"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("archive/data.pkl", b"\0" * (64 * 2**20))  # 64 MB of zeros in about 64 kB
    assert bomb.stat().st_size < 2**20
    with pytest.raises(NNVisError, match="bomb.pt holds archive/data.pkl, packed .* unpack to 67108864: more than"):
        read_state_dict(bomb)
    stored = tmp_path / "stored.pt"
    with zipfile.ZipFile(stored, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("archive/data.pkl", b"\0" * 4096)
    check_checkpoint(stored, limit=8192)  # stored as torch.save stores: read
    with pytest.raises(NNVisError, match="stored.pt is 0 MB; at most 0 MB is read"):
        check_checkpoint(stored, limit=4096)


def test_nnvis_serve_trusts_the_models_its_workspaces_name_at_start(digits_workspace, tmp_path):
    from nnvis.settings import Settings
    from nnvis.workspace.vouch import vouch_for_named_models

    own = tmp_path / "own"
    copy_workspace(digits_workspace.path, own)
    manifest = json.loads((own / "workspace.json").read_text())
    manifest["config"]["model"] = "usernet:build"  # a model of the user's own code (Recorder, --model mod:fn)
    (own / "workspace.json").write_text(json.dumps(manifest))
    broken = tmp_path / "broken"
    copy_workspace(digits_workspace.path, broken)
    (broken / "workspace.json").write_text("{")
    settings = vouch_for_named_models(Settings(workspaces=(digits_workspace.path, own, broken), model_allow=("a.pt",)))
    assert settings.model_allow == ("a.pt", "usernet:build")  # mlp is built in; the damaged one is skipped


class LoadTimeCode(torch.nn.Module):
    """A TorchScript module whose code runs when the file is loaded (its __setstate__): the
    marker it prints says it ran."""

    def __init__(self):
        super().__init__()
        self.mark = torch.zeros(1)

    def forward(self, x):
        return x

    @torch.jit.export
    def __getstate__(self):
        return (self.mark, self.training)

    @torch.jit.export
    def __setstate__(self, state: tuple[torch.Tensor, bool]):
        print("NNVIS-TEST: the TorchScript file's load-time code ran")
        self.mark = state[0]
        self.training = state[1]


class ScriptedMLP(torch.nn.Module):
    """The digits MLP's layers (so a digits workspace's snapshots load into it), scripted, with
    a submodule that runs code when loaded."""

    def __init__(self):
        super().__init__()
        self.flatten = torch.nn.Flatten()
        self.hidden1 = torch.nn.Sequential(torch.nn.Linear(64, 1000), torch.nn.ReLU())
        self.hidden2 = torch.nn.Sequential(torch.nn.Linear(1000, 1000), torch.nn.ReLU())
        self.hidden3 = torch.nn.Sequential(torch.nn.Linear(1000, 1000), torch.nn.ReLU())
        self.hidden4 = torch.nn.Sequential(torch.nn.Linear(1000, 1000), torch.nn.ReLU())
        self.output = torch.nn.Linear(1000, 10)
        self.probe = LoadTimeCode()

    def forward(self, x):
        x = self.probe(self.flatten(x))
        return self.output(self.hidden4(self.hidden3(self.hidden2(self.hidden1(x)))))


def test_a_workspace_edited_to_name_a_torchscript_file_runs_none_of_its_code_unless_allowed(
        digits_workspace, tmp_path, capfd):
    """Finding 8's TorchScript case: a workspace.json pointed at a TorchScript file (its code
    runs when loaded) is refused by a served dashboard, with one line on the page and no 500,
    on every /deepvis request, and its code never runs; on the allow-list it loads (and runs)."""
    import warnings

    from app import create_app
    from nnvis.settings import Settings
    from nnvis.workspace.analysis import Analysis
    from nnvis.workspace.workspace import Workspace
    from tests.conftest import serving
    from tests.hardening_client import callback_body, http, run_background
    from web.context import open_analysis

    scripted = tmp_path / "scripted.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.script is deprecated, still what users hold
        torch.jit.script(ScriptedMLP()).save(str(scripted))
    marker = "the TorchScript file's load-time code ran"
    capfd.readouterr()
    edited = copy_workspace(digits_workspace.path, tmp_path / "edited")
    manifest = json.loads((edited / "workspace.json").read_text())
    manifest["config"]["model"] = str(scripted)
    (edited / "workspace.json").write_text(json.dumps(manifest))
    grid = {"dv-ws.value": 1, "dv-input.data": {"observation": 5}, "dv-layer.value": "hidden2", "dv-epoch.value": 2,
            "dv-sort.value": "index", "dv-unit.value": None}

    with serving(Settings(workspaces=(digits_workspace.path, edited), job_cache=tmp_path / "jobs")) as base:
        status, _, page = http(base + "/deepvis?ws=1")  # a link naming it: the page opens on the healthy one
        assert status == 200
        body = json.dumps(callback_body(base, "dv-grid.figure", grid, "dv-input.data")).encode()
        for _ in range(3):  # every request is refused alike: nothing was loaded the first time either
            status, _, answer = http(base + "/_dash-update-component", body)
            assert status == 200, answer[:300]
            shown = json.loads(answer)["response"]["dv-grid-status"]["children"]
            assert f"names model '{scripted}', which this server does not load" in shown and "\n" not in shown
            assert "NNVIS_MODEL_ALLOW" in shown
        assert http(base + "/thumbs/1/3.png")[0] == 404
    assert marker not in capfd.readouterr().out

    allowed = Settings(workspaces=(edited,), job_cache=tmp_path / "jobs2", model_allow=(str(scripted),))
    weights = {"dv-ws.value": 0, "dv-layer.value": "hidden1", "dv-epoch.value": 2, "dv-unit.value": 3,
               "dv-topk.value": 9, "dv-input.data": {"observation": 5}, "dv-sort.value": "index"}
    with serving(allowed) as base:
        body = json.dumps(callback_body(base, "dv-filters.figure", weights, "dv-unit.value")).encode()
        status, _, answer = http(base + "/_dash-update-component", body)
        assert status == 200 and b"NNVIS_MODEL_ALLOW" not in answer, answer[:300]
        request = json.loads(answer)["response"]["dv-request"]["data"]  # the model is built by /deepvis's job
        job = callback_body(base, "dv-filters.figure@", {"dv-request.data": request}, "dv-request.data")
        assert b"NNVIS_MODEL_ALLOW" not in json.dumps(run_background(base, job)).encode()
    assert marker in capfd.readouterr().out  # the operator's choice: its code ran when loaded
    with create_app(allowed).server.test_request_context():
        served = open_analysis(0).model(2).module
    expected = Analysis(Workspace(digits_workspace.path)).model(2).module
    images = torch.rand(4, 1, 8, 8)
    torch.testing.assert_close(served(images), expected(images))  # the workspace's snapshot, in the file's model


def test_a_compare_job_opens_only_the_servers_own_workspaces(digits_workspace, tmp_path):
    """The compare page's job request comes back from the browser: a folder path put in it (a
    workspace outside the server's list, naming code as its model) is never opened; the second
    side is the server's workspace number, checked like the first."""
    from nnvis.settings import Settings
    from tests.conftest import forget, serving
    from tests.hardening_client import callback_body, run_background

    served = copy_workspace(digits_workspace.path, tmp_path / "served")
    outside = copy_workspace(digits_workspace.path, tmp_path / "outside")
    manifest = json.loads((outside / "workspace.json").read_text())
    manifest["config"]["model"] = "os:getcwd"  # code: called when its activations are captured
    (outside / "workspace.json").write_text(json.dumps(manifest))
    forget(outside, "activations")
    view = {"compare-ws.value": 0, "compare-layer.value": "hidden4", "compare-epoch.value": 0,
            "compare-ws2.value": 0, "compare-layer2.value": "hidden4", "compare-epoch2.value": 2,
            "compare-method.value": "pca", "compare-color.value": "change"}
    crafted = {"ws": 0, "workspace2": str(outside), "layer": "hidden4", "layer2": "hidden4", "epoch": 0, "epoch2": 2,
               "method": "pca"}
    with serving(Settings(workspaces=(served,), job_cache=tmp_path / "jobs")) as base:
        body = callback_body(base, "compare-job.data@", {**view, "compare-job.data": crafted}, "compare-job.data")
        answer = json.dumps(run_background(base, body))
    assert "os:getcwd" not in answer and "returned str" not in answer  # the outside folder was never opened
    assert "may not set 'workspace2'" in answer  # refused before any process starts


def test_a_job_request_cannot_name_another_job_kind_or_a_folder(digits_workspace, tmp_path):
    """The explore page's projection job, posted with `"job": "compare"` and a folder (issue 24's
    injection): refused in place, the folder's model never imported, no store made there; and the
    same fields past the manager (a job run in its process) are refused by the projection schema."""
    from nnvis.errors import NNVisError
    from nnvis.settings import Settings
    from tests.conftest import serving
    from tests.hardening_client import run_background
    from tests.integration.test_hardening_jobs import projection_job
    from web.jobs import job_for

    outside = copy_workspace(digits_workspace.path, tmp_path / "outside")
    marker = tmp_path / "imported"
    (tmp_path / "evil_model.py").write_text(f"open({str(marker)!r}, 'w')\ndef build():\n    raise SystemExit\n")
    manifest = json.loads((outside / "workspace.json").read_text())
    manifest["config"]["model"] = "evil_model:build"
    (outside / "workspace.json").write_text(json.dumps(manifest))
    (outside / "store" / "cache.db").unlink()
    with serving(Settings(workspaces=(digits_workspace.path,), job_cache=tmp_path / "jobs")) as base:
        body = projection_job(base, "hidden3", 2, "tsne")
        crafted = {"ws": 0, "layer": "hidden3", "epoch": 2, "method": "tsne", "job": "compare",
                   "workspace2": str(outside), "layer2": "hidden3", "epoch2": 2}
        next(i for i in body["inputs"] if i["id"] == "job-request")["value"] = crafted
        answer = json.dumps(run_background(base, body))
    assert "may not set 'job'" in answer
    assert not marker.exists() and not (outside / "store" / "cache.db").exists()
    view = {"layer": "hidden3", "epoch": 2, "method": "tsne"}
    for request, refused in (({"ws": 0, **view, "job": "compare"}, "unknown field 'job'"),
                             (crafted, "unknown field 'epoch2'"),
                             ({"ws": 0, **view, "ws2": 0}, "unknown field 'ws2'"),
                             ({"ws": -1, **view}, "ws must be an integer from 0")):
        with pytest.raises(NNVisError, match=refused):
            job_for("projection", request)
