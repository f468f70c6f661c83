"""Choosing another workspace in /deepvis's dropdown opens that workspace (the page used to load
twice and land back on the first one). Over the session's digits and MNIST workspaces."""

import pytest

from nnvis.workspace.analysis import Analysis

pytestmark = pytest.mark.browser


def test_the_workspace_dropdown_of_deepvis_opens_the_workspace_chosen(page, dashboard, mnist_small_workspace):
    page.goto(f"{dashboard}/deepvis?ws=0", wait_until="networkidle")
    page.wait_for_selector("#dv-grid-status:has-text('observation 0')")
    page.click("#dv-ws")
    page.click(f"text={mnist_small_workspace.path.name}: mnist / mlp")
    page.wait_for_url("**/deepvis?ws=1&*", timeout=120_000)
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(1500)  # a second load, if any, would have started by now
    assert "ws=1" in page.url
    assert page.inner_text("#dv-ws").strip() == f"{mnist_small_workspace.path.name}: mnist / mlp"
    assert page.inner_text("#dv-layer").strip() == Analysis(mnist_small_workspace).layers[0]
