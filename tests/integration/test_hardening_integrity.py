"""Damaged workspaces are detected with one line and repaired: a truncated store entry, a
truncated workspace.json, a swapped snapshot and a garbage snapshot; `nnvis summary --json`
afterwards equals the undamaged run's. The dashboard keeps serving the healthy workspace."""

import json
import shutil

import pytest

from nnvis.cli.commands import full_summary, main
from nnvis.workspace.workspace import Workspace
from tests.conftest import copy_workspace

RUN = ["run", "--dataset", "digits", "--model", "mlp", "--epochs", "2", "--subset", "300", "--projection", "pca",
       "--device", "cpu"]  # the arguments of the digits_workspace fixture


@pytest.fixture
def damaged(digits_workspace, tmp_path):
    """A copy of the digits workspace to damage, and the undamaged run's summary."""
    intact = full_summary(Workspace(digits_workspace.path))  # what `nnvis summary --json` prints for it
    copy = tmp_path / "digits"
    copy_workspace(digits_workspace.path, copy)
    (copy / "summary.json").unlink(missing_ok=True)  # the summary kept by an earlier `nnvis summary`: read anew
    return copy, intact


def cli(capsys, *argv) -> tuple[int, list[str], list[str]]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out.strip().splitlines(), err.strip().splitlines()


def summary_json(capsys, path) -> dict:
    status, out, _ = cli(capsys, "summary", "--workspace", str(path), "--json")
    assert status == 0
    return json.loads(out[-1])


def test_a_truncated_store_entry_is_a_miss_recomputed_and_check_finds_it(damaged, capsys):
    path, intact = damaged
    biggest = max((p for p in (path / "store").rglob("*.val")), key=lambda p: p.stat().st_size)
    biggest.write_bytes(biggest.read_bytes()[: biggest.stat().st_size // 2])
    status, out, err = cli(capsys, "check", "--workspace", str(path))
    assert status == 2 and len([line for line in out if "does not decode: damaged" in line]) == 1
    assert len(err) == 1 and "1 problem(s)" in err[0]
    status, out, _ = cli(capsys, "check", "--workspace", str(path), "--repair")
    assert status == 0 and "repaired 1 problem(s)" in out[-1]
    assert cli(capsys, "check", "--workspace", str(path))[1] == [f"{path}: intact"]
    assert summary_json(capsys, path) == intact


def test_a_damaged_store_entry_read_by_a_view_is_recomputed_not_a_500(damaged, capsys, caplog):
    from app import create_app
    from nnvis.settings import Settings
    from nnvis.workspace.analysis import Analysis

    path, intact = damaged
    analysis = Analysis(Workspace(path))
    analysis.store.cache.set(analysis.projection_key("hidden2", 1).digest(), b"PK\x03\x04garbage" * 50)
    found = summary_json(capsys, path)  # `nnvis summary` never computes: the damaged figure is read as missing
    assert "pca projection (NH) of hidden2 at epoch 1" in found["missing"] and "1" not in found["nh"]["hidden2"]
    assert caplog.text.count("is damaged") == 1  # logged once
    analysis.projection("hidden2", 1)  # what a view (or `nnvis check --repair`) does: recomputed
    assert summary_json(capsys, path) == intact  # the same figures
    png = analysis.thumbnail(5)
    analysis.store.cache.set(analysis.key("thumbnail", index=5, size=96).digest(), png[:40])  # a cut PNG
    client = create_app(Settings(workspaces=(path,), job_cache=path.parent / "jobs")).server.test_client()
    answer = client.get("/thumbs/0/5.png")
    assert answer.status_code == 200 and answer.data == png


def test_a_truncated_manifest_is_one_line_and_run_rebuilds_it(damaged, capsys):
    path, intact = damaged
    manifest = path / "workspace.json"
    manifest.write_text(manifest.read_text()[:100])
    status, out, err = cli(capsys, "summary", "--workspace", str(path))
    assert status == 2 and len(err) == 1 and "workspace.json is not valid JSON" in err[0]
    status, _, _ = cli(capsys, *RUN, "--workspace", str(path))
    assert status == 0 and summary_json(capsys, path) == intact

    data = json.loads(manifest.read_text())
    data["epochs"] = "two"
    manifest.write_text(json.dumps(data))
    status, _, err = cli(capsys, "summary", "--workspace", str(path))
    assert status == 2 and len(err) == 1 and "field 'epochs' must be a list of whole numbers" in err[0]


def test_swapped_and_garbage_snapshots_are_detected_and_repaired(damaged, capsys):
    path, intact = damaged
    snapshots = path / "snapshots"
    shutil.copy(snapshots / "epoch_0000.pt", snapshots / "epoch_0002.pt")  # epoch 0's weights as epoch 2's
    status, out, err = cli(capsys, "check", "--workspace", str(path))
    assert status == 2 and len(out) == 1 and "epoch_0002.pt does not hold the weights recorded" in out[0]
    status, _, err = cli(capsys, "perturb", "--workspace", str(path), "--epoch", "2")
    assert status == 2 and "epoch_0002.pt does not hold the weights recorded" in err[0]  # nothing wrong stored
    assert cli(capsys, "check", "--workspace", str(path), "--repair")[0] == 0
    assert cli(capsys, "check", "--workspace", str(path))[1] == [f"{path}: intact"]
    assert summary_json(capsys, path) == intact

    (snapshots / "epoch_0001.pt").write_bytes(b"\x00garbage" * 100)
    status, out, _ = cli(capsys, "check", "--workspace", str(path))
    assert status == 2 and len(out) == 1 and "epoch_0001.pt is not a readable PyTorch checkpoint" in out[0]
    assert cli(capsys, *RUN, "--workspace", str(path))[0] == 0  # `nnvis run` trains again: the same weights
    assert cli(capsys, "check", "--workspace", str(path))[1] == [f"{path}: intact"]
    assert summary_json(capsys, path) == intact


def test_one_damaged_workspace_leaves_the_other_served(damaged, mnist_small_workspace, tmp_path):
    from app import create_app
    from nnvis.settings import Settings

    path, _ = damaged
    (path / "workspace.json").write_text("{")
    settings = Settings(workspaces=(path, mnist_small_workspace.path), job_cache=tmp_path / "jobs")
    client = create_app(settings).server.test_client()
    layout = client.get("/_dash-layout")
    assert layout.status_code == 200
    for page in ("/", "/units", "/layers", "/evolution"):
        assert client.get(page).status_code == 200
    from web.context import workspace_options
    with client.application.test_request_context():
        assert [o["value"] for o in workspace_options()] == [1]
