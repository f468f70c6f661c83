"""The exported page, opened from a file:// address with the network cut off: points drawn,
hovering a point shows its thumbnail, clicking a neuron recolours the observations, no console error."""

import pytest

from nnvis.integrations.html_view import export_html

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def exported(digits_workspace, tmp_path_factory):
    return export_html(digits_workspace.path, "hidden4", tmp_path_factory.mktemp("html") / "view.html")


def centre(box) -> tuple[float, float]:
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def test_exported_page_works_offline(browser, exported):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, offline=True)
    requested = []

    def only_files(route):
        requested.append(route.request.url)
        return route.continue_() if route.request.url.startswith(("file:", "data:")) else route.abort()
    context.route("**/*", only_files)
    page = context.new_page()
    page.console_errors = []
    page.on("console", lambda m: page.console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page.console_errors.append(str(e)))
    try:
        page.goto(exported.resolve().as_uri())
        points = page.locator("#projection .scatterlayer .point")
        points.first.wait_for()
        assert points.count() == 300  # the subset of digits_workspace, every observation drawn
        assert "NH 0." in page.inner_text("#figures") and "test accuracy 0." in page.inner_text("#figures")

        page.mouse.move(*centre(points.nth(17).bounding_box()))
        page.wait_for_function("document.getElementById('thumb').dataset.index !== undefined")
        index = int(page.eval_on_selector("#thumb", "c => c.dataset.index"))
        assert 0 <= index < 300
        drawn = page.evaluate("""() => { const c = document.getElementById('thumb');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let lit = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) lit++; return lit; }""")
        assert drawn > 1000  # an 8x8 digit scaled to 96x96: the canvas is painted
        assert "true " in page.inner_text("#detail-text")

        before = page.evaluate("document.getElementById('projection').data[0].marker.color.slice(0, 5)")
        assert all(isinstance(c, str) for c in before)  # class colours
        neuron = page.locator("#neuron-map .scatterlayer .point").nth(3)
        page.mouse.click(*centre(neuron.bounding_box()))
        page.wait_for_function("document.getElementById('color-by').value === 'neuron'")
        after = page.evaluate("document.getElementById('projection').data[0].marker.color")
        assert len(after) == 300 and all(isinstance(v, (int, float)) for v in after)
        assert max(after) > min(after)
        assert "neuron " in page.inner_text("#legend")
        assert all(url.startswith(("file:", "data:")) for url in requested), requested
        assert page.console_errors == []
    finally:
        context.close()


def test_export_html_button_downloads_the_view(digits_workspace, page, tmp_path):
    """The explore page's Export HTML downloads the page of the view shown, from the store."""
    import json
    import re

    from nnvis.settings import Settings
    from tests.browser.test_browser import wait_for_points
    from tests.conftest import serving

    with serving(Settings(workspaces=(digits_workspace.path,), job_cache=tmp_path / "jobs")) as url:
        page.goto(f"{url}/?ws=0&layer=hidden3&epoch=1&method=pca")
        wait_for_points(page, "obs-projection")
        with page.expect_download(timeout=120_000) as download:
            page.click("#export-html")
        saved = tmp_path / download.value.suggested_filename
        download.value.save_as(saved)
        page.wait_for_function("document.getElementById('html-export-status').textContent.startsWith('exported')")
    assert saved.name == "nnvis-hidden3-epoch1-pca.html"
    data = json.loads(re.search(r'id="nnvis-data">(.*?)</script>', saved.read_text(), re.S).group(1))
    assert (data["layer"], data["epoch"], len(data["x"])) == ("hidden3", 1, 300)
