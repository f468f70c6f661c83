"""The newcomer's route (issue 26, item 3): from the explore page, every page in turn through its
header link and back, without waiting for each page's views to finish, then the second workspace;
served with the default job caps. No job-cap message ("at most N per user") is ever shown on the
way, and the second workspace's projection is drawn at the end: the jobs of the pages left behind
stop counting for the user. Before the queue, the fourth page showed "You run 3 jobs already (at
most 3 per user)" in red."""

import pytest

from tests.browser.test_browser import wait_for_points
from tests.conftest import choose, copy_workspace, serving

pytestmark = pytest.mark.browser

ROUTE = [("evolution-link", "evolution: trails across layers and epochs"),
         ("unit-card-link", "unit lab: one unit's examples"),
         ("layer-lab-link", "layer lab: similarity"),
         ("concepts-link", "concepts: what a layer has learned"),
         ("compare-link", "compare two snapshots"),
         ("deepvis-link", "deep visualization: every channel")]

WATCH_CAP_MESSAGES = """
if (window.location.protocol.startsWith('http')) {  // not about:blank, whose storage is refused
sessionStorage.setItem('capMessages', sessionStorage.getItem('capMessages') || '[]');
sessionStorage.setItem('queued', sessionStorage.getItem('queued') || '[]');
setInterval(() => {
  const text = document.body ? document.body.innerText : '';
  const note = (key, found) => {
    const seen = JSON.parse(sessionStorage.getItem(key));
    for (const line of found) { if (!seen.includes(line)) seen.push(line); }
    sessionStorage.setItem(key, JSON.stringify(seen));
  };
  note('capMessages', text.split('\\n').filter(l => /at most \\d+ per user|jobs already|jobs waiting already/.test(l)));
  note('queued', text.split('\\n').filter(l => /^queued/.test(l.trim())));
}, 200);
}
"""


def seen(page, key: str) -> list[str]:
    return page.evaluate(f"() => JSON.parse(sessionStorage.getItem('{key}') || '[]')")


def test_every_page_then_a_second_workspace_never_shows_a_job_cap(page, digits_workspace, mnist_small_workspace,
                                                                  tmp_path):
    from nnvis.settings import Settings

    first = copy_workspace(digits_workspace.path, tmp_path / "digits")   # the pages' jobs write into the stores
    second = copy_workspace(mnist_small_workspace.path, tmp_path / "mnist")
    settings = Settings(workspaces=(first, second), job_cache=tmp_path / "jobs")
    assert settings.max_jobs_per_user == 3  # the default caps, as a newcomer meets them
    page.add_init_script(WATCH_CAP_MESSAGES)
    with serving(settings) as base:
        page.goto(f"{base}/?ws=0")
        page.wait_for_selector("header .subtitle:has-text('hidden activity of neural networks')")
        for link, subtitle in ROUTE:
            page.click(f"#{link}")
            page.wait_for_selector(f"header .subtitle:has-text(\"{subtitle}\")")
            page.wait_for_timeout(1500)  # a glance, as a person does, while the page's jobs run
            assert seen(page, "capMessages") == [], (link, seen(page, "capMessages"))
            page.click("header a:has-text('← projection and neurons')")
            page.wait_for_selector("header .subtitle:has-text('hidden activity of neural networks')")
        choose(page, "workspace-select", "mnist: mnist / mlp")
        page.wait_for_function("() => document.querySelector('#layer-select').innerText.includes('hidden4')")
        wait_for_points(page, "obs-projection")
        page.wait_for_function("() => document.querySelector('#nh-value').innerText.startsWith('NH ')",
                               timeout=240000)
        page.wait_for_timeout(1000)
        assert seen(page, "capMessages") == []
        assert "at most" not in page.inner_text("#error-banner")
        print("queued indicators seen on the way:", seen(page, "queued"))
        page.goto("about:blank")  # stop polling before the server goes
