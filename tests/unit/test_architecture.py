"""The habits the code keeps: one-way layers (the backend's wings, the web side, no web in the
backend) checked by import-linter with indirect imports; lint is clean; modules stay short."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

BIN = Path(sys.executable).parent
CONTRACTS = 3
SOURCES = ("nnvis", "web", "callbacks", "layouts")


def lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "lint-imports"), "--no-cache"], cwd=cwd, capture_output=True, text=True,
                          env={"PYTHONPATH": str(cwd), "PATH": str(BIN)})


def test_backend_does_not_import_dash_flask_or_plotly():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{CONTRACTS} kept, 0 broken" in result.stdout


@pytest.mark.parametrize("module, line, broken", [
    ("nnvis/deepvis/strip.py", "from nnvis.unitlab.stats import top_k", "nnvis.deepvis.strip -> nnvis.unitlab.stats"),
    ("nnvis/data/images.py", "from nnvis.workspace.store import ArtifactKey", "nnvis.data.images -> nnvis.workspace"),
    ("web/routes.py", "import callbacks.views", "web.routes -> callbacks.views"),
    ("layouts/figures.py", "from callbacks import views", "layouts.figures -> callbacks.views"),
    ("nnvis/cli/commands.py", "import app", "nnvis.cli.commands -> app"),
])
def test_a_import_against_the_layers_breaks_a_contract(tmp_path, module, line, broken):
    """The contracts can fail: one upward import in a copy of the sources is reported."""
    for name in SOURCES:
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    shutil.copy(ROOT / "app.py", tmp_path)
    with open(tmp_path / module, "a") as source:
        source.write(f"\n{line}  # noqa\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert "0 broken" not in result.stdout
    assert broken in result.stdout, result.stdout


def test_no_module_is_longer_than_400_lines():
    long = {str(path.relative_to(ROOT)): n for name in (*SOURCES, "app.py")
            for path in ((ROOT / name).rglob("*.py") if (ROOT / name).is_dir() else [ROOT / name])
            if (n := len(path.read_text().splitlines())) > 400}
    assert not long, long


def test_ruff_is_clean():
    result = subprocess.run([str(BIN / "ruff"), "check", *SOURCES, "app.py", "tests"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
