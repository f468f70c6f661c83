"""One progress hook for the CLI (tqdm), the first start (one line per stage) and the dashboard
(Dash's progress/cancel)."""

from __future__ import annotations

import re
import time
from typing import Protocol, TextIO


class Progress(Protocol):
    """Called as `progress(stage, done, total)`."""

    def __call__(self, stage: str, done: int, total: int) -> None: ...


def no_progress(stage: str, done: int, total: int) -> None:
    """The default hook: report nothing."""


class TqdmProgress:
    """A progress hook drawing one tqdm bar per stage in the terminal."""

    def __init__(self, **tqdm_options):
        self.options = tqdm_options
        self.bar = None
        self.stage = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        from tqdm import tqdm

        if stage != self.stage:
            self.close()  # a bar starts at the count first reported: its rate is not that count over no time
            self.bar = tqdm(total=total, initial=done, desc=stage, **self.options)
            self.stage = stage
        self.bar.total = total
        self.bar.n = done
        self.bar.refresh()
        if done >= total:
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        self.bar, self.stage = None, None


EPOCH_STAGE = re.compile(r"epoch (\d+)/(\d+)")
STAGE_NAMES = {"project": "the first view (projection and neuron map)",
               "projections": "projections, accuracy and neuron maps (the last stage)"}


def seconds(value: float) -> str:
    return f"{value:.0f} s" if value < 90 else f"{value / 60:.1f} min"


class LineProgress:
    """A progress hook writing one line per stage: what is done of how much, the time spent and
    an estimate of the time left. The epochs of training make one stage ("training"); a step
    reported inside a running stage (a capture, a t-SNE with its iterations) is named on its line
    with its own count and time left, and counts as a fraction of the stage. On a terminal the
    line is rewritten in place (at most every `live_every` seconds); elsewhere (a log) a line is
    written when the stage ends, and every `every` seconds while it runs: never a carriage
    return, never a line per update."""

    def __init__(self, file: TextIO, every: float = 15.0, live_every: float = 0.2):
        self.file, self.every, self.live_every = file, every, live_every
        self.live = bool(getattr(file, "isatty", lambda: False)())
        self.stage: str | None = None
        self.started = self.written = self.moved = 0.0
        self.detail, self.last, self.width = "", (0, 1), 0
        self.step: tuple[str, int, int, float] | None = None  # the step inside the stage: name, done, total, start

    def __call__(self, stage: str, done: int, total: int) -> None:
        name, done, total = self.stage_of(stage, done, total)
        now = time.monotonic()
        if name is None:  # a step inside the running stage: named on its line
            self.note_step(stage, done, total, now)
            self.write(*self.last, final=False, now=now)
            return
        if name != self.stage:
            self.close()
            self.stage, self.started, self.detail, self.step = name, now, "", None
            self.written = self.moved = now
        elif done != self.last[0]:
            self.step, self.detail, self.moved = None, "", now  # the stage moved on: its step is over
        self.last = (done, total)
        self.write(done, total, final=done >= total, now=now)
        if done >= total:
            self.stage = None

    def stage_of(self, stage: str, done: int, total: int) -> tuple[str | None, int, int]:
        """(line name, done, total): epochs fold into one training stage; None for a step
        inside a running stage."""
        epoch = EPOCH_STAGE.fullmatch(stage)
        if epoch:
            k, epochs = int(epoch.group(1)), int(epoch.group(2))
            return "training", (k - 1) * total + done, epochs * total
        if stage in STAGE_NAMES:
            return STAGE_NAMES[stage], done, total
        if self.stage is not None and self.stage != stage:
            return None, done, total
        return stage, done, total

    def note_step(self, stage: str, done: int, total: int, now: float) -> None:
        if self.step is None or self.step[0] != stage or done < self.step[1]:
            self.step = (stage, done, total, self.moved)  # it began when the stage last moved on
        self.step = (stage, done, total, self.step[3])
        count = f" {done}/{total}" if total > 1 else ""
        spent = now - self.step[3]
        left = f", about {seconds(spent / done * (total - done))} left" if 0 < done < total and total > 1 else ""
        self.detail = f"{stage}{count}{left}"

    def fraction(self, done: int, total: int) -> float:
        """How much of the stage is done, counting the running step's share."""
        step = self.step
        part = step[1] / step[2] if step is not None and step[2] > 0 and step[1] < step[2] else 0.0
        return min(1.0, (done + part) / total) if total else 1.0

    def write(self, done: int, total: int, final: bool, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        elapsed = now - self.started
        if final:
            text = f"nnvis: {self.stage}: done ({total}/{total}) in {seconds(elapsed)}"
        else:
            if now - self.written < (self.live_every if self.live else self.every):
                return
            part = self.fraction(done, total)
            left = f" · about {seconds(elapsed / part * (1 - part))} left" if part > 0 else ""
            detail = f" ({self.detail})" if self.detail else ""
            text = f"nnvis: {self.stage}: {done}/{total}{detail} · {seconds(elapsed)}{left}"
        self.written = now
        if self.live:
            self.file.write("\r" + text.ljust(self.width) + ("\n" if final else ""))
            self.width = 0 if final else len(text)
        else:
            self.file.write(text + "\n")
        self.file.flush()

    def close(self) -> None:
        """End a stage left unfinished (its line stays as it was)."""
        if self.stage is not None and self.live:
            self.file.write("\n")
            self.file.flush()
        self.stage = None


def run_progress(file: TextIO) -> LineProgress:
    """`nnvis run`'s progress: a line rewritten in place on a terminal; in a log, one line per
    stage (and one a minute while a long stage runs)."""
    return LineProgress(file, every=60.0)
