"""The smaller findings: thumbnails behind a login are not for shared caches; epoch -1 names no
server path; a PNG text-chunk bomb is a clear error; a full disk leaves no .tmp snapshot; the
Docker image runs as an unprivileged user."""

import base64
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from nnvis.errors import NNVisError
from nnvis.workspace.workspace import Workspace
from tests.conftest import copy_workspace

ROOT = Path(__file__).resolve().parents[2]


def test_thumbnails_behind_a_login_are_private(digits_workspace, tmp_path):
    from app import create_app
    from nnvis.settings import Settings

    open_server = create_app(Settings(workspaces=(digits_workspace.path,), job_cache=tmp_path / "a")).server
    assert open_server.test_client().get("/thumbs/0/2.png").headers["Cache-Control"].startswith("public")
    login = Settings(workspaces=(digits_workspace.path,), job_cache=tmp_path / "b", users=(("ann", "pw"),))
    answer = create_app(login).server.test_client().get(
        "/thumbs/0/2.png", headers={"Authorization": "Basic " + base64.b64encode(b"ann:pw").decode()})
    assert answer.status_code == 200 and answer.headers["Cache-Control"].startswith("private")


def test_epoch_minus_one_names_the_epochs_not_a_path(digits_workspace):
    with pytest.raises(NNVisError) as error:
        Workspace(digits_workspace.path).load_snapshot(-1)
    assert str(error.value) == "no snapshot for epoch -1; allowed: 0, 1, 2"


def test_a_png_text_chunk_bomb_is_a_clear_error(tmp_path):
    from nnvis.deepvis.strip import read_image_file

    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")
    bomb = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", (8).to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0]))
            + chunk(b"zTXt", b"k\0\0" + zlib.compress(b"a" * (64 * 2**20), 9))
            + chunk(b"IDAT", zlib.compress(b"\0" * 72)) + chunk(b"IEND", b""))
    path = tmp_path / "bomb.png"
    path.write_bytes(bomb)
    assert path.stat().st_size < 200_000
    with pytest.raises(NNVisError, match="cannot read image .*bomb.png: Decompressed data too large for PngImage"):
        read_image_file(path, (8, 8))


def test_a_full_disk_leaves_no_tmp_snapshot(tmp_path):
    """A file-size limit (RLIMIT_FSIZE) makes the snapshot write fail as a full disk would."""
    code = ("import resource, signal, sys\nfrom nnvis.models.zoo import MLP\n"
            "from nnvis.workspace.workspace import Workspace\n"
            "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
            "resource.setrlimit(resource.RLIMIT_FSIZE, (100000, 100000))\n"
            "try:\n    Workspace(sys.argv[1]).save_snapshot(0, MLP(64, 10))\nexcept ValueError as error:\n"
            "    print('failed:', error)\n")
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "ws")], capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    assert result.stdout.startswith("failed: cannot write snapshot"), result.stderr[-500:]
    assert "is the disk full?" in result.stdout and "Traceback" not in result.stderr
    assert sorted(p.name for p in (tmp_path / "ws" / "snapshots").iterdir()) == []


def test_the_docker_image_runs_as_an_unprivileged_user():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "USER 10001" in dockerfile and "useradd --create-home --uid 10001 nnvis" in dockerfile
    assert dockerfile.index("USER 10001") < dockerfile.index("CMD [")


def test_exporting_an_unstored_projection_computes_nothing_in_the_request(digits_workspace, tmp_path):

    from app import create_app
    from callbacks.views import export_table
    from nnvis.settings import Settings
    from nnvis.workspace.analysis import Analysis

    workspace = tmp_path / "digits"
    copy_workspace(digits_workspace.path, workspace)
    app = create_app(Settings(workspaces=(workspace,), job_cache=tmp_path / "jobs"))
    with app.server.test_request_context():
        with pytest.raises(NNVisError, match="The UMAP of hidden1 at epoch 1 is not computed yet; show it first"):
            export_table(0, "hidden1", 1, "umap")  # refused, not computed (checked below)
        assert export_table(0, "hidden1", 1, "pca")["content"].count("\n") == 302  # a stored one exports
    assert not Analysis(Workspace(workspace)).has_projection("hidden1", 1, "umap")


def test_job_requests_are_bounded_before_any_work():
    from nnvis.jobs import check_request

    base = {"job": "actmax", "workspace": "w", "layer": "hidden1", "epoch": 1, "unit": 0}
    assert check_request({**base, "params": {"steps": 10_000, "restarts": 16}})
    for params, message in (({"steps": 10**9}, "actmax steps must be 1..10000 on this server, got 1000000000"),
                            ({"restarts": 64}, "actmax restarts must be 1..16 on this server, got 64"),
                            ({"steps": "9"}, "actmax steps must be 1..10000 on this server, got '9'")):
        with pytest.raises(NNVisError, match=message):
            check_request({**base, "params": params})
    with pytest.raises(NNVisError, match="unit must be an integer from -1 to 999999, got 1e\\+20"):
        check_request({**base, "unit": 1e20})
    assert check_request({"job": "sequence", "workspace": "w", "kind": "layers", "anchor": 2, "method": "tsne"})
    with pytest.raises(NNVisError, match="anchor must be a name of at most 200 characters"):
        check_request({"job": "sequence", "workspace": "w", "kind": "epochs", "anchor": "x" * 201, "method": "t"})
