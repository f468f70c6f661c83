"""The point view's trail columns (`encode_lines`) and /evolution's trails as point view props:
each shown observation a line through its aligned frames, in order, coloured by class."""

import base64

import numpy as np
import pytest

from nnvis_components import encode_lines


def served(settings):
    """The context of a server over `settings` (what `web.context.current_settings` reads)."""
    import flask

    from web.context import SETTINGS_KEY

    app = flask.Flask(__name__)
    app.config[SETTINGS_KEY] = settings
    return app.app_context()


def test_line_ids_are_uint32_and_orders_bytes_one_a_point():
    ids, orders = encode_lines(np.array([7, 7, 70000, 70000]), np.array([0, 1, 0, 1]))
    assert np.frombuffer(base64.b64decode(ids), "<u4").tolist() == [7, 7, 70000, 70000]
    assert list(base64.b64decode(orders)) == [0, 1, 0, 1]
    with pytest.raises(ValueError, match="line orders in 0..255"):
        encode_lines(np.array([0]), np.array([256]))
    with pytest.raises(ValueError, match="one value a point"):
        encode_lines(np.array([0, 1]), np.array([0]))


def test_trails_are_sent_observation_by_observation_through_their_frames(digits_workspace, tmp_path):
    from callbacks.evolution_views import trail_points
    from nnvis.compare.evolution import bundled_trails, sequence
    from nnvis.settings import Settings
    from nnvis.workspace.analysis import Analysis
    from nnvis.workspace.workspace import Workspace

    analysis = Analysis(Workspace(digits_workspace.path))
    bundled_trails(analysis, "layers", 2, "pca")
    frames = np.asarray(sequence(analysis, "layers", 2, "pca")["frames"])
    classes = [0, 5]
    with served(Settings(workspaces=(digits_workspace.path,), job_cache=tmp_path, points_above=100)):
        props = trail_points(0, "layers", 2, "pca", classes)
    shown = np.flatnonzero(np.isin(analysis.labels, classes))
    n_frames = len(frames)
    ids = np.frombuffer(base64.b64decode(props["lineIds"]), "<u4")
    orders = np.frombuffer(base64.b64decode(props["lineOrders"]), np.uint8)
    assert ids.tolist() == np.repeat(shown, n_frames).tolist()
    assert orders.tolist() == list(range(n_frames)) * len(shown)
    xy = np.frombuffer(base64.b64decode(props["coordinates"]), np.uint16).reshape(-1, 2).astype(float)
    # the points are the observations' positions in their frames, in order (encoded affinely per axis)
    expected = frames[:, shown].transpose(1, 0, 2).reshape(-1, 2)
    for axis in (0, 1):
        assert np.corrcoef(xy[:, axis], expected[:, axis])[0, 1] > 0.9999
    codes = np.frombuffer(base64.b64decode(props["values"]), np.uint8)
    assert [props["palette"][c] for c in codes[::n_frames]] == [props["palette"][label]
                                                                for label in analysis.labels[shown]]
    with served(Settings(workspaces=(digits_workspace.path,), job_cache=tmp_path)):  # 300 <= 100,000
        assert trail_points(0, "layers", 2, "pca", classes) is None
