"""Messages drawn in figures wrap: Plotly does not wrap annotation text, so a long message is
broken at spaces into lines that fit the graph, every word kept."""

from layouts.figures import MESSAGE_CHARACTERS, message_figure, wrapped
from tests.conftest import copy_workspace, forget


def drawn_lines(figure) -> list[str]:
    (note,) = figure.layout.annotations
    return note.text.split("<br>")


def test_compares_message_while_its_job_runs_is_drawn_over_lines_that_fit(digits_workspace, tmp_path):
    from app import create_app
    from callbacks.compare import compare_view
    from nnvis.settings import Settings

    workspace = copy_workspace(digits_workspace.path, tmp_path / "digits")
    forget(workspace, "aligned-pair", "neighbourhood-change")
    app = create_app(Settings(workspaces=(workspace,), job_cache=tmp_path / "jobs"))
    with app.server.test_request_context():
        figure_a, figure_b, status, movers, _, job = compare_view(0, "hidden4", 0, 0, "hidden4", 2, "tsne", "change")
    assert status.startswith("Finding every observation's 10 nearest neighbours") and job["method"] == "tsne"
    assert len(status) > MESSAGE_CHARACTERS and movers == []
    for figure in (figure_a, figure_b):
        lines = drawn_lines(figure)
        assert len(lines) == 2 and all(len(line) <= MESSAGE_CHARACTERS for line in lines)
        assert " ".join(lines) == status  # every word, in order, broken only at spaces


def test_wrapping_keeps_short_messages_and_line_breaks_and_splits_overlong_words():
    from web.jobs import READ_ONLY_MESSAGE

    assert drawn_lines(message_figure("Hover a cell of the grid.")) == ["Hover a cell of the grid."]
    narrow = drawn_lines(message_figure(READ_ONLY_MESSAGE, width=30))
    assert len(narrow) == 5 and max(len(line) for line in narrow) <= 30
    assert " ".join(narrow).split() == READ_ONLY_MESSAGE.split()
    assert wrapped("first line\nsecond line", 40) == "first line<br>second line"
    path = "/srv/nnvis/workspaces/" + "a" * 80 + "/workspace.json"
    pieces = wrapped(f"workspace {path} is damaged").split("<br>")
    assert len(pieces) == 3 and all(len(piece) <= MESSAGE_CHARACTERS for piece in pieces)
    assert "".join(pieces).replace(" ", "") == f"workspace{path}isdamaged"  # split, every character kept
