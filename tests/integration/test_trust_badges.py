"""/deepvis's faithfulness badges (issue 27): a request computes nothing and asks for a job; the
job measures each method shown for the predicted class of the input, and the badges then hold
exactly what nnvis.deepvis.faithfulness computes for that input, on a small CNN trained on
digits; the job's request is checked field by field; a read-only server asks for no job."""

import pytest
from dash import no_update

from layouts.deepvis_faithfulness import badge_text
from nnvis.deepvis.faithfulness import Faithfulness
from nnvis.errors import NNVisError
from nnvis.workspace.analysis import Analysis
from nnvis.workspace.workspace import Workspace
from tests.conftest import counting
from tests.integration.test_concepts_cli import MODEL, digits_cnn_workspace


@pytest.fixture(scope="module")
def cnn_workspace(tmp_path_factory):
    return digits_cnn_workspace(tmp_path_factory)


@pytest.fixture
def app_context(cnn_workspace, tmp_path):
    from app import create_app
    from callbacks.deepvis_jobs import RESULTS
    from nnvis.settings import Settings

    def context(read_only=False):
        RESULTS.clear_memory()
        app = create_app(Settings(workspaces=(cnn_workspace,), job_cache=tmp_path / "jobs", read_only=read_only,
                                  model_allow=(MODEL,)))
        return app.server.test_request_context()
    yield context
    RESULTS.clear_memory()


def texts(children) -> list[str]:
    return [child.children for child in children]


def test_the_badges_hold_what_faithfulness_computes_for_the_input(cnn_workspace, app_context, monkeypatch):
    from callbacks.deepvis_faithfulness import badges_view, checked_request, compute_measures

    analysis = Analysis(Workspace(cnn_workspace))
    image = analysis.subset()["images"][7]
    expected = {m: Faithfulness(analysis.model(2), m).measure(image[None]) for m in ("gradient", "integrated")}
    models = counting(monkeypatch, Analysis, "model")
    with app_context():
        shown, request = badges_view(0, {"observation": 7}, 2, "integrated")
        assert texts(shown) == ["class · integrated gradients: computing…"]
        assert request == {"ws": 0, "epoch": 2, "input": {"observation": 7}, "method": "integrated"}
        assert models == []  # a request builds no model
        view = checked_request(request)
        compute_measures(analysis, view)
        shown, again = badges_view(0, {"observation": 7}, 2, "integrated")
        assert again is None  # nothing left to compute: no job
        found = {name: values[0] for name, values in expected["integrated"].items()}
        line = texts(shown)[0]
        deletion_mark = "✓" if found["deletion_auc"] < found["random_deletion_auc"] else "✗"
        insertion_mark = "✓" if found["insertion_auc"] > found["random_insertion_auc"] else "✗"
        assert line == (
            f"class · integrated gradients: deletion AUC {found['deletion_auc']:.3f} vs random "
            f"{found['random_deletion_auc']:.3f} {deletion_mark} · insertion AUC {found['insertion_auc']:.3f} vs "
            f"random {found['random_insertion_auc']:.3f} {insertion_mark} · randomisation "
            f"similarity {found['randomisation_similarity']:.3f}")
        assert 0 < found["deletion_auc"] < 1 and 0 < found["insertion_auc"] < 1
        # stored and reused: all three asked, only the two new ones measured
        calls = counting(monkeypatch, Faithfulness, "measure")
        shown, request = badges_view(0, {"observation": 7}, 2, "all")
        assert texts(shown)[2] == line and request["method"] == "all"
        compute_measures(analysis, checked_request(request))
        assert len(calls) == 2
        shown, _ = badges_view(0, {"observation": 7}, 2, "all")
        gradient = expected["gradient"]
        assert texts(shown)[0].startswith(f"class · gradient: deletion AUC {gradient['deletion_auc'][0]:.3f} vs random "
                                          f"{gradient['random_deletion_auc'][0]:.3f}")


def test_the_job_request_is_checked_and_read_only_asks_for_none(app_context):
    from callbacks.deepvis_faithfulness import badges_view, checked_request

    good = {"ws": 0, "epoch": 2, "input": {"observation": 3}, "method": "gradient"}
    for bad, words in ((dict(good, job="projection"), "holds ws, epoch, input and method"),
                       (dict(good, method="lime"), "saliency method 'lime' is unknown"),
                       (dict(good, input={"path": "/etc/passwd"}), "an observation or an image's digest"),
                       ("x", "holds ws, epoch, input and method")):
        with pytest.raises(NNVisError, match=words):
            checked_request(bad)
    with app_context(read_only=True):
        shown, request = badges_view(0, {"observation": 3}, 2, "gradient")
        assert request is no_update and "read-only" in texts(shown)[0]
    with app_context():
        with pytest.raises(NNVisError, match="observation 999 is not in the subset"):
            badges_view(0, {"observation": 999}, 2, "gradient")


def test_badge_text_marks_a_map_worse_than_random_and_a_method_without_a_check():
    from layouts.deepvis_faithfulness import badge_text

    measures = {"deletion_auc": 0.5, "random_deletion_auc": 0.25, "insertion_auc": 0.75,
                "random_insertion_auc": 0.5, "randomisation_similarity": 0.125}
    assert badge_text("guided", measures) == ("guided backprop: deletion AUC 0.500 vs random 0.250 ✗ · insertion AUC "
                                              "0.750 vs random 0.500 ✓ · randomisation similarity 0.125")
    assert badge_text("occlusion", measures).endswith("no randomisation check for this method")
    assert badge_text("gradient", {**measures, "randomisation_similarity": float("nan")}).endswith(
        "randomisation similarity n/a (a constant map)")


def test_the_units_row_has_its_own_badges(cnn_workspace, app_context):
    from callbacks.deepvis_faithfulness import badges_view, checked_request, compute_measures

    analysis = Analysis(Workspace(cnn_workspace))
    image = analysis.subset()["images"][4]
    expected = Faithfulness(analysis.model(2), "guided", layer="conv2", unit=5).measure(image[None])
    with app_context():
        shown, request = badges_view(0, {"observation": 4}, 2, "guided", False, "conv2", 5)
        assert texts(shown) == ["unit 5 · guided backprop: computing…", "class · guided backprop: computing…"]
        assert request == {"ws": 0, "epoch": 2, "input": {"observation": 4}, "method": "guided", "layer": "conv2",
                           "unit": 5}
        compute_measures(analysis, checked_request(request))
        shown, again = badges_view(0, {"observation": 4}, 2, "guided", False, "conv2", 5)
        assert again is None
        assert texts(shown)[0] == "unit 5 · " + badge_text("guided", {k: float(v[0]) for k, v in expected.items()})
        # a unit the layer does not have: said in its badge, the class's shown
        shown, request = badges_view(0, {"observation": 4}, 2, "guided", False, "conv2", 40)
        compute_measures(analysis, checked_request(request))
        shown, _ = badges_view(0, {"observation": 4}, 2, "guided", False, "conv2", 40)
    assert texts(shown)[0] == ("unit 40 · guided backprop: unit 40 is out of range for layer 'conv2' "
                               "(16 units: 0..15)")
    assert texts(shown)[1].startswith("class · guided backprop: deletion AUC")
