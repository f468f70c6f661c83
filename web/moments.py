"""Each neuron's moments (sum and sum of squares over all observations) of a layer, for ranking
a selection's neurons without holding the layer: one pass over the memory-mapped layer (seconds
at a million observations), kept in this process and in the job cache's folder so that every
worker reads them, and a selection then reads only its own rows (`nnvis.projection.selection`)."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from nnvis.data.npy import open_npz
from nnvis.projection.selection import unit_moments
from nnvis.workspace.analysis import Analysis
from web.context import current_settings, workspace_identity

MOMENTS: OrderedDict = OrderedDict()  # (workspace identity, layer, epoch) -> unit_moments, a few kept per process
WARMING: set = set()
WARMING_LOCK = threading.Lock()


def moments_file(analysis: Analysis, layer: str, epoch: int) -> Path:
    """Where the moments of a layer are kept for every worker: the job cache's folder (written
    by a read-only server too), named by the workspace as it is now, the layer and the epoch."""
    name = hashlib.sha256(json.dumps([*workspace_identity(analysis), layer, epoch], default=str).encode()).hexdigest()
    return Path(current_settings().job_cache) / "moments" / f"{name[:32]}.npz"


def layer_moments(analysis: Analysis, layer: str, epoch: int, path: Path | None = None) -> dict:
    """Each neuron's sum and sum of squares over the subset: kept in this process, else read from
    the job cache's folder, else one pass over the mapped layer (then kept in both)."""
    key = (workspace_identity(analysis), layer, epoch)
    if key not in MOMENTS:
        path = path or moments_file(analysis, layer, epoch)
        try:
            with open_npz(path) as kept:
                moments = {"sum": kept["sum"], "squares": kept["squares"], "n": int(kept["n"])}
        except (OSError, KeyError, ValueError):
            moments = unit_moments(analysis.mapped_activations(layer, epoch))
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f"{path.stem}.{os.getpid()}.{threading.get_ident()}.partial.npz")
            np.savez(partial, **moments)
            os.replace(partial, path)  # readers see the whole file or none
        MOMENTS[key] = moments
        while len(MOMENTS) > 4:
            MOMENTS.popitem(last=False)
    MOMENTS.move_to_end(key)
    return MOMENTS[key]


def warm_moments(analysis: Analysis, layer: str, epoch: int) -> None:
    """Start computing a layer's moments in a background thread (once per process and layer)
    unless they are known: the first lasso then reads only its own rows."""
    key = (workspace_identity(analysis), layer, epoch)
    path = moments_file(analysis, layer, epoch)
    with WARMING_LOCK:
        if key in MOMENTS or key in WARMING or path.exists():
            return
        WARMING.add(key)

    def run():
        try:
            layer_moments(analysis, layer, epoch, path)
        except Exception:  # noqa: BLE001  a lasso computes them itself and says what was wrong
            pass
        finally:
            WARMING.discard(key)

    threading.Thread(target=run, name=f"moments {layer}", daemon=True).start()
