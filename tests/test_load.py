"""The load test in short (benchmarks/load_test.py): browsing users and job-starting users
together against real gunicorn with 4 workers; no error, every job answers, /health stays fast."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_browsing_and_job_users_together_keep_health_under_a_second(digits_workspace, tmp_path):
    workspace = shutil.copytree(digits_workspace.path, tmp_path / "digits")
    figures_file = tmp_path / "figures.json"
    run = subprocess.run([sys.executable, "benchmarks/load_test.py", "--users", "10", "--job-users", "2",
                          "--seconds", "20", "--workspace", str(workspace), "--json", str(figures_file)],
                         cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    figures = json.loads(figures_file.read_text())
    kinds = figures["kinds"]
    assert figures["errors"] == 0, kinds
    assert kinds["/health"]["count"] >= 40 and kinds["/health"]["max_ms"] < 1000, kinds["/health"]
    assert kinds["hover callback"]["count"] > 0 and kinds["thumbnail"]["count"] > 0
    # the job users' jobs ran in the background and each answered with its view
    jobs = sum(row["count"] for kind, row in kinds.items() if kind.endswith(" job"))
    assert jobs >= 2 and kinds["job poll"]["count"] > 0
    assert figures["memory"]["workers"] == 4 and figures["memory"]["workers_mb_max"] > 0
