"""A job's indicator says its stage, its count and, once a step is done, the time left at its pace."""

from web.jobs import reporter


def test_the_indicator_says_the_time_left_at_the_stages_pace():
    shown, now = [], [100.0]
    report = reporter(shown.append, clock=lambda: now[0])
    report("t-SNE iterations", 0, 750)
    now[0] = 130.0
    report("t-SNE iterations", 250, 750)  # 250 iterations in 30 s: 500 more take 60 s
    now[0] = 131.0
    report("capture", 1, 4)  # a new stage: no pace known yet
    assert shown[0] == ("0", "750", "t-SNE iterations 0/750")
    assert shown[1][2].startswith("t-SNE iterations 250/750 · about ") and shown[1][2].endswith(" left")
    assert "1 min" in shown[1][2] or "60 s" in shown[1][2]
    assert shown[2] == ("1", "4", "capture 1/4")
