"""The `nnvis` command: train, capture, project and analyse from the shell (`nnvis --help`)."""

from nnvis.cli.commands import main

__all__ = ["main"]
