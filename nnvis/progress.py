"""One progress hook for the CLI (tqdm) and the dashboard (Dash's progress/cancel)."""

from __future__ import annotations

from typing import Protocol


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

