"""Jobs run in a fresh interpreter and land in the store."""

import pytest

from nnvis.analysis import Analysis
from nnvis.errors import NNVisError
from nnvis.jobs import launch, run_job
from nnvis.workspace import Workspace


def test_projection_job_lands_in_the_store(digits_workspace):
    analysis = Analysis(Workspace(digits_workspace.path))
    assert not analysis.has_projection("hidden3", 0, "tsne")
    launch({"job": "projection", "workspace": str(digits_workspace.path), "layer": "hidden3", "epoch": 0,
            "method": "tsne"})
    assert analysis.has_projection("hidden3", 0, "tsne")


def test_bad_jobs_fail_with_a_message(digits_workspace):
    with pytest.raises(NNVisError, match="unknown job 'train'"):
        run_job({"job": "train", "workspace": str(digits_workspace.path)})
    with pytest.raises(NNVisError, match="job projection failed: .*layer 'nope' was not captured"):
        launch({"job": "projection", "workspace": str(digits_workspace.path), "layer": "nope", "epoch": 0,
                "method": "tsne"})
