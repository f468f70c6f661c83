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


def test_points_are_sent_as_float32_pairs_scaled_into_the_view_keeping_their_aspect():
    encoded = encode_points(np.array([[0.0, 0.0], [4.0, 2.0], [2.0, 1.0]]))
    xy = np.frombuffer(base64.b64decode(encoded), np.float32).reshape(-1, 2)
    # the x span (4) maps to 1.9; y keeps the same scale, centred
    np.testing.assert_allclose(xy, [[-0.95, -0.475], [0.95, 0.475], [0.0, 0.0]], atol=1e-6)


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
