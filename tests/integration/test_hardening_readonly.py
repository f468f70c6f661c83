"""Read-only reads only: with NNVIS_READ_ONLY nothing is computed or written, whatever is
viewed or exported; what is not in the store says so."""

import contextlib
import json
import os
import subprocess
from dataclasses import asdict
from pathlib import Path

import pytest

from layouts.unit_figures import ACTMAX_INPUTS
from nnvis.errors import NotInStore
from nnvis.unitlab.actmax import ActMaxParams
from tests.conftest import copy_workspace, forget


def folder_bytes(folder: Path) -> dict:
    """Every file under `folder` with its bytes (SQLite's transient -wal/-shm companions aside)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.name.endswith(("-wal", "-shm"))}


def test_read_only_leaves_the_store_byte_identical_after_every_view_and_export(digits_workspace, tmp_path):
    from app import create_app
    from callbacks import layerlab, unitlab, views
    from nnvis.settings import Settings

    workspace = tmp_path / "digits"
    copy_workspace(digits_workspace.path, workspace)
    forget(workspace, "class_cosine", "sparsity", "perturbation")  # not stored: the read-only views say so
    before = folder_bytes(workspace)
    settings = Settings(workspaces=(workspace,), read_only=True, job_cache=tmp_path / "jobs")
    app = create_app(settings)
    client = app.server.test_client()
    with app.server.test_request_context():
        stored = views.export_table(0, "hidden2", 2, "pca")  # stored: exported as it is
        assert stored["content"].count("\n") == 2 + 300  # the NH comment, the header, the 300 observations
        with pytest.raises(NotInStore, match="read-only and the umap projection of hidden2 at epoch 2 is not in"):
            views.export_table(0, "hidden2", 2, "umap")
        defaults = asdict(ActMaxParams())
        settings_of_a_run = [defaults[field] for _, _, field, _ in ACTMAX_INPUTS]
        shown = [layerlab.render_cosine(0, "hidden2", 2, True), layerlab.render_sparsity(0, "hidden2", 2, "class", 0.5),
                 layerlab.render_perturbation(0, 2, 0.37),
                 layerlab.ablation_view(0, "hidden2", 2, "global", "subset", run=True),  # Run sweep pressed
                 unitlab.actmax_view(0, "hidden2", 2, 3, settings_of_a_run, run=True)]  # Run pressed
        for view in shown:
            assert "This server is read-only" in json.dumps(view, default=str)
            assert "omputing" not in json.dumps(view, default=str)  # no job runs: never "computing…"
        title = unitlab.render_card(0, "hidden2", 2, 3, 9)[0]
        assert title == "hidden2 · unit 3 of 1000 (dense unit) · epoch 2"  # `nnvis run` stored what the card needs
        _, text, _, _ = views.projection_view(0, "hidden3", 1, "tsne", "label", [], None)
        assert "read-only" in text
    assert client.get("/thumbs/0/5.png").status_code == 200  # drawn from the stored images, not kept
    assert folder_bytes(workspace) == before


@contextlib.contextmanager
def read_only_mount(folder: Path, at: Path):
    """`folder` bind-mounted read-only at `at` (as a volume mounted `:ro`): nothing, root
    included, can write there. Skips where mounting is not permitted."""
    at.mkdir()
    if subprocess.run(["mount", "--bind", str(folder), str(at)], capture_output=True).returncode != 0:
        pytest.skip("a read-only bind mount needs root with CAP_SYS_ADMIN")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(at)], check=True, capture_output=True)
        yield at
    finally:
        subprocess.run(["umount", "--lazy", str(at)], check=True)  # open SQLite files of the app: detached at once


def test_read_only_serves_a_workspace_on_a_read_only_mount(digits_workspace, tmp_path):
    """A read-only server over a folder it cannot write (a read-only volume): SQLite cannot make
    the -shm index its WAL readers need there, and every read of the store failed ("unable to
    open database file"); the store is read as it is."""
    import diskcache

    from app import create_app
    from callbacks import views
    from nnvis.settings import Settings

    workspace = copy_workspace(digits_workspace.path, tmp_path / "digits")
    with diskcache.Cache(str(workspace / "store")):
        pass  # closed: SQLite folds its WAL in and removes -wal and -shm, as when `nnvis run` exits
    assert not list((workspace / "store").glob("cache.db-*"))
    with read_only_mount(workspace, tmp_path / "mounted") as mounted:
        assert not os.access(mounted / "store", os.W_OK)
        app = create_app(Settings(workspaces=(mounted,), read_only=True, job_cache=tmp_path / "jobs"))
        with app.server.test_request_context():
            stored = views.export_table(0, "hidden2", 2, "pca")
            assert stored["content"].count("\n") == 2 + 300
            _, text, _, _ = views.projection_view(0, "hidden3", 1, "pca", "label", [], None)
            assert text.startswith("NH ") and "PCA of hidden3, epoch 1" in text
            with pytest.raises(NotInStore, match="read-only and the umap projection of hidden1 at epoch 2 is not in"):
                views.export_table(0, "hidden1", 2, "umap")
        png = app.server.test_client().get("/thumbs/0/5.png")
        assert png.status_code == 200 and png.data[:4] == b"\x89PNG"
        assert folder_bytes(mounted) == folder_bytes(workspace)


def test_read_only_shows_and_exports_views_stored_before_faithfulness_was_measured(digits_workspace, tmp_path):
    """A workspace whose projections were stored before trustworthiness and continuity existed:
    a read-only server measures nothing, so it shows and exports the stored projection without
    them (it refused the whole view and its export)."""
    from app import create_app
    from callbacks import views
    from nnvis.settings import Settings
    from nnvis.workspace.analysis import Analysis
    from nnvis.workspace.workspace import Workspace

    workspace = copy_workspace(digits_workspace.path, tmp_path / "digits")
    forget(workspace, "faithfulness")
    before = folder_bytes(workspace)
    nh = Analysis(Workspace(workspace, read_only=True)).neighborhood_hit("hidden2", 2, "pca")
    app = create_app(Settings(workspaces=(workspace,), read_only=True, job_cache=tmp_path / "jobs"))
    with app.server.test_request_context():
        figure, text, _, _ = views.projection_view(0, "hidden2", 2, "pca", "true", [], None)
        assert text.startswith(f"NH {nh:.4f} · trustworthiness and continuity not measured yet")
        assert sorted(i for trace in figure.data if trace.customdata is not None
                      for i in trace.customdata if not trace.name.startswith("misclassified")) == list(range(300))
        exported = views.export_table(0, "hidden2", 2, "pca")["content"]
    assert exported.count("\n") == 2 + 300 and "trustworthiness" not in exported
    assert folder_bytes(workspace) == before
