"""/evolution's stability views name coherence settings as a person reads them, in the words of
the coherence control ("damped λ 0.5", "tied λ 0.9", "independent", "chained"), not the raw
setting names ("damped-0.5", "0.9", "chain")."""

from layouts.page_parts import coherence_options
from nnvis.compare.evolution import sequence
from nnvis.workspace.analysis import Analysis
from nnvis.workspace.workspace import Workspace
from tests.conftest import copy_workspace


def test_the_tradeoff_plot_labels_settings_as_the_coherence_control_does(digits_workspace, tmp_path, monkeypatch):
    from callbacks.evolution_views import stability_view, trails_view

    workspace = copy_workspace(digits_workspace.path, tmp_path / "digits")
    monkeypatch.setenv("NNVIS_WORKSPACES", str(workspace))
    analysis = Analysis(Workspace(workspace))
    computed = ("independent", "chain", "0.9", "damped-0.5")
    for setting in computed:  # t-SNE frames of hidden1 over the 3 epochs, 300 observations: a few seconds
        sequence(analysis, "epochs", "hidden1", "tsne", setting)
    stability, tradeoff = stability_view(0, "epochs", "hidden1", "tsne", "0.9")

    nh_points = tradeoff.data[0]
    assert list(nh_points.text) == list(computed)  # the settings measured so far, in the control's order
    assert nh_points.texttemplate == "%{customdata}" and "%{customdata}:" in nh_points.hovertemplate
    assert list(nh_points.customdata) == ["independent", "chained", "tied λ 0.9", "damped λ 0.5"]
    control = {option["value"]: option["label"] for option in coherence_options("tsne")}
    assert list(nh_points.customdata) == [control[setting] for setting in computed]  # the control's words
    assert list(tradeoff.data[1].customdata) == list(nh_points.customdata)  # trustworthiness hovers alike
    assert list(nh_points.marker.size) == [8, 8, 14, 8]  # the chosen setting ringed
    titles = [note.text for note in stability.layout.annotations]
    assert "per frame (tied λ 0.9)" in titles
    assert "damped-0.5" not in " ".join(titles + list(nh_points.customdata))
    # from left to right, labels alternate below and above their points (neighbours' labels do not
    # overlap), and those at both ends of the x range turn inwards: none sticks out of the plot
    order = sorted(range(len(computed)), key=lambda i: nh_points.x[i])
    assert [nh_points.textposition[i] for i in order] == ["bottom right", "top center", "bottom center", "top left"]
    _, status, _, _, job = trails_view(0, "epochs", "hidden1", "tsne", list(range(10)), None, "0.9")
    assert status.startswith("Aligning t-SNE frames (tied λ 0.9) of the hidden1 across epochs")
    assert job["coherence"] == "0.9"


def test_the_stability_plots_leave_room_for_their_markers_and_labels():
    """The ringed marker at the top of the trade-off and a negative step's bar label stay inside
    their plots (the top marker was half cut; labels of -0.08 overlapped the axis's)."""
    import numpy as np

    from layouts.trail_figures import stability_figure, tradeoff_figure

    tradeoff = tradeoff_figure(["independent", "0.9"], [-0.09, 0.41], [0.9226, 0.9204], [0.9875, 0.9852], "independent")
    low, high = tradeoff.layout.yaxis.range
    assert high - 0.9875 >= 0.02 and 0.9204 - low >= 0.02  # room for a 14 px ring and a label on a 260 px plot
    stability = stability_figure(["e0", "e1", "e2"], np.array([0.8, 0.9, 0.92]), np.array([0.8, 0.9, 0.92]),
                                 np.array([0.95, 0.98, 0.99]), np.array([-0.12, 0.4]), "tied λ 0.9")
    bottom, _ = stability.layout.yaxis2.range
    assert bottom <= -0.12 - 0.15  # the bar of -0.12 and its label below the axis's zero, inside the plot
