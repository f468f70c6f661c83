"""Read-only reads only: with NNVIS_READ_ONLY nothing is computed or written, whatever is
viewed or exported; what is not in the store says so."""

import json
from pathlib import Path

import pytest

from nnvis.errors import NotInStore
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
        shown = [layerlab.render_cosine(0, "hidden2", 2, True), layerlab.render_sparsity(0, "hidden2", 2, "class", 0.5),
                 layerlab.render_perturbation(0, 2, 0.37), unitlab.render_card(0, "hidden2", 2, 3, 9)]
        for view in shown:
            assert "This server is read-only" in json.dumps(view, default=str)
        _, text, _, _ = views.projection_view(0, "hidden3", 1, "tsne", "label", [], None)
        assert "read-only" in text
    assert client.get("/thumbs/0/5.png").status_code == 200  # drawn from the stored images, not kept
    assert folder_bytes(workspace) == before
