"""The first start's progress (issue 17, item 12): one readable line per stage, with the time
spent and an estimate of the time left, instead of interleaved tqdm bars."""

import io


def test_first_start_progress_writes_one_line_per_stage_with_the_time_left(monkeypatch):
    from nnvis import progress as module

    clock = iter(range(0, 1000, 10))  # every reading of the clock 10 s later
    monkeypatch.setattr(module.time, "monotonic", lambda: float(next(clock)))
    log = io.StringIO()
    report = module.LineProgress(log, every=15)
    for epoch in (1, 2):
        for batch in (1, 2):
            report(f"epoch {epoch}/2", batch, 2)
    report("project", 0, 2)
    report("tsne of hidden1", 0, 1)
    report("project", 1, 2)
    report("project", 2, 2)
    assert log.getvalue().splitlines() == [  # one reading of the clock per report
        "nnvis: training: 3/4 · 20 s · about 7 s left",
        "nnvis: training: done (4/4) in 30 s",
        "nnvis: the first view (projection and neuron map): 1/2 · 20 s · about 20 s left",
        "nnvis: the first view (projection and neuron map): done (2/2) in 30 s",
    ]
