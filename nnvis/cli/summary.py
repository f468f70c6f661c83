"""`nnvis summary --workspace DIR [--json]`: the figures a workspace holds (accuracy, NH,
trustworthiness/continuity per layer and epoch), read from its store and never computed (nor is
torch imported: see nnvis.workspace.stored): a
figure that is not stored yet (a run still going, a run stopped early, another projection) is
listed under "missing" instead. Reading opens the store read-only, so a summary beside a running
`nnvis run` neither waits for it nor changes anything.

A complete summary is also kept beside the manifest (summary.json, with the sha256 of the
workspace.json it was read under): while the manifest is the same, `nnvis summary` prints it
without importing torch (the figures are those of the weights and settings the manifest names;
a new run rewrites the manifest, so it is read from the store again), and with the projection
path it was read under (`nnvis.projection.methods.PROJECTION_PATH`: the neighbour graph, t-SNE's
stop, UMAP's epochs): one kept by a path before is not printed as this one's."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

from nnvis.cli.choices import MANIFEST, OBSERVATIONS
from nnvis.errors import NNVisError

CACHE = "summary.json"
T_C_EXPLAINED = ("T/C: trustworthiness / continuity of the 2-D map at k neighbours (1 = every map neighbour is "
                 "a neighbour in the layer / every layer neighbour stays a neighbour on the map)")


def add_summary_command(commands) -> None:
    summary = commands.add_parser("summary", help="print a workspace's stored figures (never computes; says "
                                                  "what is missing)")
    summary.add_argument("--workspace", required=True)
    summary.add_argument("--json", action="store_true", help="one JSON object on stdout")


def command_summary(args: argparse.Namespace) -> None:
    if not (Path(args.workspace) / MANIFEST).is_file():  # before importing anything heavy
        raise NNVisError(f"{args.workspace} is not an nnvis workspace (no {MANIFEST}); create one with `nnvis run`")
    figures = cached_summary(args.workspace)
    if figures is None:
        from nnvis.cli.commands import full_summary
        from nnvis.workspace.workspace import Workspace

        figures = full_summary(Workspace(args.workspace, read_only=True))
        keep_summary(args.workspace, figures)
    if args.json:
        print(json.dumps(figures))
    else:
        print_summary(figures)
    if figures["missing"]:
        print(f"nnvis summary: {len(figures['missing'])} figure(s) not computed yet, listed under \"missing\" "
              "(a run still going or stopped early computes them when it resumes; the dashboard when shown)",
              file=sys.stderr)


def manifest_digest(workspace: str | Path) -> str:
    return hashlib.sha256((Path(workspace) / MANIFEST).read_bytes()).hexdigest()


def cached_summary(workspace: str | Path) -> dict | None:
    """The summary kept under the workspace's current manifest, or None (none kept, another
    manifest, unreadable)."""
    try:
        from nnvis.projection.methods import PROJECTION_PATH

        kept = json.loads((Path(workspace) / CACHE).read_text())
        same = kept["manifest_sha256"] == manifest_digest(workspace) and kept.get("projection_path") == PROJECTION_PATH
        return kept["figures"] if same else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def keep_summary(workspace: str | Path, figures: dict) -> None:
    """Keep a complete summary beside the manifest (atomically); a read-only folder keeps none."""
    if figures["missing"]:
        return
    path = Path(workspace) / CACHE
    tmp = path.with_name(f".{CACHE}.{os.getpid()}.tmp")
    try:
        from nnvis.projection.methods import PROJECTION_PATH

        tmp.write_text(json.dumps({"manifest_sha256": manifest_digest(workspace), "projection_path": PROJECTION_PATH,
                                   "figures": figures}))
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)


def stored_summary(analysis) -> dict:
    """Accuracy and NH ("nh": layer -> epoch -> value, the input at epoch 0) and trustworthiness
    and continuity at k = 7 and 15 (see nnvis.workspace.analysis.faithfulness_summary) of every
    view, as stored; "missing": one phrase per figure that is not in the store. Computes nothing
    (no model, no data set, no projection is loaded, torch is not imported): `analysis` is a
    nnvis.workspace.stored.StoredWorkspace (or an Analysis)."""
    from nnvis.models.names import INPUT_LAYER
    from nnvis.projection.gpu import uses_gpu_engine
    from nnvis.projection.methods import projection_note
    from nnvis.workspace import keys

    config, store, missing = analysis.config, analysis.store, []
    views = [(INPUT_LAYER, [0])] + [(layer, analysis.epochs) for layer in analysis.layers]
    accuracy = {}
    for epoch in analysis.epochs:
        found = store.get(keys.accuracy(analysis, epoch))
        if found is None:
            missing.append(f"accuracy at epoch {epoch}")
        else:
            accuracy[str(epoch)] = float(found["accuracy"])
    nh: dict = {}
    names = {"trustworthiness": ("trustworthiness", 0), "continuity": ("continuity", 0),
             "trustworthiness_k15": ("trustworthiness", 1), "continuity_k15": ("continuity", 1)}
    faithful: dict = {name: {} for name in names}
    used = None
    for layer, epochs in views:
        for epoch in epochs:
            where = f"{layer} at epoch {epoch}" if layer != INPUT_LAYER else layer
            points = store.get(analysis.projection_key(layer, epoch))
            if points is None:
                missing.append(f"{config.projection} projection (NH) of {where}")
            else:
                nh.setdefault(layer, {})[str(epoch)] = float(points["nh"].mean())
            found = store.get(analysis.faithfulness_key(layer, epoch))
            if found is None:
                missing.append(f"trustworthiness/continuity of {where}")
                continue
            used = int(found["observations"])
            for name, (measure, i) in names.items():
                faithful[name].setdefault(layer, {})[str(epoch)] = float(found[measure][i])
    return {"dataset": config.dataset, "model": config.model, "observations": config.observations,
            "subset": config.subset, "projection": config.projection, "hidden_layers": analysis.layers,
            "epochs": analysis.epochs, "accuracy": accuracy, "nh": nh, **faithful,
            "projection_path": projection_note(config.projection,
                                               gpu=uses_gpu_engine(config.projection, analysis.device)),
            "faithfulness_observations": used, "missing": missing}


def print_summary(figures: dict) -> None:
    """A human-readable table of accuracy, NH and T/C per layer and epoch, then what is missing."""
    pool = OBSERVATIONS.get(figures["observations"], figures["observations"])
    print(f"{figures['dataset']} / {figures['model']}, {figures['subset']} observations of {pool}, "
          f"{figures['projection']} projections")
    print("accuracy: " + ", ".join(f"epoch {e}: {a:.4f}" for e, a in figures["accuracy"].items()))
    print("NH: neighborhood hit, the share of each point's 6 nearest map neighbours of its own class")
    if figures.get("projection_path"):
        print(figures["projection_path"])
    for layer, by_epoch in figures["nh"].items():
        print(f"NH {layer}: " + ", ".join(f"epoch {e}: {v:.4f}" for e, v in by_epoch.items()))
    if figures.get("trustworthiness"):
        print(f"{T_C_EXPLAINED}; k = 7, on {figures['faithfulness_observations']} observations:")
        for layer, by_epoch in figures["trustworthiness"].items():
            print(f"T/C {layer}: " + ", ".join(f"epoch {e}: {v:.4f}/{figures['continuity'][layer][e]:.4f}"
                                            for e, v in by_epoch.items()))
    for what in figures["missing"]:
        print(f"not computed yet: {what}")
