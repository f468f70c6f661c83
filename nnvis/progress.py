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
            self.close()
            self.bar = tqdm(total=total, desc=stage, **self.options)
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
STAGE_NAMES = {"project": "the first view (projection and neuron map)"}


def seconds(value: float) -> str:
    return f"{value:.0f} s" if value < 90 else f"{value / 60:.1f} min"


class LineProgress:
    """A progress hook writing one line per stage: what is done of how much, the time spent and
    an estimate of the time left. The epochs of training make one stage ("training"); a stage
    reported inside a running one (a t-SNE inside the projections) is named on its line. On a
    terminal the line is rewritten in place; elsewhere (a log) it is written when the stage
    ends, and every `every` seconds while it runs."""

    def __init__(self, file: TextIO, every: float = 15.0):
        self.file, self.every = file, every
        self.live = bool(getattr(file, "isatty", lambda: False)())
        self.stage: str | None = None
        self.started = self.written = 0.0
        self.detail, self.last, self.width = "", (0, 1), 0

    def __call__(self, stage: str, done: int, total: int) -> None:
        name, done, total = self.stage_of(stage, done, total)
        if name is None:  # a step inside the running stage: named on its line
            self.detail = stage
            self.write(*self.last, final=False)
            return
        if name != self.stage:
            self.close()
            self.stage, self.started, self.detail = name, time.monotonic(), ""
            self.written = self.started
        self.last = (done, total)
        self.write(done, total, final=done >= total)
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

    def write(self, done: int, total: int, final: bool) -> None:
        now = time.monotonic()
        elapsed = now - self.started
        if final:
            text = f"nnvis: {self.stage}: done ({total}/{total}) in {seconds(elapsed)}"
        else:
            if not self.live and now - self.written < self.every:
                return
            left = f" · about {seconds(elapsed / done * (total - done))} left" if done else ""
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
