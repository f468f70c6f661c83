"""Where the dashboard's `app.py` is, for `nnvis serve` and the notebook's server (both start
it as a program; the backend never imports the web side)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from nnvis.errors import NNVisError


def dashboard_entry_point() -> str:
    """The path of the dashboard's `app.py` (located, not imported)."""
    spec = importlib.util.find_spec("app")
    if spec is None or not spec.origin or Path(spec.origin).name != "app.py":
        raise NNVisError("cannot find the dashboard (app.py): install nnvis with `pip install -e .` "
                         "from its repository, or run `python app.py` there")
    return spec.origin
