"""The checks of values that come from people (nnvis.validation) and the one parser of index
lists like "3-7,12": strict for the CLI (a clear error), lenient for a link (web.view_state)."""

import json

import numpy as np
import pytest

from nnvis.cli.commands import main
from nnvis.errors import NNVisError
from nnvis.validation import number, one_of, parse_ranges, whole_number
from nnvis.workspace.analysis import Analysis
from web.view_state import parse_selection


def test_one_of_returns_the_value_or_names_it_and_the_allowed_ones():
    assert one_of("pca", ("tsne", "umap", "pca"), "projection") == "pca"
    with pytest.raises(NNVisError, match=r"^unknown projection 'mds'; allowed: tsne, umap, pca$"):
        one_of("mds", ("tsne", "umap", "pca"), "projection")
    with pytest.raises(NNVisError, match=r"^unknown precision 'None'; allowed: float32, float16$"):
        one_of(None, {"float32": 1, "float16": 2}, "precision")  # a dict's keys are what it allows


def test_whole_number_takes_integers_in_range_only():
    assert whole_number(np.int64(3), "k", 1, 5) == 3 and type(whole_number(np.int64(3), "k", 1, 5)) is int
    assert whole_number(10**30, "n", 0) == 10**30  # no float conversion on the way
    with pytest.raises(NNVisError, match=r"^k 6 is out of range; allowed: 1\.\.5$"):
        whole_number(6, "k", 1, 5)
    with pytest.raises(NNVisError, match=r"^--size 0 is out of range; allowed: a whole number >= 1$"):
        whole_number(0, "--size", 1)
    with pytest.raises(NNVisError, match=r"^top 9 is out of range; allowed: a whole number <= 8$"):
        whole_number(9, "top", high=8)
    for bad in (True, 2.0, "3", None):
        with pytest.raises(NNVisError, match=rf"^k {bad!r} is not a whole number; allowed: 1\.\.5$"):
            whole_number(bad, "k", 1, 5)


def test_whole_number_detail_and_problem_replace_the_parts_of_the_message():
    with pytest.raises(NNVisError, match=r"^unit 4 is out of range; layer fc has 4 units \(0\.\.3\)$"):
        whole_number(4, "unit", 0, 3, detail="layer fc has 4 units (0..3)")
    with pytest.raises(NNVisError, match=r"^observation 300 is outside the subset; allowed: 0\.\.299$"):
        whole_number(300, "observation", 0, 299, problem="is outside the subset")


def test_number_takes_finite_numbers_in_range():
    assert number(1, "fraction", 0, 1) == 1.0 and type(number(1, "fraction", 0, 1)) is float
    assert number(np.float32(0.25), "fraction", 0, 1) == 0.25
    for bad in (-0.1, 1.5, float("nan"), float("inf")):
        with pytest.raises(NNVisError, match=rf"^fraction {bad} is out of range; allowed: 0\.\.1$"):
            number(bad, "fraction", 0, 1)
    with pytest.raises(NNVisError, match=r"^noise variance inf is out of range; allowed: a number >= 0$"):
        number(float("inf"), "noise variance", 0)
    with pytest.raises(NNVisError, match=r"^fraction '0\.5' is not a number; allowed: 0\.\.1$"):
        number("0.5", "fraction", 0, 1)
    with pytest.raises(NNVisError, match=r"^fraction True is not a number"):
        number(True, "fraction", 0, 1)


def test_strict_parse_keeps_the_order_given_without_repeats():
    assert parse_ranges("3, 7-9,3,12", "--observations") == [3, 7, 8, 9, 12]
    assert parse_ranges("12,0-2", "--observations", size=13) == [12, 0, 1, 2]


@pytest.mark.parametrize("text, message", [
    ("3;4", r"^--observations '3;4': '3;4' is not a number or a range a-b with a <= b; allowed: whole numbers "
            r"separated by commas, ranges like 3-7, e\.g\. 3-7,12$"),
    ("-2", "'-2' is not a number or a range"),
    ("1-", "'1-' is not a number or a range"),
    ("7-3", "'7-3' is not a number or a range a-b with a <= b"),
    ("2-x", "'2-x' is not a number"),
    ("", r"^--observations lists nothing; allowed: whole numbers separated by commas"),
    (" , ", "lists nothing"),
    ("3,0-10", r"^--observations '3,0-10': 10 is out of range; allowed: 0\.\.9$"),
])
def test_strict_parse_refuses_what_it_cannot_read(text, message):
    with pytest.raises(NNVisError, match=message):
        parse_ranges(text, "--observations", size=10)


def old_parse_selection(text, size):
    """web.view_state.parse_selection as it was, before the one parser."""
    indices = set()
    for part in (text or "").split(","):
        first, _, last = part.partition("-")
        if first.isdigit() and (not last or last.isdigit()):
            indices.update(range(int(first), min(int(last or first), size - 1) + 1))
    return sorted(i for i in indices if i < size)


@pytest.mark.parametrize("text", [None, "", "3-7,12", "12,3-7,5", "0-9,20", "x,4,,9-2,2-y", "7-3", "999",
                                  "5-1000000000", "3-7%2C12", "-4", "1--3", "8,8,8"])
def test_a_link_selection_is_read_as_before(text):
    assert parse_selection(text, 10) == old_parse_selection(text, 10)
    assert parse_ranges(text, "sel", size=10, strict=False) == list(dict.fromkeys(
        i for part in (text or "").split(",") for i in old_parse_selection(part, 10)))


def test_a_link_selection_skips_bad_parts_and_cuts_huge_ranges():
    assert parse_selection("2, 4-5,x,40,8-100", 10) == [2, 4, 5, 8, 9]
    assert parse_selection("0-99999999999999", 3) == [0, 1, 2]  # cut at the size: nothing huge is built
    assert parse_selection("3", 0) == []


def test_the_cli_reads_observation_ranges_and_refuses_a_bad_list_in_one_line(digits_workspace, capsys):
    ws = str(digits_workspace.path)
    capsys.readouterr()
    assert main(["select", "--workspace", ws, "--layer", "hidden4", "--rule", "max", "--observations", "4-6",
                 "--n", "2", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    acts = Analysis(digits_workspace).activations("hidden4", 2).astype(np.float64)
    assert found["observations"] == [4, 5, 6]
    assert found["units"] == {str(i): np.argsort(-acts[i], kind="stable")[:2].tolist() for i in (4, 5, 6)}
    assert main(["select", "--workspace", ws, "--layer", "hidden4", "--rule", "max", "--observations", "4;6"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert "error: --observations '4;6': '4;6' is not a number or a range" in err
