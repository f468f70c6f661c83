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
