"""A checkpoint series as epochs: `--checkpoints 'ckpt/epoch_*.pt'` (a glob or a folder); the
epoch of each file is the last whole number in its name."""

from __future__ import annotations

import glob
import re
from pathlib import Path

from nnvis.errors import NNVisError

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin")
ALLOWED = "a glob such as 'ckpt/epoch_*.pt' or a folder of .pt/.pth/.ckpt files, each named with its epoch"


def epoch_of(path: Path) -> int:
    """The last whole number in the file's name (without its suffix)."""
    numbers = re.findall(r"\d+", path.name.removesuffix(path.suffix))
    if not numbers:
        raise NNVisError(f"checkpoint {path} has no number in its name; the epoch of each file is the last "
                         "whole number in its name (e.g. epoch_3.pt)")
    return int(numbers[-1])


def checkpoint_series(pattern: str | Path) -> dict[int, Path]:
    """{epoch: file} of the files matching `pattern` (a glob, or a folder's checkpoint files),
    sorted by epoch; NNVisError for no match or two files of one epoch."""
    path = Path(pattern).expanduser()
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in CHECKPOINT_SUFFIXES)
    else:
        files = sorted(Path(p) for p in glob.glob(str(path)) if Path(p).is_file())
    if not files:
        raise NNVisError(f"--checkpoints {str(pattern)!r} matches no file; allowed: {ALLOWED}")
    series: dict[int, Path] = {}
    for file in files:
        epoch = epoch_of(file)
        if epoch in series:
            raise NNVisError(f"--checkpoints has two files for epoch {epoch}: {series[epoch]} and {file}; "
                             "allowed: one file per epoch (the epoch is the last whole number in the name)")
        series[epoch] = file
    return dict(sorted(series.items()))
