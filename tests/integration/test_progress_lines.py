"""Progress with meaning (issue 26, item 5): `nnvis run` to a log writes one line per stage with
the time left, never a carriage return; t-SNE reports its iterations; the capture bar's rate is
not a count over no time."""

import io
import re
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.conftest import ROOT


def test_a_run_to_a_log_file_writes_one_line_per_stage(tmp_path):
    log = tmp_path / "log.txt"
    with open(log, "w") as stderr:  # a file, not a terminal
        run = subprocess.run([sys.executable, "-m", "nnvis.cli", "run", "--dataset", "digits", "--model", "mlp",
                              "--epochs", "1", "--subset", "120", "--projection", "pca", "--device", "cpu",
                              "--neuron-maps", "last", "--workspace", str(tmp_path / "w")],
                             stdout=subprocess.PIPE, stderr=stderr, text=True, cwd=ROOT, timeout=1200)
    text = log.read_text()
    assert run.returncode == 0, text
    assert "\r" not in text
    lines = text.splitlines()
    assert all(line.startswith("nnvis: ") for line in lines), lines
    done = [line for line in lines if ": done (" in line]
    assert [line.split(": done")[0] for line in done] == [
        "nnvis: training", "nnvis: projections, accuracy and neuron maps (the last stage)"], lines
    for line in lines:  # a stage that ran long enough for a line before its end says what is left
        assert line in done or re.search(r"about [\d.]+ (s|min) left$", line), line


def test_tsne_reports_its_iterations(blobs):
    from nnvis.projection.methods import TSNE_ITERATIONS, project

    heard = []
    project(blobs[0], "tsne", seed=0, n_jobs=1, steps=lambda done, total: heard.append((done, total)))
    total = sum(TSNE_ITERATIONS)
    assert heard[-1] == (total, total) and len(heard) == total // 25
    assert [d for d, _ in heard] == sorted(d for d, _ in heard)


def test_the_epoch_sink_hears_a_tqdm_bar():
    """umap-learn draws its epochs with tqdm (`tqdm_kwds`): the sink turns what it writes into steps."""
    from tqdm.auto import tqdm

    from nnvis.projection.methods import EpochSink

    heard = []
    for _ in tqdm(range(200), desc="Epochs completed", **EpochSink(lambda *step: heard.append(step)).tqdm_kwds()):
        pass
    assert heard[0] == (0, 200) and heard[-1] == (200, 200)


@pytest.mark.slow  # importing umap-learn compiles numba functions: minutes on a loaded machine
def test_umap_reports_its_epochs(blobs):
    from nnvis.projection.methods import project

    heard = []
    project(blobs[0], "umap", seed=0, steps=lambda done, total: heard.append((done, total)))
    assert heard and heard[-1][0] == heard[-1][1] > 0


def test_a_step_inside_a_stage_is_named_with_its_count_and_time_left(monkeypatch):
    from nnvis import progress as module

    clock = iter(range(0, 1000, 10))
    monkeypatch.setattr(module.time, "monotonic", lambda: float(next(clock)))
    log = io.StringIO()
    report = module.LineProgress(log, every=15)
    report("projections", 0, 2)  # the stage starts at t = 0; a line is due 15 s after the last
    report("tsne of fc1", 250, 750)  # t = 10: not due
    report("tsne of fc1", 500, 750)  # t = 20: two thirds of the first view's t-SNE in 20 s
    report("projections", 1, 2)  # t = 30: not due
    report("projections", 2, 2)  # t = 40
    stage = "nnvis: projections, accuracy and neuron maps (the last stage)"
    assert log.getvalue().splitlines() == [
        f"{stage}: 0/2 (tsne of fc1 500/750, about 10 s left) · 20 s · about 40 s left",
        f"{stage}: done (2/2) in 40 s",
    ]


def test_the_bar_rate_is_not_a_first_count_over_no_time():
    from nnvis.progress import TqdmProgress

    out = io.StringIO()
    bar = TqdmProgress(file=out, mininterval=0)
    bar("capture", 116_080, 200_000)  # the first report of a stage comes after a batch, not at 0
    time.sleep(0.05)  # (the next batch takes some time)
    bar("capture", 120_000, 200_000)
    bar.close()
    rates = [float(r) for r in re.findall(r"([\d.]+)it/s", out.getvalue())]
    assert all(rate < 1e6 for rate in rates), out.getvalue()
    assert np.isfinite(rates).all()
