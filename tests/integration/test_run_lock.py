"""One `nnvis run` per workspace at a time: a second run exits 2 with one line naming the holder;
a lock left by a killed run is taken over."""

import signal
import subprocess
import sys

import pytest

from nnvis.errors import NNVisError
from nnvis.workspace.run_lock import LOCK_NAME, workspace_lock
from tests.conftest import ROOT

HOLD = ("import sys, time\nfrom nnvis.workspace.run_lock import workspace_lock\n"
        "with workspace_lock(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep(600)\n")


@pytest.fixture
def holder(tmp_path):
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path / "ws")], cwd=ROOT, stdout=subprocess.PIPE,
                               text=True)
    assert process.stdout.readline().strip() == "held"
    yield process
    process.kill()
    process.wait()


def test_a_second_run_on_a_workspace_being_written_exits_2_naming_the_holder(holder, tmp_path):
    second = subprocess.run([sys.executable, "-m", "nnvis.cli", "run", "--dataset", "digits", "--model", "mlp",
                             "--epochs", "1", "--subset", "100", "--device", "cpu",
                             "--workspace", str(tmp_path / "ws")],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert second.returncode == 2
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and f"another nnvis run (process {holder.pid}) is writing the workspace" in lines[0]
    assert not (tmp_path / "ws" / "workspace.json").exists()  # the second wrote nothing


def test_the_lock_of_a_killed_run_is_taken_over(holder, tmp_path):
    with pytest.raises(NNVisError, match=f"process {holder.pid}"), workspace_lock(tmp_path / "ws"):
        pass
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert (tmp_path / "ws" / LOCK_NAME).read_text() == str(holder.pid)  # the file stays: stale
    with workspace_lock(tmp_path / "ws"):
        assert (tmp_path / "ws" / LOCK_NAME).read_text() != str(holder.pid)
        with workspace_lock(tmp_path / "ws"):  # a run inside a run of this process: the same writer
            pass
