"""The CLI's text tables on CIFAR-10, whose class names are longer than the digits' ('automobile'):
every name printed whole and every column aligned under its heading."""

import json

from nnvis.cli.commands import main


def cli(capsys, *args) -> str:
    capsys.readouterr()
    assert main(list(args)) == 0
    return capsys.readouterr().out


def test_compare_text_prints_whole_class_names_in_aligned_columns(resnet_workspace, capsys):
    ws = str(resnet_workspace.path)
    args = ["compare", "--workspace", ws, "--layer", "layer1", "--layer", "layer2", "--epoch", "0", "--top", "10"]
    found = json.loads(cli(capsys, *args, "--json"))
    lines = cli(capsys, *args).splitlines()
    table = lines[lines.index(next(line for line in lines if line.strip().startswith("class "))):]
    shown = [line.split()[0] for line in table[1:]]
    assert shown == [name for name, nh in found["nh_per_class"]["a"].items()
                     if nh is not None and found["nh_per_class"]["b"][name] is not None]
    assert "automobile" in shown or "automobile" not in found["nh_per_class"]["a"]
    assert len({line.index(".") for line in table[1:]}) == 1   # the NH A column starts at one place
    heading = next(line for line in lines if line.startswith("observation"))
    movers = lines[lines.index(heading) + 1: lines.index(heading) + 1 + len(found["movers"])]
    for line, mover in zip(movers, found["movers"]):
        assert line.split()[2:] == [mover["class"], mover["prediction_a"], mover["prediction_b"]]
        assert line.index(mover["class"]) + len(mover["class"]) == heading.index("class") + len("class")


def test_topk_text_prints_whole_class_names_right_aligned_under_class(resnet_workspace, capsys):
    from nnvis.workspace.analysis import Analysis

    classes = Analysis(resnet_workspace).classes
    lines = cli(capsys, "topk", "--workspace", str(resnet_workspace.path), "--layer", "layer1", "--unit", "3",
                "--k", "10").splitlines()
    heading, rows = lines[1], lines[2:]
    assert len(rows) == 10
    for row in rows:
        name = row.split()[3]
        assert name in classes
        assert row.index(name) + len(name) == heading.index("class") + len("class")


def test_neurons_text_names_every_class_whole_above_its_column(resnet_workspace, capsys):
    from nnvis.workspace.analysis import Analysis

    classes = Analysis(resnet_workspace).classes
    lines = cli(capsys, "neurons", "--workspace", str(resnet_workspace.path), "--layer", "layer1",
                "--epoch", "0").splitlines()
    names, rows = lines[3], lines[4:]
    assert names.split() == classes
    ends = [names.index(name) + len(name) for name in classes]   # right-aligned: a column ends under its name
    for row in rows[:5]:
        values = row.split()[-len(classes):]
        at, value_ends = 0, []
        for value in values:
            at = row.index(value, at) + len(value)
            value_ends.append(at)
        assert value_ends == ends
        best = row.split()[3]
        assert best in classes or best == "-"
