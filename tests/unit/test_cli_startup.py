"""`nnvis` answers at once (issue 26, items 4 and 5): parsing the arguments imports no heavy
library, one-line errors come before torch is imported, `summary` reads what is stored and
computes nothing. What is imported is asserted here; the wall-clock times are measured by
benchmarks/bench_cli_startup.py (a loaded machine must not fail the suite)."""

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT

HEAVY = ("torch", "torchvision", "umap", "pynndescent", "numba", "sklearn", "openTSNE", "captum", "PIL")
COMPUTING = ("umap", "pynndescent", "numba", "openTSNE")


def run_main(*argv: str) -> dict:
    """`nnvis ARGV` in a fresh interpreter: exit status, stderr lines and which heavy modules
    were imported by the end."""
    script = ("import json, sys\n"
              "from nnvis.cli.commands import main\n"
              "try:\n    status = main(sys.argv[1:])\n"
              "except SystemExit as exit:\n    status = exit.code\n"
              f"print(json.dumps({{'status': status, 'heavy': [m for m in {HEAVY!r} if m in sys.modules]}}))\n")
    result = subprocess.run([sys.executable, "-c", script, *argv], capture_output=True, text=True, cwd=ROOT,
                            timeout=600)
    found = json.loads(result.stdout.strip().splitlines()[-1])
    return {**found, "err": result.stderr.strip().splitlines(), "out": result.stdout}


def test_help_imports_no_heavy_library():
    found = run_main("--help")
    assert found["status"] == 0 and found["heavy"] == []
    for name in ("run", "summary", "serve", "check", "compare"):
        assert f"    {name} " in found["out"]


@pytest.mark.parametrize("argv, needles", [
    (["summary", "--workspace", "/no/such/folder"], ["/no/such/folder is not an nnvis workspace"]),
    (["run", "--dataset", "cifar100"], ["nnvis run: error:", "required: --model, --workspace"]),
    (["run", "--dataset", "cifar100", "--model", "mlp", "--workspace", "/tmp/x"],
     ["unknown dataset 'cifar100'; allowed: digits, mnist, fashion-mnist, cifar10"]),
    (["run", "--dataset", "digits", "--model", "mlp", "--workspace", "/tmp/x", "--projection", "lle"],
     ["unknown projection 'lle'; allowed: tsne, umap, pca"]),
    (["nosuchcommand"], ["invalid choice: 'nosuchcommand'"]),
])
def test_one_line_errors_come_before_any_heavy_import(argv, needles):
    found = run_main(*argv)
    assert found["status"] == 2 and found["heavy"] == []
    assert len(found["err"]) == 1, found["err"]  # no usage block, no traceback
    for needle in needles:
        assert needle in found["err"][0], found["err"][0]


def test_every_command_adds_its_own_parser_and_has_a_handler():
    """The table and the modules agree: each entry's parser function adds that subcommand (with
    its arguments, not the placeholder) and its handler is a function; nothing else is added."""
    import argparse

    from nnvis.cli.commands import COMMANDS, build_parser, load

    for name, command in COMMANDS.items():
        parser = build_parser(name)
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        assert set(sub.choices) == set(COMMANDS), name
        assert sub.choices[name].add_help, f"{command.parser} does not add '{name}'"
        assert callable(load(command.handler)), command.handler


def test_the_parsers_choices_are_the_backends():
    from nnvis.cli import choices
    from nnvis.data.datasets import DATASETS
    from nnvis.data.preprocess import NORMALIZE_HELP, NORMALIZE_NONE
    from nnvis.models.activations import PRECISIONS
    from nnvis.projection.methods import PROJECTIONS
    from nnvis.workspace import workspace

    assert choices.DATASETS == DATASETS and choices.PROJECTIONS == PROJECTIONS
    assert choices.PRECISIONS == tuple(PRECISIONS) and choices.DEVICES == workspace.DEVICES
    assert choices.OBSERVATIONS == workspace.OBSERVATIONS and choices.SUBSET_ALL == workspace.SUBSET_ALL
    assert choices.DEFAULT_SUBSET == workspace.DEFAULT_SUBSET and choices.MANIFEST == workspace.MANIFEST
    assert (choices.NORMALIZE_NONE, choices.NORMALIZE_HELP) == (NORMALIZE_NONE, NORMALIZE_HELP)


def test_from_nnvis_import_recorder_still_works():
    found = subprocess.run([sys.executable, "-c", "import sys, nnvis; assert 'torch' not in sys.modules; "
                            "from nnvis import Recorder; print(Recorder.__name__)"],
                           capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert found.stdout.strip() == "Recorder", found.stderr


def test_summary_of_a_workspace_with_missing_figures_imports_no_heavy_library(digits_workspace, tmp_path):
    """The default workspace `python app.py` builds keeps no summary.json (some views are computed
    when shown): its summary is read from the store, still without torch, and says what is missing
    (it imported torch before, 2 to 5 s before the first figure)."""
    import shutil

    from nnvis.cli.commands import full_summary
    from nnvis.workspace.analysis import Analysis
    from nnvis.workspace.workspace import Workspace

    copy = tmp_path / "partial"
    shutil.copytree(digits_workspace.path, copy)
    (copy / "summary.json").unlink(missing_ok=True)
    partial = Workspace(copy)
    dropped = Analysis(partial).projection_key("hidden2", 1)
    assert partial.store.cache.delete(dropped.digest())  # as if this view was never shown
    partial.store.close()
    found = run_main("summary", "--workspace", str(copy), "--json")
    assert found["status"] == 0 and found["heavy"] == [], found
    figures = json.loads(found["out"].splitlines()[0])
    assert figures["missing"] == ["pca projection (NH) of hidden2 at epoch 1"]
    expected = full_summary(Workspace(digits_workspace.path))
    del expected["nh"]["hidden2"]["1"]
    assert {**figures, "missing": []} == expected
    assert not (copy / "summary.json").exists()  # an incomplete summary is not kept


def test_every_precision_has_a_torch_dtype():
    from nnvis.models.activations import PRECISIONS
    from nnvis.models.names import PRECISION_NAMES

    assert tuple(PRECISIONS) == PRECISION_NAMES
