"""The app is set up before it serves (Dash's first-request set-up is not left to two threads of
a gthread worker at once, which answered 500: "dictionary changed size during iteration")."""

import threading


def test_create_app_has_run_dashs_first_request_set_up(tmp_path, digits_workspace):
    from app import create_app
    from nnvis.settings import Settings

    app = create_app(Settings(workspaces=(digits_workspace.path,), job_cache=tmp_path / "jobs"))
    before = set(app.callback_map)
    assert "_pages_dummy.children" in before  # the pages' router, registered by the first request
    assert any(key.endswith("-cancel.id") for key in before)  # the background callbacks' cancels
    client = app.server.test_client()
    answers = []
    threads = [threading.Thread(target=lambda: answers.append(client.get("/_dash-dependencies").status_code))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [200] * 4 and set(app.callback_map) == before


def test_a_fresh_worker_serves_the_pages_scripts_before_it_has_served_a_page(tmp_path, digits_workspace):
    """Dash registers the scripts it may serve when it renders a page: a gunicorn worker whose
    first request was a script the page of another worker named answered 404 ("DashRenderer is not
    defined" in the browser; the read-only test under gunicorn saw it). Every script of the page,
    asked of a worker that never rendered one, is served."""
    import re

    from app import create_app
    from nnvis.settings import Settings

    settings = Settings(workspaces=(digits_workspace.path,), job_cache=tmp_path / "jobs")
    page = create_app(settings).server.test_client().get("/").get_data(as_text=True)
    scripts = re.findall(r'src="(/_dash-component-suites/[^"]+)"', page)
    assert any("dash_renderer" in src for src in scripts) and any("nnvis_components" in src for src in scripts)
    other_worker = create_app(settings).server.test_client()
    assert [other_worker.get(src).status_code for src in scripts] == [200] * len(scripts)
