"""A workspace's integrity: workspace.json validated field by field, snapshots checked against
the hashes recorded when they were written, store entries checked to decode. `nnvis check`
reports each problem on one line; `--repair` removes what is damaged and recomputes it (the
snapshots by training again: seeded, so the same weights; every artifact `nnvis run` makes)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from diskcache.core import MODE_PICKLE

from nnvis.errors import NNVisError
from nnvis.workspace.store import DECODE_ERRORS, decodes, load_mapped, open_read_only

if TYPE_CHECKING:
    import torch

# field of workspace.json: (what it must be, the check)
MANIFEST_FIELDS = {
    "config": ("an object with 'dataset' and 'model' names", lambda v: isinstance(v, dict) and all(
        isinstance(v.get(name), str) for name in ("dataset", "model"))),
    "training_key": ("a text", lambda v: isinstance(v, str)),
    "dataset_id": ("a text", lambda v: isinstance(v, str)),
    "classes": ("a list of class names", lambda v: isinstance(v, list) and bool(v) and all(
        isinstance(c, str) for c in v)),
    "image_shape": ("a list of 2 or 3 positive whole numbers", lambda v: isinstance(v, list) and len(v) in (2, 3)
                    and all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in v)),
    "n_test": ("a whole number", lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0),
    "layers": ("a list of layer names", lambda v: isinstance(v, list) and all(isinstance(n, str) for n in v)),
    "epochs": ("a list of whole numbers >= 0", lambda v: isinstance(v, list) and bool(v) and all(
        isinstance(e, int) and not isinstance(e, bool) and e >= 0 for e in v)),
    "weights": ("an object of epoch: hash texts", lambda v: isinstance(v, dict) and all(
        isinstance(h, str) for h in v.values())),
}


def parse_manifest(text: str, path: Path) -> dict:
    """workspace.json's content, every field checked; NNVisError naming the file and the field."""
    try:
        data = json.loads(text)
    except ValueError as error:
        raise NNVisError(f"{path} is not valid JSON ({error}); it is damaged: rerun `nnvis run` with the "
                         "workspace's arguments to rebuild it") from None
    if not isinstance(data, dict):
        raise NNVisError(f"{path} holds {type(data).__name__}, not an object; rerun `nnvis run` to rebuild it")
    for name, (allowed, ok) in MANIFEST_FIELDS.items():
        if name not in data or not ok(data[name]):
            raise NNVisError(f"{path}: field '{name}' must be {allowed}, got {json.dumps(data.get(name))[:80]}; "
                             "rerun `nnvis run` with the workspace's arguments to rebuild it")
    missing = [e for e in data["epochs"] if str(e) not in data["weights"]]
    if missing:
        raise NNVisError(f"{path}: field 'weights' has no hash for epoch(s) {missing}; rerun `nnvis run`")
    return data


def readable_manifest(workspace) -> dict:
    """The workspace's manifest, or {} when it is missing or damaged (a run then rebuilds it)."""
    try:
        return workspace.manifest() if workspace.exists() else {}
    except NNVisError:
        return {}


def state_hash(state: dict[str, torch.Tensor]) -> str:
    """The hash `nnvis.models.zoo.weights_hash` gives a model holding `state` (sha256, 16 hex)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(state.items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def verify_snapshot(path: Path, state: dict[str, torch.Tensor], expected: str | None) -> dict:
    """`state` if it has the hash recorded for it; NNVisError naming the file otherwise."""
    if expected and state_hash(state) != expected:
        raise NNVisError(f"snapshot {path} does not hold the weights recorded in workspace.json (hash "
                         f"{state_hash(state)}, recorded {expected}): it was changed or damaged; repair it with "
                         f"`nnvis check --workspace {path.parent.parent} --repair`")
    return state


def snapshots_intact(workspace, epochs: list[int], manifest: dict) -> bool:
    """Whether every snapshot of `epochs` reads back with its recorded hash."""
    return not snapshot_problems(workspace, epochs, manifest)


def snapshot_problems(workspace, epochs: list[int], manifest: dict) -> list[str]:
    """One line per snapshot that is missing, unreadable, or not the weights recorded for it."""
    from nnvis.models.zoo import read_state_dict

    problems = []
    for epoch in epochs:
        path = workspace.snapshot_path(epoch)
        try:
            verify_snapshot(path, read_state_dict(path), manifest.get("weights", {}).get(str(epoch)))
        except NNVisError as error:
            problems.append(str(error))
    return problems


def store_problems(store, remove: bool = False) -> list[str]:
    """One line per store entry that does not decode, a pickled one included (removed when `remove`).
    Rows are listed with SQL, not diskcache's iteration, which would unpickle a pickled key."""
    problems = []
    cache = store.cache
    database = store.directory / "cache.db"
    rows = []
    if database.is_file():
        connection = open_read_only(database)
        try:
            rows = connection.execute("SELECT rowid, key, raw, tag, mode FROM Cache").fetchall()
        finally:
            connection.close()
    for rowid, digest, raw, kind, mode in rows:
        if not raw or mode == MODE_PICKLE:
            problems.append(f"store entry {rowid} ({kind or 'artifact'}) is a pickle, refused unread: damaged")
            if remove:
                with cache.transact():
                    cache._sql("DELETE FROM Cache WHERE rowid = ?", (rowid,))  # no key to name it by
            continue
        try:
            blob = cache.get(digest)
        except DECODE_ERRORS:
            blob = b""
        if blob is None or (isinstance(blob, bytes) and decodes(blob)):
            continue
        problems.append(f"store entry {str(digest)[:12]} ({kind or 'artifact'}) does not decode: damaged")
        if remove:
            cache.delete(digest)
    for path in sorted((store.directory / "arrays").glob("*.npy")):
        try:
            np.asarray(load_mapped(path)[-1:])
        except DECODE_ERRORS + (IndexError,):
            problems.append(f"store array {path.name[:12]} does not read back: damaged")
            if remove:
                path.unlink()
    return problems


def check(path: str | Path, repair: bool = False) -> list[str]:
    """The workspace's problems, one line each (none: intact). With `repair`, damaged snapshots
    and store entries are removed and `nnvis run` recomputes them with the manifest's settings."""
    from nnvis.workspace.workspace import RunConfig, Workspace

    workspace = Workspace(path)
    manifest = workspace.manifest()  # a damaged manifest: NNVisError, one line naming the field
    problems = snapshot_problems(workspace, manifest["epochs"], manifest)
    problems += store_problems(workspace.store, remove=repair)
    if repair and problems:
        from nnvis.workspace.pipeline import run

        for epoch in manifest["epochs"]:
            if snapshot_problems(workspace, [epoch], manifest):
                workspace.snapshot_path(epoch).unlink(missing_ok=True)
        workspace.store.close()
        run(RunConfig.from_dict(manifest["config"]), workspace.path)
    return problems
