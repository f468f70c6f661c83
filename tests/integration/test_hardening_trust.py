"""What a served workspace may load: no module:function or TorchScript model outside the
operator's allow-list; checkpoints read within a size limit and not when they unpack far beyond it."""

import json
import zipfile

import pytest

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
    from nnvis.cli.commands import trust_named_models
    from nnvis.settings import Settings

    own = tmp_path / "own"
    copy_workspace(digits_workspace.path, own)
    manifest = json.loads((own / "workspace.json").read_text())
    manifest["config"]["model"] = "usernet:build"  # a model of the user's own code (Recorder, --model mod:fn)
    (own / "workspace.json").write_text(json.dumps(manifest))
    broken = tmp_path / "broken"
    copy_workspace(digits_workspace.path, broken)
    (broken / "workspace.json").write_text("{")
    settings = trust_named_models(Settings(workspaces=(digits_workspace.path, own, broken), model_allow=("a.pt",)))
    assert settings.model_allow == ("a.pt", "usernet:build")  # mlp is built in; the damaged one is skipped
