"""Density images (datashader) and nearest-observation lookup on hand-placed points, and the
explore page's density path on a real workspace (without a browser)."""

import io

import numpy as np
import pytest
from PIL import Image

from nnvis.projection.density import category_image, full_range, nearest_observation, value_image

RED, BLUE = "#ff0000", "#0000ff"


def pixels(image):
    """The image as (rows from the lowest y up, columns, RGBA)."""
    return np.asarray(Image.open(io.BytesIO(image.png)).convert("RGBA"))


def pixel_of(image, x, y):
    """(row, column) of the pixel holding data point (x, y)."""
    return int(round((y - image.y0) / image.dy)), int(round((x - image.x0) / image.dx))


def two_groups():
    """100 points at (1, 1) in category 0 and 300 at (9, 3) in category 1."""
    points = np.array([[1.0, 1.0]] * 100 + [[9.0, 3.0]] * 300, np.float32)
    return points, np.array([0] * 100 + [1] * 300)


def test_full_range_holds_every_point_with_a_margin():
    points, _ = two_groups()
    (x0, x1), (y0, y1) = full_range(points, margin=0.1)
    assert (x0, x1) == pytest.approx((1 - 0.8, 9 + 0.8))
    assert (y0, y1) == pytest.approx((1 - 0.2, 3 + 0.2))


def test_category_image_puts_each_category_colour_where_its_points_are():
    points, codes = two_groups()
    image = category_image(points, codes, [RED, BLUE], (0, 10), (0, 4), width=100)
    rgba = pixels(image)
    assert (image.width, image.height) == (100, 40) and rgba.shape == (40, 100, 4)
    assert image.dx == pytest.approx(0.1) and image.dy == pytest.approx(0.1)
    red = rgba[pixel_of(image, 1.0, 1.0)]
    blue = rgba[pixel_of(image, 9.0, 3.0)]
    assert red[0] == 255 and red[2] == 0 and red[3] > 0
    assert blue[2] == 255 and blue[0] == 0 and blue[3] > 0
    assert rgba[pixel_of(image, 5.0, 2.0)][3] == 0  # nothing there: transparent
    assert (rgba[..., 3] > 0).sum() <= 2 * 25  # each spot spread by at most 2 pixels around


def test_category_image_mixes_colours_in_a_shared_pixel():
    points = np.array([[5.0, 5.0]] * 4, np.float32)
    image = category_image(points, np.array([0, 0, 1, 1]), [RED, BLUE], (0, 10), (0, 10), width=10)
    r, g, b, a = pixels(image)[pixel_of(image, 5.0, 5.0)]
    assert a > 0 and g == 0 and abs(int(r) - int(b)) <= 2  # half red, half blue


def test_value_image_colours_pixels_by_the_mean_value_on_the_scale():
    points = np.array([[1.0, 1.0], [1.0, 1.0], [9.0, 9.0]], np.float32)
    image = value_image(points, np.array([0.0, 2.0, 4.0]), 0.0, 4.0, ["#000000", "#ffffff"], (0, 10), (0, 10),
                        width=10)
    rgba = pixels(image)
    middle = rgba[pixel_of(image, 1.0, 1.0)]  # mean 1.0 of [0, 4]: a quarter of the way to white
    top = rgba[pixel_of(image, 9.0, 9.0)]
    assert middle[3] > 0 and 50 <= middle[0] <= 80 and middle[0] == middle[1] == middle[2]
    assert tuple(top[:3]) == (255, 255, 255)


def test_nearest_observation_is_the_closest_point():
    points = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]], np.float32)
    assert nearest_observation(points, 0.1, 0.1) == 0
    assert nearest_observation(points, 0.9, -3.0) == 1
    assert nearest_observation(points, -1.0, 1.6) == 2
    rng = np.random.default_rng(0)
    cloud = rng.normal(size=(50_000, 2)).astype(np.float32)
    target = rng.normal(size=2)
    assert nearest_observation(cloud, *target) == int(np.argmin(np.linalg.norm(cloud - target, axis=1)))


@pytest.fixture()
def dense_app(digits_workspace, tmp_path):
    """The app over the digits workspace, drawing projections of more than 100 points as densities."""
    from app import create_app
    from nnvis.settings import Settings

    app = create_app(Settings(workspaces=(digits_workspace.path,), job_cache=tmp_path / "jobs", density_above=100))
    with app.server.app_context():
        yield app


def test_projection_above_the_threshold_is_one_image_trace(dense_app, digits_workspace):
    from callbacks import views
    from nnvis.workspace.analysis import Analysis
    from nnvis.workspace.workspace import Workspace

    figure, text, job, _ = views.projection_view(0, "hidden2", 2, "pca", "true", [], None)
    traces = figure.to_plotly_json()["data"]
    assert traces[0]["type"] == "image" and traces[0]["source"].startswith("data:image/png;base64,")
    assert [t["name"] for t in traces[1:]] == [str(c) for c in range(10)]  # legend entries only
    assert "300 observations" in text
    points = Analysis(Workspace(digits_workspace.path)).projection("hidden2", 2, "pca")["points"]
    (x_low, _), (y_low, _) = full_range(points)
    assert traces[0]["x0"] > x_low and traces[0]["x0"] - x_low < traces[0]["dx"]
    assert traces[0]["y0"] > y_low and traces[0]["y0"] - y_low < traces[0]["dy"]


def test_density_hover_zoom_and_neuron_colouring(dense_app, digits_workspace):
    from callbacks import views
    from nnvis.workspace.analysis import Analysis
    from nnvis.workspace.workspace import Workspace

    analysis = Analysis(Workspace(digits_workspace.path))
    points = analysis.projection("hidden2", 2, "pca")["points"]
    x, y = points[17] + 1e-4
    hover = {"points": [{"curveNumber": 0, "x": float(x), "y": float(y), "color": [10, 20, 30, 255]}]}
    assert views.event_observation(hover, 0, "hidden2", 2, "pca") == nearest_observation(points, x, y)
    empty = {"points": [{"curveNumber": 0, "x": float(x), "y": float(y), "color": [0, 0, 0, 0]}]}
    assert views.event_observation(empty, 0, "hidden2", 2, "pca") is None
    assert views.event_observation({"points": [{"customdata": 5}]}, 0, "hidden2", 2, "pca") == 5

    assert views.zoomed_density(0, "hidden2", 2, "pca", "true", None, {"autosize": True}) is None
    zoom = {"xaxis.range[0]": float(x) - 0.1, "xaxis.range[1]": float(x) + 0.1,
            "yaxis.range[0]": float(y) - 0.05, "yaxis.range[1]": float(y) + 0.05}
    patch = views.zoomed_density(0, "hidden2", 2, "pca", "true", None, zoom).to_plotly_json()
    image = patch["operations"][0]["params"]["value"][0]
    assert image["type"] == "image"
    assert image["x0"] == pytest.approx(float(x) - 0.1 + image["dx"] / 2)
    assert image["dx"] == pytest.approx(0.2 / 900)

    neuron = views.neuron_colour_patch(0, "hidden2", 2, 3, "true", "pca", zoom).to_plotly_json()
    traces = neuron["operations"][0]["params"]["value"]
    values = analysis.activations("hidden2", 2)[:, 3].astype(np.float32)
    bar = traces[-1]["marker"]
    assert bar["showscale"]
    assert (bar["cmin"], bar["cmax"]) == pytest.approx((values.min(), values.max()))
