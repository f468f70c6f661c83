"""`nnvis summary` reads what is stored and says what is missing; it never computes (issue 26,
item 4: it imported umap-learn and pynndescent and computed for minutes)."""

import json
import sqlite3

from tests.conftest import copy_workspace
from tests.unit.test_cli_startup import COMPUTING, run_main


def entries(workspace) -> int:
    with sqlite3.connect(f"file:{workspace / 'store' / 'cache.db'}?mode=ro", uri=True) as db:
        return db.execute("SELECT COUNT(*) FROM Cache").fetchone()[0]


def test_summary_of_a_finished_workspace_reads_every_figure(digits_workspace, tmp_path):
    path = copy_workspace(digits_workspace.path, tmp_path / "digits")
    (path / "summary.json").unlink(missing_ok=True)
    found = run_main("summary", "--workspace", str(path), "--json")
    figures = json.loads(found["out"].strip().splitlines()[0])
    assert found["status"] == 0 and not set(found["heavy"]) & set(COMPUTING), found["heavy"]
    assert figures["missing"] == [] and found["err"] == []
    assert set(figures["nh"]) == {"input", *figures["hidden_layers"]}
    assert 0.5 < figures["accuracy"][str(figures["epochs"][-1])] <= 1.0
    assert 0.0 < figures["trustworthiness"]["input"]["0"] <= 1.0
    again = run_main("summary", "--workspace", str(path), "--json")  # kept beside the manifest: no torch
    assert again["status"] == 0 and again["heavy"] == [] and json.loads(again["out"].splitlines()[0]) == figures
    (path / "workspace.json").write_text((path / "workspace.json").read_text() + "\n")  # another manifest
    assert "torch" in run_main("summary", "--workspace", str(path), "--json")["heavy"]  # read from the store again


def test_summary_of_an_unfinished_workspace_lists_what_is_missing_and_computes_nothing(digits_workspace, tmp_path):
    """A manifest naming an epoch whose figures were never computed (a run still going): the
    stored figures are printed, the others listed under "missing", and the store is untouched."""
    path = copy_workspace(digits_workspace.path, tmp_path / "digits")
    (path / "summary.json").unlink(missing_ok=True)
    manifest = json.loads((path / "workspace.json").read_text())
    last = manifest["epochs"][-1]
    manifest["epochs"].append(last + 1)
    manifest["weights"][str(last + 1)] = "0" * 64  # weights never trained: nothing of them is stored
    (path / "workspace.json").write_text(json.dumps(manifest))
    before = entries(path)
    found = run_main("summary", "--workspace", str(path), "--json")
    figures = json.loads(found["out"].strip().splitlines()[0])
    assert found["status"] == 0 and not set(found["heavy"]) & set(COMPUTING)
    assert f"accuracy at epoch {last + 1}" in figures["missing"]
    assert str(last + 1) not in figures["accuracy"] and str(last) in figures["accuracy"]
    layer = manifest["layers"][0]
    assert f"pca projection (NH) of {layer} at epoch {last + 1}" in figures["missing"]
    assert len(found["err"]) == 1 and "not computed yet" in found["err"][0]
    assert entries(path) == before
