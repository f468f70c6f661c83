"""The WebGL point view (nnvis_components): its typed-array props, its registration with Dash,
and the shipped bundle being what components/pointview/build.sh builds from the lockfile."""

import base64
import hashlib
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from nnvis_components import PointView, encode_points, encode_values

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "nnvis_components" / "pointview.min.js"


def test_points_are_sent_as_uint16_pairs_scaled_into_the_view_keeping_their_aspect():
    encoded = encode_points(np.array([[0.0, 0.0], [4.0, 2.0], [2.0, 1.0]]))
    levels = np.frombuffer(base64.b64decode(encoded), np.uint16).reshape(-1, 2)
    assert levels[0, 0] == 0 and levels[1, 0] == 65535  # the x span (4) is the whole range
    xy = levels * (1.9 / 65535) - 0.95  # as the component reads them
    # the x span maps to 1.9; y keeps the same scale, centred
    np.testing.assert_allclose(xy, [[-0.95, -0.475], [0.95, 0.475], [0.0, 0.0]], atol=1.9 / 65535)


def test_values_are_sent_as_bytes_codes_as_they_are_floats_quantised_over_their_range():
    assert list(base64.b64decode(encode_values(np.array([0, 3, 9])))) == [0, 3, 9]
    assert list(base64.b64decode(encode_values(np.array([1.0, 2.0, 3.0], np.float32)))) == [0, 128, 255]
    assert list(base64.b64decode(encode_values(np.array([5.0, 5.0])))) == [0, 0]  # no range: no division by 0
    with pytest.raises(ValueError, match="0..255"):
        encode_values(np.array([0, 256]))


def test_the_component_names_its_props_and_refuses_others():
    view = PointView(id="points", coordinates="", values="", palette=["#000000"], selectedIndices=[1, 2])
    assert view.to_plotly_json()["namespace"] == "nnvis_components"
    assert view.to_plotly_json()["props"]["selectedIndices"] == [1, 2]
    with pytest.raises(TypeError, match="has no prop colour"):
        PointView(id="points", colour="red")


def test_dash_serves_the_shipped_bundle():
    from dash import Dash, html

    app = Dash(__name__)
    app.layout = html.Div(PointView(id="points"))
    client = app.server.test_client()
    page = client.get("/").get_data(as_text=True)
    src = next(part for part in page.split('"') if "nnvis_components/pointview" in part)
    answer = client.get(src)
    assert answer.status_code == 200 and answer.get_data() == BUNDLE.read_bytes()


def test_the_shipped_bundle_is_what_the_build_script_builds(tmp_path):
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node and npm are not installed: the bundle cannot be rebuilt here")
    folder = tmp_path / "pointview"
    shutil.copytree(ROOT / "components" / "pointview", folder, ignore=shutil.ignore_patterns("node_modules"))
    out = tmp_path / "pointview.min.js"
    built = subprocess.run(["sh", str(folder / "build.sh"), str(out)], capture_output=True, text=True, timeout=600)
    offline = ("ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ETIMEDOUT")
    if built.returncode != 0 and any(code in built.stderr + built.stdout for code in offline):
        pytest.skip("the npm registry is not reachable: the lockfile's packages cannot be fetched")
    assert built.returncode == 0, built.stderr
    assert hashlib.sha256(out.read_bytes()).hexdigest() == hashlib.sha256(BUNDLE.read_bytes()).hexdigest()


def test_a_lasso_ranks_neurons_from_the_kept_moments_as_the_full_ranking_does():
    from nnvis.errors import NNVisError
    from nnvis.projection.linking import rank_neurons
    from nnvis.projection.selection import CHUNK, rank_selection, unit_moments

    # neuron 1 fires on the first two observations only; neuron 0 everywhere alike; neuron 2 on the others
    acts = np.array([[1, 4, 0], [1, 4, 0], [1, 0, 2], [1, 0, 2]], np.float16)
    ranked = rank_selection(acts, [1, 0, 0], unit_moments(acts))
    assert ranked["neurons"].tolist() == [1, 0, 2]
    np.testing.assert_allclose(ranked["scores"], [2.0, 0.0, -2.0])  # (4 - 0) / 2 and (0 - 2) / 1
    np.testing.assert_allclose(ranked["selected_mean"], [4, 1, 0])
    np.testing.assert_allclose(ranked["rest_mean"], [0, 1, 2])
    rng = np.random.default_rng(0)
    many = rng.normal(size=(CHUNK + 500, 30)).astype(np.float16)  # more rows than one chunk
    chosen = rng.choice(len(many), 3000, replace=False)
    neurons, scores = rank_neurons(many, chosen)
    ranked = rank_selection(many, chosen, unit_moments(many))
    assert ranked["neurons"].tolist() == neurons.tolist()
    np.testing.assert_allclose(ranked["scores"], scores, atol=1e-5)
    with pytest.raises(NNVisError, match="select between 1 and 3"):
        rank_selection(acts, [], unit_moments(acts))
    with pytest.raises(NNVisError, match="indices 0..3"):
        rank_selection(acts, [7], unit_moments(acts))


def test_the_bundle_pads_trail_lines_in_one_pass():
    """regl-scatterplot 1.16's line code (regl-line, inlined) duplicated each line's end points by
    splicing them into one growing array: quadratic in the number of lines (100,000 trails took
    longer than Plotly's). components/pointview/patches/ pads them in one pass; the shipped bundle
    must hold the patched code, not the splice insertion."""
    import re

    bundle = BUNDLE.read_text()
    assert not re.search(r"\.call\(\w+,\w+\*\w+,0,\.\.\.\w+\)", bundle)  # splice.call(buffer, i * stride, 0, ...copy)
    assert (ROOT / "components" / "pointview" / "patches" / "regl-scatterplot+1.16.0.patch").exists()
